/**
 * Hops: what each proxy on the way reported, counted from the right, where proxies append.
 *
 * Both header families are a list of hops. `X-Forwarded-For: a, b` has two, one value each;
 * `Forwarded: for=a;proto=https, for=b` has two elements, each reporting several fields at once.
 * `HopSource` is that common shape, so the per-field loop and the trust walk never ask which
 * family they read. Each source reads only as far left as it is asked: a client that sends a long
 * header costs what the trusted hops need.
 */
import { parseNode, ForwardedFromRight, type ForwardedElement, type ForwardedNode } from '../../net/forwarded.js';
import { parseAddress } from '../../net/address.js';
import { isBlank, ListFromRight } from '../../net/list.js';
import type { ForwardedField, HopTrace } from '../../trace.js';
import type { TrustPredicate } from '../../net/trust.js';
import type { GatewayEnv } from '../../gateway.js';
import type { Rule } from './options.js';

/**
 * Why a hop gives no value for a field: its element does not parse, or it lacks the parameter.
 * Symbols, so that no header value can be mistaken for one.
 */
const MALFORMED = Symbol('malformed');
const NO_PARAMETER = Symbol('no-parameter');
type NoValue = typeof MALFORMED | typeof NO_PARAMETER;

export interface HopSource {
  /** The header is absent or blank. */
  readonly absent: boolean;
  /** How many hops there are, counting no further than `depth`. */
  depthUpTo(depth: number): number;
  /** What hop `depth` (1 is the rightmost; at most `depthUpTo`) reports for `field`, or why it reports nothing. */
  valueAt(depth: number, field: ForwardedField): string | NoValue;
  /** A reported client (`for`) value as a node: an address, `unknown` or an obfuscated name; `undefined` when invalid. */
  client(value: string): ForwardedNode | undefined;
}

/** One `X-Forwarded-*` header: one value per hop. */
class ListHops implements HopSource {
  readonly absent: boolean;
  readonly #list: ListFromRight | undefined;
  readonly #values: string[] = [];

  constructor(header: string | undefined) {
    this.absent = isBlank(header);
    this.#list = this.absent ? undefined : new ListFromRight(header!);
  }

  depthUpTo(depth: number): number {
    const values = this.#values;
    while (values.length < depth) {
      const value = this.#list?.next();
      if (typeof value !== 'string') break;
      values.push(value);
    }
    return Math.min(depth, values.length);
  }

  valueAt(depth: number): string {
    return this.#values[depth - 1]!;
  }

  client(value: string): ForwardedNode | undefined {
    const address = parseAddress(value);
    return address === undefined ? undefined : { kind: 'address', address: address.address, port: address.port };
  }
}

/** `Forwarded`: one element per hop, each parsed once however many fields read it. */
class ElementHops implements HopSource {
  readonly absent: boolean;
  readonly #reader: ForwardedFromRight | undefined;
  readonly #elements: ForwardedElement[] = [];

  constructor(header: string | undefined) {
    this.absent = isBlank(header);
    this.#reader = this.absent ? undefined : new ForwardedFromRight(header!);
  }

  depthUpTo(depth: number): number {
    const elements = this.#elements;
    while (elements.length < depth) {
      const element = this.#reader?.next();
      if (element === undefined) break;
      elements.push(element);
    }
    return Math.min(depth, elements.length);
  }

  valueAt(depth: number, field: ForwardedField): string | NoValue {
    const params = this.#elements[depth - 1]!.params;
    if (params === undefined) return MALFORMED;
    return params[field] ?? NO_PARAMETER;
  }

  client(value: string): ForwardedNode | undefined {
    return parseNode(value);
  }
}

/** The hops `rule` reads in one request. */
export function hopsOf(env: GatewayEnv, rule: Rule): HopSource {
  const header = env.headers[rule.header];
  return rule.hops === 'elements' ? new ElementHops(header) : new ListHops(header);
}

/**
 * How many hops deep a value may be read: 1 (the value the socket peer wrote) plus one for each
 * hop leftwards whose reported client is a valid, trusted address, up to `maxCount`. Records each
 * hop looked at in `walk`.
 */
export function trustedHops(source: HopSource, trusts: TrustPredicate, maxCount: number, walk: HopTrace[] | undefined): number {
  let depth = 1;
  while (depth < maxCount && source.depthUpTo(depth) === depth) {
    const value = source.valueAt(depth, 'for');
    // A malformed element, or one without `for`, names no proxy to trust: the walk stops there.
    if (typeof value !== 'string') break;
    const node = source.client(value);
    const trusted = node?.kind === 'address' && trusts(node.address, depth);
    walk?.push({ depth, value, trusted });
    if (!trusted) break;
    depth++;
  }
  return depth;
}

/** A value read for a field, or why there is none. */
export type Read = { depth: number; value: string } | 'absent' | 'too-few-values' | 'malformed' | 'no-parameter';

/**
 * The value of `field` to use, `count` hops from the right. Without a trust list (`trusted` hops
 * is Infinity) a header with fewer hops is ignored, as Werkzeug does. With one, the value is read
 * as deep as `count` and the trusted hops both allow: the leftmost hop when the header has fewer.
 */
export function readHop(source: HopSource, field: ForwardedField, count: number, trusted: number): Read {
  if (source.absent) return 'absent';
  const depth = source.depthUpTo(Math.min(count, trusted));
  if (depth < count && trusted === Infinity) return 'too-few-values';
  const value = source.valueAt(depth, field);
  if (typeof value === 'string') return { depth, value };
  return value === MALFORMED ? 'malformed' : 'no-parameter';
}
