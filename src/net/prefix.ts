/**
 * Path prefixes as `X-Forwarded-Prefix` carries them: the public path the app is mounted under.
 *
 * A prefix ends up at the front of every URL the app builds, redirects included, so only a clean
 * absolute path is accepted: `//evil.example` and `/\evil.example` are read as another host by
 * browsers, `..` segments and encoded slashes or dots climb out of the mount, and control characters
 * split headers. Trailing slashes are dropped: `scriptName` never ends with one.
 */

/** Characters of RFC 3986 `pchar` (without `%`, handled apart) and `/`. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
/** `%` not followed by two hex digits, or encoding `/`, `\`, `.` or a control character. */
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})|%(?:2[EeFf]|5[Cc]|[01][0-9A-Fa-f]|7[Ff])/;

/** The prefix without trailing slashes (`"/"` gives `""`), or `undefined` when it is not clean. */
export function parsePrefix(value: string): string | undefined {
  if (value.charCodeAt(0) !== 47 /* / */ || value.includes('//') || !PATH_CHARS.test(value) ||
      BAD_ESCAPE.test(value)) {
    return undefined;
  }
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 47) end--;
  const prefix = value.slice(0, end);
  // With `//` refused above, segments are never empty; none may be `.` or `..` either.
  const segments = prefix.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '.' || segment === '..') return undefined;
  }
  return prefix;
}
