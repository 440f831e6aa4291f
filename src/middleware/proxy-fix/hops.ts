/**
 * Hops: what each proxy on the way reported, counted from the right, where proxies append.
 *
 * Both header families are a list of hops. `X-Forwarded-For: a, b` has two, one value each;
 * `Forwarded: for=a;proto=https, for=b` has two elements, each reporting several fields at once.
 * `HopSource` is that common shape, so the per-field loop and the trust walk never ask which
 * family they read. Each source reads only as far left as it is asked: a client that sends a long
 * header costs what the trusted hops need. The per-request path (resolve.ts's `decide`) keeps
 * HopSource for Forwarded elements, worth keeping once parsed, and reads X-Forwarded-* values in
 * place, where a reader and a list per header cost more than reading the value again.
 */
import { ForwardedFromRight, parseNode, type ForwardedElement, type ForwardedNode } from '../../net/forwarded.js';
import { ipv4Number, parseAddress, type ReportedAddress } from '../../net/address.js';
import { commaBefore, isBlank, ListFromRight, trimmedItem } from '../../net/list.js';
import type { ForwardedField, HopTrace } from '../../trace.js';
import type { TrustPredicate } from '../../net/trust.js';
import type { GatewayEnv } from '../../gateway.js';

/**
 * Why a hop gives no value for a field: its element does not parse, or it lacks the parameter.
 * Symbols, so that no header value can be mistaken for one.
 */
const MALFORMED = Symbol('malformed');
const NO_PARAMETER = Symbol('no-parameter');
type NoValue = typeof MALFORMED | typeof NO_PARAMETER;

/**
 * What tells the two header families apart, once per family rather than per request: how a
 * header splits into hops, what a hop reports for a field, and how a reported client is parsed.
 */
export interface HopFamily<Hop = unknown> {
  /** What the trace calls the hops: `values` or `elements`. */
  readonly unit: 'values' | 'elements';
  open(header: string): { next(): Hop | undefined };
  /** What `hop` reports for `field`, or why it reports nothing. */
  reported(hop: Hop, field: ForwardedField): string | NoValue;
  /** A reported client (`for`) value as a node: an address, `unknown` or an obfuscated name; `undefined` when invalid. */
  parseClient(value: string): ForwardedNode | undefined;
}

/** `X-Forwarded-*`: one value per hop, and a client is an address. */
export const VALUES: HopFamily<string> = {
  unit: 'values',
  open: (header) => new ListFromRight(header),
  reported: (hop) => hop,
  parseClient(value) {
    const address = parseAddress(value);
    return address === undefined ? undefined : { kind: 'address', address: address.address, port: address.port };
  },
};

/** `Forwarded`: one element per hop, reporting several fields at once; a client may be hidden. */
export const ELEMENTS: HopFamily<ForwardedElement> = {
  unit: 'elements',
  open: (header) => new ForwardedFromRight(header),
  reported(hop, field) {
    if (hop.params === undefined) return MALFORMED;
    return hop.params[field] ?? NO_PARAMETER;
  },
  parseClient: parseNode,
};

/**
 * One header's hops in one request, parsed from the right as far as asked and kept, so that the
 * trust walk and the fields that read the same header parse each hop once. The rightmost hop has
 * a field of its own: most deployments read no other, and an array per header per request was
 * most of the cost of reading one value.
 */
export class HopSource<Hop = unknown> {
  readonly family: HopFamily<Hop>;
  readonly #reader: { next(): Hop | undefined };
  #count = 0;
  #first: Hop | undefined;
  #more: Hop[] | undefined;

  constructor(family: HopFamily<Hop>, header: string) {
    this.family = family;
    this.#reader = family.open(header);
  }

  /** How many hops there are, counting no further than `depth`. */
  depthUpTo(depth: number): number {
    while (this.#count < depth) {
      const hop = this.#reader.next();
      if (hop === undefined) break;
      if (this.#count === 0) this.#first = hop;
      else (this.#more ??= []).push(hop);
      this.#count++;
    }
    return Math.min(depth, this.#count);
  }

  /** What hop `depth` (1 is the rightmost; at most `depthUpTo`'s answer) reports for `field`. */
  valueAt(depth: number, field: ForwardedField): string | NoValue {
    return this.family.reported(depth === 1 ? this.#first! : this.#more![depth - 2]!, field);
  }
}

/** The hops of `read.header` in one request; `undefined` when it is absent or blank. */
export function hopsOf(env: GatewayEnv, read: { header: string; hops: HopFamily }): HopSource | undefined {
  return hopsIn(env.headers[read.header], read.hops);
}

/** The hops of a header already looked up; `undefined` when it is absent or blank. */
export function hopsIn(header: string | undefined, family: HopFamily): HopSource | undefined {
  return isBlank(header) ? undefined : new HopSource(family, header!);
}

/**
 * How many hops deep a value may be read, the peer being trusted: 1 (the value the peer wrote)
 * plus one for each hop leftwards whose reported client is a valid, trusted address, up to
 * `maxCount`. Records each hop looked at in `walk`.
 */
export function trustedHops(source: HopSource | undefined, trusts: TrustPredicate, maxCount: number, walk: HopTrace[] | undefined): number {
  let depth = 1;
  while (source !== undefined && depth < maxCount && source.depthUpTo(depth) === depth) {
    const value = source.valueAt(depth, 'for');
    // A malformed element, or one without `for`, names no proxy to trust: the walk stops there.
    if (typeof value !== 'string') break;
    const node = source.family.parseClient(value);
    const trusted = node?.kind === 'address' && trusts(node.address, depth);
    walk?.push({ depth, value, trusted });
    if (!trusted) break;
    depth++;
  }
  return depth;
}

/**
 * Where a trust walk over X-Forwarded-For stopped: the depth, and the value there when the walk
 * read it, with that value as a client address (`address` and `port`, as `parseAddress` reads it)
 * when it is one. One object, so that the walk allocates no more than it must.
 */
export interface ValueWalk extends ReportedAddress {
  depth: number;
  /** The value at `depth`, the first not trusted (or invalid); `undefined` when the walk stopped before reading it. */
  value: string | undefined;
  /** Whether `value` is a valid client address, given in `address` and `port`. */
  client: boolean;
}

/**
 * `trustedHops` for X-Forwarded-For, read in place: the same walk over the same values, with no
 * reader and no list kept, and an IPv4 value read once for its validity, its trust (`trustsIPv4`,
 * when the list is not a predicate) and its use: the value the walk stops at is usually the client
 * address, so it is returned parsed. The per-request path takes it; `trustedHops` serves the trace,
 * which records each hop, and the Forwarded elements, worth keeping once parsed.
 */
export function trustedValueHops(header: string | undefined, trusts: TrustPredicate, trustsIPv4: ((address: number) => boolean) | undefined, maxCount: number): ValueWalk {
  let depth = 1;
  if (isBlank(header)) return { depth, value: undefined, client: false, address: '', port: '' };
  // `end` is where the value at `depth` ends; -1 once the leftmost value has been looked at.
  let end = header!.length;
  const first = header!.indexOf(',');
  while (depth < maxCount && end >= 0) {
    const comma = commaBefore(header!, end, first);
    const value = trimmedItem(header!, comma + 1, end);
    const v4 = trustsIPv4 === undefined ? -1 : ipv4Number(value);
    if (v4 === -1) {
      const client = parseAddress(value);
      if (client === undefined) return { depth, value, client: false, address: '', port: '' };
      if (!trusts(client.address, depth)) return { depth, value, client: true, address: client.address, port: client.port };
    } else if (v4 === 0) {
      // The unspecified address, which no client has: parseAddress refuses it too.
      return { depth, value, client: false, address: '', port: '' };
    } else if (!trustsIPv4!(v4)) {
      return { depth, value, client: true, address: value, port: '' };
    }
    end = comma;
    depth++;
  }
  return { depth, value: undefined, client: false, address: '', port: '' };
}

/** A value read for a field, or why there is none. */
export type Read = { depth: number; value: string } | 'absent' | 'too-few-values' | 'malformed' | 'no-parameter';

/**
 * The value of `field` to use, `count` hops from the right. Without a trust list (`trustedDepth`
 * is Infinity) a header with fewer hops is ignored, as Werkzeug does. With one, the value is read
 * as deep as `count` and the trusted hops both allow: the leftmost hop when the header has fewer.
 */
export function readHop(source: HopSource | undefined, field: ForwardedField, count: number, trustedDepth: number): Read {
  const depth = hopDepth(source, count, trustedDepth);
  if (typeof depth === 'string') return depth;
  const value = source!.valueAt(depth, field);
  if (typeof value === 'string') return { depth, value };
  return value === MALFORMED ? 'malformed' : 'no-parameter';
}

/**
 * The depth `readHop` reads at, for every field of the hop alike, or why nothing is read: the
 * per-request path reads a Forwarded element's fields from one look-up.
 */
export function hopDepth(source: HopSource | undefined, count: number, trustedDepth: number): number | 'absent' | 'too-few-values' {
  if (source === undefined) return 'absent';
  const depth = source.depthUpTo(Math.min(count, trustedDepth));
  if (depth < count && trustedDepth === Infinity) return 'too-few-values';
  return depth;
}
