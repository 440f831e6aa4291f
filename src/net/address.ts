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

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True for a dotted-quad IPv4 address with no leading zeros. */
export function isIPv4Address(value: string): boolean {
  return IPV4.test(value);
}

/** True for an IPv6 address without a zone id. */
export function isIPv6Address(value: string): boolean {
  // node accepts `fe80::1%eth0`; a zone names an interface of the sender's host, not a client.
  return value.indexOf('%') === -1 && isIPv6(value);
}

/** True for an address no client can have as its source: `0.0.0.0` and `::`. */
function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || /^[0:]+$/.test(address);
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
