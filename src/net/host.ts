/**
 * Host values as `X-Forwarded-Host` carries them: a name or an IP literal, and an optional port.
 *
 * Strict on purpose: a forwarded host ends up in redirects, absolute links and cache keys, so a value
 * with a slash, an `@`, a space or a quote in it (password-reset poisoning, cache poisoning) is
 * refused rather than passed on. Names are letters, digits, `-`, `_` and dots, 253 characters at most;
 * a name whose last label is a number must be a plain dotted-quad IPv4 address.
 */
import { isIPv4Address, isIPv6Address } from './address.js';
import { parsePort } from './port.js';

export interface ParsedHost {
  /** The whole value, as it goes into `host`: `example.com:8443`, `[2001:db8::1]`. */
  host: string;
  /** The name part, as it goes into `serverName`; IPv6 literals keep their brackets. */
  name: string;
  /** `""` when the value had no port. */
  port: string;
}

const DOT = 46;

/**
 * True for a host name or IPv4 literal (no port): labels of letters, digits, `-` and `_` joined by
 * single dots, an optional trailing dot, 253 characters at most. Read in one pass by hand: this
 * runs for every forwarded host and port (test/net-hand-parsers.ts holds it to the patterns
 * `/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/` and, for the last label, `/(?:^|\.)(?:0x[0-9a-f]*|\d+)\.?$/i`).
 */
export function isHostName(name: string): boolean {
  const length = name.length;
  if (length === 0 || length > 253) return false;
  const end = name.charCodeAt(length - 1) === DOT ? length - 1 : length;
  let label = 0;
  for (let i = 0; i < end; i++) {
    const code = name.charCodeAt(i);
    if (code === DOT) {
      if (i === label) return false;
      label = i + 1;
    } else if (!isNameChar(code)) {
      return false;
    }
  }
  if (label === end) return false;
  // A last label that URL parsers read as a number (`example.0x1`, `10.1`, `010.0.0.1` are IPv4 to
  // them) must be a plain IPv4 address: browsers would read it differently from an allow-list.
  return !isNumericLabel(name, label, end) || isIPv4Address(end === length ? name : name.slice(0, end));
}

/** Letters, digits, `-` and `_`. */
function isNameChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || code === 0x2d || code === 0x5f;
}

/** Decimal digits, or `0x` and hex digits (none at all included), in any case. */
function isNumericLabel(name: string, start: number, end: number): boolean {
  let i = start;
  let hex = false;
  if (end - start >= 2 && name.charCodeAt(start) === 0x30 && (name.charCodeAt(start + 1) | 0x20) === 0x78) {
    hex = true;
    i += 2;
  }
  for (; i < end; i++) {
    const code = name.charCodeAt(i);
    const digit = code >= 0x30 && code <= 0x39;
    if (!digit && !(hex && (code | 0x20) >= 0x61 && (code | 0x20) <= 0x66)) return false;
  }
  return true;
}

/** Parse a host with an optional port; `undefined` when it is not a valid one. */
export function parseHost(value: string): ParsedHost | undefined {
  let name: string;
  let port = '';
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close === -1 || !isIPv6Address(value.slice(1, close))) return undefined;
    name = value.slice(0, close + 1);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 58 /* : */) return undefined;
      port = rest.slice(1);
      if (parsePort(port) === undefined) return undefined;
    }
  } else {
    const colon = value.indexOf(':');
    name = colon === -1 ? value : value.slice(0, colon);
    if (!isHostName(name)) return undefined;
    if (colon !== -1) {
      port = value.slice(colon + 1);
      if (parsePort(port) === undefined) return undefined;
    }
  }
  return { host: value, name, port };
}
