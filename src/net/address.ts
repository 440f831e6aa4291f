/**
 * Client addresses as proxies report them: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
 * `[2001:db8::1]`, `[2001:db8::1]:4711`.
 *
 * Only the canonical textual forms are accepted. ipaddr.js and some C libraries also read
 * `010.0.0.1` (octal), `0xa000001` and `10.1`; a value that different parsers read differently is a
 * way to make a check and a use disagree, so such values are refused.
 */
import { isIPv6 } from 'node:net';
import { parsePort } from './port.js';

export interface ReportedAddress {
  /** Without brackets or port. */
  address: string;
  /** `""` when the value carried none. */
  port: string;
}

/** The address as an unsigned 32-bit number for a strict dotted quad, else -1; allocates nothing. */
export function ipv4Number(addr: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < addr.length; i++) {
    const code = addr.charCodeAt(i);
    if (code === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      const digit = code - 48;
      if (digit < 0 || digit > 9 || (digits === 1 && part === 0)) return -1;
      part = part * 10 + digit;
      if (part > 255) return -1;
      digits++;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** True for a dotted-quad IPv4 address with no leading zeros. */
export function isIPv4Address(value: string): boolean {
  return ipv4Number(value) !== -1;
}

/** True for an IPv6 address without a zone id. */
export function isIPv6Address(value: string): boolean {
  // node accepts `fe80::1%eth0`; a zone names an interface of the sender's host, not a client.
  return value.indexOf('%') === -1 && isIPv6(value);
}

/** True for an address no client can have as its source: `0.0.0.0` and `::` (in any spelling). */
function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || (address.includes(':') && /^[0:]+$/.test(address));
}

/** Parse a reported client address, with or without a port; `undefined` when it is not one. */
export function parseAddress(value: string): ReportedAddress | undefined {
  let address = value;
  let port = '';
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close === -1) return undefined;
    address = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 58 /* : */ || parsePort(rest.slice(1)) === undefined) return undefined;
      port = rest.slice(1);
    }
    if (!isIPv6Address(address)) return undefined;
  } else if (isIPv4Address(value)) {
    // the common case first: no port
  } else {
    const colon = value.indexOf(':');
    if (colon !== -1 && colon === value.lastIndexOf(':')) {
      address = value.slice(0, colon);
      port = value.slice(colon + 1);
      if (!isIPv4Address(address) || parsePort(port) === undefined) return undefined;
    } else if (!isIPv6Address(value)) {
      return undefined;
    }
  }
  if (isUnspecified(address)) return undefined;
  return { address, port };
}
