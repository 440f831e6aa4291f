/**
 * Path prefixes as `X-Forwarded-Prefix` carries them: the public path the app is mounted under.
 *
 * A prefix ends up at the front of every URL the app builds, redirects included, so only a clean
 * absolute path is accepted: `//evil.example` and `/\evil.example` are read as another host by
 * browsers, `..` segments and encoded slashes or dots climb out of the mount, and control characters
 * split headers. Trailing slashes are dropped: `scriptName` never ends with one.
 */

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;

/**
 * The prefix without trailing slashes (`"/"` gives `""`), or `undefined` when it is not clean: not
 * starting with `/`, a `//`, a character outside RFC 3986 `pchar` and `/`, a `%` not followed by two
 * hex digits or encoding `/`, `\`, `.` or a control character, or a `.` or `..` segment. Read in one
 * pass by hand, as it runs for every forwarded prefix (test/net-hand-parsers.ts holds it to the
 * patterns it replaced).
 */
export function parsePrefix(value: string): string | undefined {
  if (value.charCodeAt(0) !== SLASH) return undefined;
  let segment = 1;
  for (let i = 1; i <= value.length; i++) {
    const code = i === value.length ? SLASH : value.charCodeAt(i);
    if (code === SLASH) {
      if (i === segment && i !== value.length) return undefined;
      if (isDots(value, segment, i)) return undefined;
      segment = i + 1;
    } else if (code === PERCENT) {
      if (!isCleanEscape(value.charCodeAt(i + 1), value.charCodeAt(i + 2))) return undefined;
      i += 2;
    } else if (!isPathChar(code)) {
      return undefined;
    }
  }
  return value.charCodeAt(value.length - 1) === SLASH ? value.slice(0, -1) : value;
}

/** Whether the segment from `start` to `end` is `.` or `..`. */
function isDots(value: string, start: number, end: number): boolean {
  const length = end - start;
  return (length === 1 || length === 2) && value.charCodeAt(start) === DOT && value.charCodeAt(end - 1) === DOT;
}

/** RFC 3986 `pchar` and `/`, `%` aside: unreserved, sub-delims, `:` and `@`. */
function isPathChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x26 && code <= 0x3b) || (code >= 0x40 && code <= 0x5a) ||
    code === 0x5f || code === 0x7e || code === 0x21 || code === 0x24 || code === 0x3d;
}

/** Two hex digits that encode none of `/`, `\`, `.` and the control characters. */
function isCleanEscape(high: number, low: number): boolean {
  if (!isHex(high) || !isHex(low)) return false;
  const lowered = low | 0x20;
  if (high === 0x30 || high === 0x31) return false;
  if (high === 0x32) return lowered !== 0x65 && lowered !== 0x66;
  if (high === 0x35) return lowered !== 0x63;
  if (high === 0x37) return lowered !== 0x66;
  return true;
}

function isHex(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66);
}
