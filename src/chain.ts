/**
 * The proxy chain as a request tells it: client → each proxy → app, each hop with its address,
 * whether it is trusted, the header values it wrote, and where proxyFix's walk from the app
 * stopped, and why.
 *
 * A hop count or trust list is right only for the chain it was written for, and a chain is hard to
 * see from a header value: `X-Forwarded-For: 6.6.6.6, 203.0.113.7` from peer 10.0.0.2 is three
 * hops, the leftmost of which anyone could have written. This model lays the hops out in the order
 * requests travel, with the trace's own decisions on them, so the inspection page and `proxyfix
 * check` can draw them (./chain-svg.ts) rather than describe them.
 *
 * Hops are counted as proxyFix counts them, from the right: the value at depth d of each header
 * was written by proxy d (proxy 1 being the socket peer), and the for-value at depth d is the
 * address of the hop to its left, the client's for the deepest. The chain is what the headers
 * claim; which part of the claim was believed is what `stoppedAt` says. Nothing here is trusted
 * more than the trace trusted it: without a trace the chain is just the peer.
 */
import { ForwardedFromRight } from './net/forwarded.js';
import { isBlank, ListFromRight } from './net/list.js';
import { REQUEST_FIELDS, type RequestField } from './gateway.js';
import type { FieldTrace, ProxyFixTrace } from './trace.js';

/** At most this many proxies are drawn; deeper values (a client can send thousands) are counted in `omitted`. */
export const MAX_PROXIES = 16;

/** The env fields a chain reads, before and after fixing: a probe's answer or an inspection has them. */
export type ChainFields = Record<RequestField, string>;

/** What a chain is built from: a probe answer, or an inspection with `headers: request.headers`. */
export interface ChainInput {
  before: ChainFields;
  after: ChainFields;
  /** proxyFix's decision trace; `null` when no proxyFix with `trace: true` ran. */
  trace: ProxyFixTrace | null;
  /** The request headers as the app got them: lower-case names, repeated lines joined. */
  headers: Record<string, string>;
}

export interface ChainHop {
  role: 'client' | 'proxy' | 'app';
  /**
   * A proxy's or the client's: the for-value its right-hand neighbour reported, or the socket
   * address for the peer; `null` when unknown (`for=unknown`, a Unix socket peer, a missing value).
   * The app's: the Host it was addressed as.
   */
  address: string | null;
  /**
   * Whether the trust list holds this hop's address, as proxyFix decided it; `null` when there is
   * no trust list, or the walk never reached this hop (it stopped, or its count ran out, before).
   */
  trusted: boolean | null;
  /**
   * A proxy's or the client's: the header values it wrote, by lower-case header name. The app's:
   * the env fields fixing changed, by field name, as the app now sees them.
   */
  wrote: Record<string, string>;
}

export interface Chain {
  /** From the client to the app: client, proxy n, …, proxy 1 (the socket peer, `hops[length - 2]`), app. */
  hops: ChainHop[];
  /**
   * The hop whose address the app took as its client's: where the walk from the app stopped (the
   * peer when nothing was taken). Hops left of it were not believed. `null` without a trace.
   */
  stoppedAt: number | null;
  /** One sentence: why the walk stopped there, from the trace. */
  reason: string;
  /** Proxies the headers name beyond `MAX_PROXIES`, between the client and the hops drawn. */
  omitted: number;
}


const NO_TRACE = 'No decision trace, so the app sees the socket peer as its client; ' +
  'put proxyFix with `trace: true` in front to see the chain.';

/**
 * The chain `input` describes.
 *
 * @example
 * const chain = chainOf({ ...inspection, headers: inspection.request.headers });
 * chain.hops.map((hop) => hop.address); // ['203.0.113.7', '198.51.100.2', '127.0.0.1', 'app.internal:8000']
 */
export function chainOf(input: ChainInput): Chain {
  const { before, after, trace, headers } = input;
  const app: ChainHop = { role: 'app', address: before.host || null, trusted: null, wrote: changedFields(before, after) };
  if (trace === null) {
    const client: ChainHop = { role: 'client', address: before.remoteAddr || null, trusted: null, wrote: {} };
    return { hops: [client, app], stoppedAt: null, reason: NO_TRACE, omitted: 0 };
  }

  const read = readHeaders(trace, headers);
  const walkHeader = trace.family === 'forwarded' ? 'forwarded' : 'x-forwarded-for';
  const addresses = read.find((header) => header.name === walkHeader);
  // The proxies are the hops the addresses name; without addresses, as many as any counted header has.
  const proxies = addresses?.values.length ?? Math.max(0, ...read.filter((header) => header.counted).map((header) => header.values.length));
  const drawn = Math.min(proxies, MAX_PROXIES);
  const omitted = proxies - drawn;

  // hops[0] is the client, hops[k] for k in 1..drawn is proxy drawn + 1 - k, hops[drawn + 1] the app.
  const hops: ChainHop[] = [{ role: 'client', address: null, trusted: null, wrote: {} }];
  for (let k = drawn; k >= 1; k--) hops.push({ role: 'proxy', address: null, trusted: null, wrote: {} });
  const peer = hops[drawn]!;
  peer.address = trace.peer || null;
  peer.trusted = trace.peerTrusted;
  // The for-value at depth d names the hop left of proxy d; the deepest names the client.
  const named = (depth: number) => (depth === proxies ? hops[0]! : depth < drawn ? hops[drawn - depth]! : undefined);
  addresses?.values.forEach((value, index) => {
    const hop = named(index + 1);
    if (hop !== undefined) hop.address = addressOf(value, trace.family);
  });
  for (const step of trace.walk ?? []) {
    const hop = named(step.depth);
    if (hop !== undefined) hop.trusted = step.trusted;
  }
  for (const header of read) {
    header.values.forEach((value, index) => {
      const depth = index + 1;
      if (depth <= drawn) hops[drawn + 1 - depth]!.wrote[header.name] = value;
    });
    // Values deeper than any proxy the chain names: the client wrote them (or a proxy that names no one).
    const deeper = header.values.slice(proxies).reverse();
    if (deeper.length > 0) hops[0]!.wrote[header.name] = deeper.join(', ');
  }
  hops.push(app);

  const client = trace.fields.find((field) => field.field === 'for' && field.outcome !== 'family-not-chosen');
  const depth = client?.depth ?? null;
  return {
    hops,
    stoppedAt: depth === null ? drawn : Math.max(0, drawn - depth),
    reason: client === undefined ? 'the trace does not say how the client address was chosen' : reasonOf(client, trace),
    omitted,
  };
}

/** One header of the family the trace reads: its values from the right, and whether a count reads it. */
interface ReadHeader {
  name: string;
  counted: boolean;
  /** Values (Forwarded: elements' text), index 0 being the rightmost. */
  values: string[];
}

/** The headers of the chosen family that the request carries, in the trace's order. */
function readHeaders(trace: ProxyFixTrace, headers: Record<string, string>): ReadHeader[] {
  const read = new Map<string, ReadHeader>();
  for (const field of trace.fields) {
    if (field.outcome === 'family-not-chosen') continue;
    const known = read.get(field.header);
    if (known !== undefined) {
      known.counted ||= field.count > 0;
      continue;
    }
    const header = headers[field.header];
    if (isBlank(header)) continue;
    read.set(field.header, { name: field.header, counted: field.count > 0, values: valuesOf(field.header, header!) });
  }
  return [...read.values()];
}

function valuesOf(name: string, header: string): string[] {
  const values: string[] = [];
  if (name === 'forwarded') {
    const elements = new ForwardedFromRight(header);
    for (let element = elements.next(); element !== undefined; element = elements.next()) values.push(element.text);
  } else {
    const list = new ListFromRight(header);
    for (let value = list.next(); value !== undefined; value = list.next()) values.push(value);
  }
  return values;
}

/** A reported client as the chain shows it: the for-value as written; `null` when none or `unknown`. */
function addressOf(value: string, family: ProxyFixTrace['family']): string | null {
  if (family === 'x-forwarded') return value || null;
  const node = new ForwardedFromRight(value).next()!.params?.for;
  return node === undefined || node.toLowerCase() === 'unknown' ? null : node;
}

/** The fields fixing changed, as the app sees them now. */
function changedFields(before: ChainFields, after: ChainFields): Record<string, string> {
  const changed: Record<string, string> = {};
  for (const field of REQUEST_FIELDS) if (after[field] !== before[field]) changed[field] = after[field];
  return changed;
}

/** The trace's own sentence for the client address, with where it was read and, after a walk, why it ended. */
function reasonOf(client: FieldTrace, trace: ProxyFixTrace): string {
  let reason = `${client.header}: ${client.detail}`;
  if (client.outcome !== 'used') return reason;
  reason += ` (${client.option} ${client.count}, value ${client.depth} from the right)`;
  const last = trace.walk?.at(-1);
  if (last !== undefined && !last.trusted && last.depth === client.depth) {
    reason += `; ${last.value} is not in the trust list, so it is the client`;
  }
  return reason;
}
