/**
 * The proxyFix options a chain calls for, worked out from what the proxies were seen to write, and
 * the options in force, read back from the probe's answer.
 *
 * The rule is Werkzeug's: a count is the number of proxies that set the header. The check sees
 * that number directly: in a plain request every value of a forwarding header was written by a
 * proxy. A header whose proxy keeps a client's value, or that no proxy sets, gets 0 whatever
 * else is true: reading it would read the client.
 */
import type { ProbeAnswer } from '../middleware/probe.js';
import type { ProxyFixOptions } from '../middleware/proxy-fix/options.js';
import { parseAddress } from '../net/address.js';
import { parseNode } from '../net/forwarded.js';

/** The counting options, as proxyFix spells them. */
export type CountOptions = Pick<ProxyFixOptions, 'xFor' | 'xProto' | 'xHost' | 'xPort' | 'xPrefix' | 'forwarded'>;

export type Family = 'x-forwarded' | 'forwarded';

/** The options in force, as far as the answer tells them. */
export interface CurrentOptions {
  family: Family;
  /** Every counting option, 0 where unset; `Infinity` where a walk is bounded only by trust. */
  counts: Required<CountOptions>;
  /** Whether a trust list is configured. */
  trusted: boolean;
  /** Where they were read: the trace, or the probe's `options` (when no trace came). */
  source: 'trace' | 'options';
}

/** Options the check recommends: counts, and the trust list when one is in use. */
export type RecommendedOptions = CountOptions & { trusted?: string[]; trustUnixSocket?: true };

const ZERO: Required<CountOptions> = { xFor: 0, xProto: 0, xHost: 0, xPort: 0, xPrefix: 0, forwarded: 0 };

/** A count as the answer carries it: `null` (JSON's Infinity in a trace) or `"Infinity"` (in `options`). */
function countOf(value: unknown): number {
  if (value === null || value === 'Infinity') return Infinity;
  return typeof value === 'number' ? value : 0;
}

/** The options in force: from the trace when there is one, else from what the probe was told; `undefined` if neither. */
export function currentOptions(answer: ProbeAnswer): CurrentOptions | undefined {
  const { trace, options } = answer;
  if (trace !== null) {
    const counts = { ...ZERO };
    for (const field of trace.fields) {
      if (field.outcome !== 'family-not-chosen') counts[field.option as keyof CountOptions] = countOf(field.count);
    }
    return { family: trace.family, counts, trusted: trace.peerTrusted !== null, source: 'trace' };
  }
  if (options === null) return undefined;
  // The defaults proxyFix applies: one proxy for address and scheme, unless Forwarded is read.
  const forwarded = countOf(options.forwarded);
  const family: Family = forwarded > 0 ? 'forwarded' : 'x-forwarded';
  const fallback = family === 'forwarded' ? 0 : 1;
  const counts = {
    xFor: options.xFor === undefined ? fallback : countOf(options.xFor),
    xProto: options.xProto === undefined ? fallback : countOf(options.xProto),
    xHost: countOf(options.xHost),
    xPort: countOf(options.xPort),
    xPrefix: countOf(options.xPrefix),
    forwarded,
  };
  return { family, counts, trusted: options.trusted !== undefined, source: 'options' };
}

/** What a trust list needs: the proxies' addresses, from the edge to the app's peer. */
export interface ProxyAddresses {
  /** The app's socket peer: the proxy nearest the app; `''` for a Unix socket. */
  peer: string;
  /** The for-values naming the other proxies (Forwarded: the `for` parameters, unquoted), deepest (the edge) first. */
  named: string[];
}

/** An address as a trust list spells it: no brackets or port, an IPv4-mapped IPv6 address as IPv4. */
function listed(value: string, family: Family): string | undefined {
  let address: string | undefined;
  if (family === 'forwarded') {
    const node = parseNode(value);
    address = node?.kind === 'address' ? node.address : undefined;
  } else {
    address = parseAddress(value)?.address;
  }
  return address?.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}

/**
 * The recommended options for `counts` of `family`, in the order the samples write them. xFor and
 * xProto are written even when 0 (their default is 1); with a trust list in use, the addresses
 * the check saw are the list.
 */
export function recommendedOptions(family: Family, counts: Required<CountOptions>, trust: ProxyAddresses | undefined): RecommendedOptions {
  const options: RecommendedOptions = {};
  if (family === 'x-forwarded') {
    options.xFor = counts.xFor;
    options.xProto = counts.xProto;
    if (counts.xHost > 0) options.xHost = counts.xHost;
    if (counts.xPort > 0) options.xPort = counts.xPort;
  }
  if (counts.xPrefix > 0) options.xPrefix = counts.xPrefix;
  if (family === 'forwarded') options.forwarded = counts.forwarded;
  if (trust !== undefined) {
    // The peer is a socket address, written as an X-Forwarded-For value would be.
    const addresses = [...trust.named.map((value) => listed(value, family)), listed(trust.peer, 'x-forwarded')]
      .filter((address) => address !== undefined);
    options.trusted = [...new Set(addresses)];
    if (trust.peer === '') options.trustUnixSocket = true;
  }
  return options;
}

/** An option's value as the samples write it: `2`, `'127.0.0.1'`, `['127.0.0.1']`. */
export function formatValue(value: unknown): string {
  return Array.isArray(value) ? `[${value.map(formatValue).join(', ')}]` : typeof value === 'string' ? `'${value}'` : String(value);
}

/** `{ xFor: 2, xProto: 1, trusted: ['127.0.0.1'] }`, as the samples and the README write options. */
export function formatOptions(options: object): string {
  return `{ ${Object.entries(options).map(([key, value]) => `${key}: ${formatValue(value)}`).join(', ')} }`;
}

/** The `proxyfix serve` flags for `options`: `--x-for 2 --x-proto 1 --trusted 127.0.0.1`. */
export function serveFlags(options: RecommendedOptions): string[] {
  return Object.entries(options).flatMap(([key, v]) => {
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (v === true) return [flag];
    return [flag, Array.isArray(v) ? v.join(',') : String(v)];
  });
}

/** The flags as a shell takes them: a word with anything but plain characters in it (an empty list) quoted. */
export function serveCommand(flags: readonly string[]): string {
  const word = (flag: string) => /^[\w.,:/=@%+-]+$/.test(flag) ? flag : `'${flag.replaceAll("'", "'\\''")}'`;
  return ['proxyfix serve', ...flags.map(word)].join(' ');
}
