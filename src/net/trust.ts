/**
 * Trust lists: which addresses are proxies of ours.
 *
 * The list is compiled once into two prefix tries (IPv4 and IPv6) that read an address a byte at a
 * time, so a lookup costs at most 4 steps (16 for IPv6) whatever the size of the list. Entries and
 * requests' addresses are read by the same strict textual rules (./address.ts) and turned into
 * numbers by hand: a text that two parsers read differently would make the check and the use
 * disagree. (ipaddr.js reads netmasks only.)
 *
 * IPv4 and IPv6 meet in one place only: `::ffff:a.b.c.d`, the form in which a dual-stack socket
 * reports an IPv4 peer. Such an address is matched as the IPv4 address it stands for, and an IPv6
 * range trusts IPv4 addresses only where it lies inside `::ffff:0:0/96`. So `::/1` trusts no IPv4
 * address, `::ffff:10.0.0.0/8` (a /8 of IPv6, not of IPv4) is refused as a likely mistake, and so is
 * the deprecated `::a.b.c.d`, which some parsers read as IPv4 and this one as the IPv6 address it is.
 */
import ipaddr from 'ipaddr.js';
import { configError, describe } from '../options.js';
import { ipv4Number, ipv6Words, isIPv4Address, isIPv4Mapped, isIPv6Address } from './address.js';

/** Decides whether the proxy at `addr` is trusted; `hop` is 0 for the socket peer, 1 for the next. */
export type TrustPredicate = (addr: string, hop: number) => boolean;

/**
 * What `trusted` accepts: a predicate, or a list (an array, or one comma-separated string) of
 * addresses (`10.0.0.1`), CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`), netmasks
 * (`10.0.0.0/255.0.0.0`) and named ranges (`loopback`, `private`, `uniquelocal`, `linklocal`).
 */
export type TrustInput = TrustPredicate | string | readonly string[];

/** The named ranges. `uniquelocal` is proxy-addr's name for the same ranges as `private`. */
export const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Slot values in a trie node: no range here, or a range covers every address through this slot. */
const EMPTY = 0;
const COVERED = -1;

/**
 * A trie that reads an address one byte at a time: at most 4 steps for IPv4 and 16 for IPv6, however
 * many ranges it holds. Nodes are 256 slots in one Int32Array; a slot is EMPTY, COVERED, or the index
 * of a child node. A range whose length is not a whole number of bytes covers a run of slots.
 */
class PrefixTrie {
  #slots = new Int32Array(256 * 16);
  #nodes = 1;

  /** Add the range of `words` (32-bit unsigned words, most significant first) up to `bits` bits. */
  add(words: readonly number[], bits: number): void {
    let node = 0;
    let byte = 0;
    // Walk the whole bytes above the last, partly or wholly covered one.
    for (; (byte + 1) * 8 < bits; byte++) {
      const slot = node * 256 + byteAt(words, byte);
      const child = this.#slots[slot]!;
      if (child === COVERED) return; // a wider range already covers this one
      node = child === EMPTY ? this.#grow(slot) : child;
    }
    const spare = bits === 0 ? 8 : byte * 8 + 8 - bits;
    const first = node * 256 + (bits === 0 ? 0 : (byteAt(words, byte) >>> spare) << spare);
    this.#slots.fill(COVERED, first, first + (1 << spare));
  }

  #grow(slot: number): number {
    if ((this.#nodes + 1) * 256 > this.#slots.length) {
      const bigger = new Int32Array(this.#slots.length * 2);
      bigger.set(this.#slots);
      this.#slots = bigger;
    }
    const child = this.#nodes++;
    this.#slots[slot] = child;
    return child;
  }

  /** Whether the ranges together cover every address: no slot of any node reached is EMPTY. */
  coversAll(node = 0): boolean {
    for (let slot = node * 256; slot < node * 256 + 256; slot++) {
      const next = this.#slots[slot]!;
      if (next === EMPTY || (next !== COVERED && !this.coversAll(next))) return false;
    }
    return true;
  }

  /** Whether a range covers the address given as 32-bit words. */
  has(words: readonly number[]): boolean {
    const slots = this.#slots;
    const length = words.length * 4;
    let byte = 0;
    let next = slots[byteAt(words, 0)]!;
    // A child index is positive; EMPTY and COVERED end the walk.
    while (next > 0 && byte < length - 1) {
      byte++;
      next = slots[next * 256 + byteAt(words, byte)]!;
    }
    return next === COVERED;
  }

  /** The same for one IPv4 address as a number, without allocating. */
  hasIPv4(address: number): boolean {
    const slots = this.#slots;
    let shift = 24;
    let next = slots[address >>> 24]!;
    while (next > 0 && shift > 0) {
      shift -= 8;
      next = slots[next * 256 + ((address >>> shift) & 255)]!;
    }
    return next === COVERED;
  }
}

function byteAt(words: readonly number[], i: number): number {
  return (words[i >>> 2]! >>> (24 - 8 * (i & 3))) & 255;
}

/**
 * Compile `trusted` into one matcher. Throws a `TypeError` naming the entry (`trusted[2]`) for
 * anything that is not a valid entry: zone ids (`fe80::1%eth0`), the IPv4-compatible notation
 * (`::a.b.c.d`), and a list that trusts every IPv4 or every IPv6 address are refused.
 *
 * @example
 * const isProxy = compileTrust(['loopback', '10.0.0.0/8']);
 * isProxy('10.1.2.3', 0); // true
 * isProxy('::ffff:10.1.2.3', 0); // true: Node's dual-stack form of 10.1.2.3
 */
export function compileTrust(trusted: TrustInput, option = 'trusted'): TrustPredicate {
  return compileTrustMatcher(trusted, option).test;
}

/**
 * `trusted` compiled: `test` is what `compileTrust` returns; `ipv4` is the same check of an IPv4
 * address already read as a number (`ipv4Number`), for a per-request path that has parsed it
 * once already. A predicate has no `ipv4`: it is given the text.
 */
export interface TrustMatcher {
  test: TrustPredicate;
  ipv4: ((address: number) => boolean) | undefined;
}

/** `compileTrust`, with the IPv4 check by number as well. */
export function compileTrustMatcher(trusted: TrustInput, option = 'trusted'): TrustMatcher {
  if (typeof trusted === 'function') {
    return { ipv4: undefined, test: (addr, hop) => {
      try {
        return trusted(addr, hop) === true;
      } catch {
        // Request data must never make a middleware throw; a predicate that fails trusts nothing.
        return false;
      }
    } };
  }
  let entries: readonly unknown[];
  if (typeof trusted === 'string') {
    entries = trusted.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  } else if (Array.isArray(trusted)) {
    entries = trusted;
  } else {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
      `must be a list of addresses, CIDR ranges and named ranges, or a function; got ${describe(trusted)}`);
  }
  const v4 = new PrefixTrie();
  const v6 = new PrefixTrie();
  entries.forEach((entry, i) => {
    const name = typeof trusted === 'string' ? `${option} entry ${JSON.stringify(entry)}` : `${option}[${i}]`;
    if (typeof entry !== 'string') {
      throw configError('ERR_PROXYFIX_TRUST_ENTRY', name, `must be a string, got ${describe(entry)}`);
    }
    const ranges = NAMED_RANGES[entry.toLowerCase()] ?? [entry];
    for (const range of ranges) addRange(range, name, v4, v6);
    // A list that trusts every address trusts the client too: a walk would then take the leftmost,
    // client-written value. Checked per entry to name the one that completes the coverage.
    const all = v4.coversAll() ? 'IPv4' : v6.coversAll() ? 'IPv6' : undefined;
    if (all !== undefined) {
      throw configError('ERR_PROXYFIX_TRUST_ENTRY', name,
        `${JSON.stringify(entry)} makes the list trust every ${all} address, clients included. List your proxies; ` +
        'to believe the counts without checking addresses, as Werkzeug does, leave out `trusted`');
    }
  });
  return {
    test: (addr) => {
      const address = ipv4Number(addr);
      if (address !== -1) return v4.hasIPv4(address);
      if (!isIPv6Address(addr)) return false;
      const words = ipv6Words(addr);
      if (isIPv4Mapped(words)) return v4.hasIPv4(words[3]!);
      return v6.has(words);
    },
    ipv4: (address) => v4.hasIPv4(address),
  };
}

function addRange(range: string, name: string, v4: PrefixTrie, v6: PrefixTrie): void {
  const bad = (why: string) =>
    configError('ERR_PROXYFIX_TRUST_ENTRY', name, `${JSON.stringify(range)} ${why}`);
  if (range.includes('%')) throw bad('has a zone id: zones name an interface, not a proxy; leave it out');
  const slash = range.indexOf('/');
  const address = slash === -1 ? range : range.slice(0, slash);
  const mask = slash === -1 ? '' : range.slice(slash + 1);
  if (isIPv4Address(address)) {
    let bits = 32;
    if (slash !== -1) {
      if (/^\d{1,2}$/.test(mask) && Number(mask) <= 32) bits = Number(mask);
      else if (isIPv4Address(mask) && ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask() !== null) {
        bits = ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask()!;
      } else {
        throw bad('has a mask that is neither a prefix length from 0 to 32 nor a contiguous netmask');
      }
    }
    v4.add([ipv4Number(address)], bits);
    return;
  }
  if (!isIPv6Address(address)) {
    throw bad('is neither an IP address, a CIDR range nor one of loopback, private, uniquelocal, linklocal ' +
      '(IPv4 is written as four decimal numbers without leading zeros)');
  }
  let bits = 128;
  if (slash !== -1) {
    if (!/^\d{1,3}$/.test(mask) || Number(mask) > 128) throw bad('has a prefix length that is not from 0 to 128');
    bits = Number(mask);
  }
  // Parsed by the same function as a request's address, so that an entry and a request can never
  // read one text differently (ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`).
  const words = ipv6Words(address);
  const mapped = isIPv4Mapped(words);
  if (!mapped && address.includes('.') && words[0] === 0 && words[1] === 0 && words[2] === 0) {
    throw bad('is in the deprecated IPv4-compatible notation (::a.b.c.d), which other parsers read as IPv4 and this one as ' +
      'the IPv6 address it is; write an IPv4 address as a.b.c.d or ::ffff:a.b.c.d');
  }
  if (mapped && bits >= 96) {
    v4.add([words[3]!], bits - 96);
  } else if (mapped) {
    const v4 = [24, 16, 8, 0].map((shift) => (words[3]! >>> shift) & 255).join('.');
    throw bad('is an IPv4-mapped address with a prefix shorter than 96, so it covers far more than IPv4 ' +
      `(proxy-addr's CVE-2026-90711); write ${v4}/${bits} or ::ffff:${v4}/${bits + 96}`);
  } else {
    v6.add(words, bits);
  }
}


/**
 * Whether a request's socket peer is one of the trusted proxies. A peer with no address (`''`: a
 * Unix socket) has nothing to match, so it is trusted only when `trustUnixSocket` says so.
 * Every middleware that trusts the peer asks this, and asks it of the original peer, never of a
 * client address a fixer wrote.
 */
export function compilePeerTrust(trusts: TrustPredicate, trustUnixSocket: boolean, ipv4?: TrustMatcher['ipv4']): (peer: string) => boolean {
  return (peer) => {
    if (peer === '') return trustUnixSocket;
    if (ipv4 !== undefined) {
      // An IPv4 peer, the usual one, read once: digits and dots only, so no zone either.
      const address = ipv4Number(peer);
      if (address !== -1) return ipv4(address);
    }
    // Node reports a link-local peer with its zone (`fe80::1%eth0`): the zone names this host's
    // interface, not the peer, so the peer is matched without it. Header values keep no zone.
    const zone = peer.indexOf('%');
    return trusts(zone === -1 ? peer : peer.slice(0, zone), 0);
  };
}
