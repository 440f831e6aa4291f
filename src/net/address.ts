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

/**
 * The address as an unsigned 32-bit number for a strict dotted quad (four decimal numbers of 0 to
 * 255, no leading zeros, nothing else), else -1; allocates nothing. Read a part at a time rather
 * than a character at a time: this runs several times on every request (the peer, each hop), and
 * test/net-hand-parsers.ts holds it to a plain character-by-character reading.
 */
export function ipv4Number(addr: string): number {
  // Every read is within the text: reading past its end makes the engine give up its fast code.
  const length = addr.length;
  let value = 0;
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i === length || addr.charCodeAt(i) !== 46 /* . */) return -1;
      i++;
    }
    if (i === length) return -1;
    let digit = addr.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    let number = digit;
    i++;
    // A leading 0 is the whole part: `010` is refused by the dot or end expected next.
    if (number !== 0 && i < length) {
      digit = addr.charCodeAt(i) - 48;
      if (digit >= 0 && digit <= 9) {
        number = number * 10 + digit;
        i++;
        if (i < length) {
          digit = addr.charCodeAt(i) - 48;
          if (digit >= 0 && digit <= 9) {
            number = number * 10 + digit;
            i++;
            if (number > 255) return -1;
          }
        }
      }
    }
    value = value * 256 + number;
  }
  return i === length ? value : -1;
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

/** Four 32-bit words of an IPv6 address already known to be valid (embedded IPv4 included). */
export function ipv6Words(addr: string): number[] {
  const gap = addr.indexOf('::');
  const head = groupsOf(gap === -1 ? addr : addr.slice(0, gap));
  const tail = gap === -1 ? [] : groupsOf(addr.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2) words.push(((all[i]! << 16) | all[i + 1]!) >>> 0);
  return words;
}

/** The 16-bit groups of one side of `::`; a trailing dotted quad gives two. */
function groupsOf(text: string): number[] {
  if (text === '') return [];
  const groups: number[] = [];
  for (const part of text.split(':')) {
    if (part.includes('.')) {
      const v4 = ipv4Number(part);
      groups.push(v4 >>> 16, v4 & 0xffff);
    } else {
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

/** Whether IPv6 `words` are an IPv4-mapped address, `::ffff:a.b.c.d`: the one form that stands for IPv4. */
export function isIPv4Mapped(words: readonly number[]): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

/** The only characters the unspecified address can be spelled with, `::ffff:0:0` included. */
const ZEROS_AND_FS = /^[0:.fF]+$/;

/**
 * True for an address no client can have as its source: `0.0.0.0`, `::`, and the same value in any
 * other spelling (`::0.0.0.0`, `0:0::0`, `::ffff:0.0.0.0`, `::ffff:0:0`). Decided on the number, not
 * the text, so that no spelling slips through.
 */
function isUnspecified(address: string): boolean {
  if (!address.includes(':')) return ipv4Number(address) === 0;
  if (!ZEROS_AND_FS.test(address)) return false;
  const words = ipv6Words(address);
  return words[3] === 0 && words[0] === 0 && words[1] === 0 && (words[2] === 0 || words[2] === 0xffff);
}

/** Parse a reported client address, with or without a port; `undefined` when it is not one. */
export function parseAddress(value: string): ReportedAddress | undefined {
  // The common case first, in one pass over the text: an IPv4 address without a port.
  const v4 = ipv4Number(value);
  if (v4 !== -1) return v4 === 0 ? undefined : { address: value, port: '' };
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
