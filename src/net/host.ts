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

const NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;
/** A last label that URL parsers read as a number: `example.0x1`, `10.1`, `010.0.0.1` are IPv4 to them. */
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:0x[0-9a-f]*|\d+)\.?$/i;

/** True for a host name or IPv4 literal (no port). */
export function isHostName(name: string): boolean {
  if (name.length > 253 || !NAME.test(name)) return false;
  // Browsers would read these as IPv4 addresses, differently from the name an allow-list saw.
  return !NUMERIC_LAST_LABEL.test(name) || isIPv4Address(name.endsWith('.') ? name.slice(0, -1) : name);
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
