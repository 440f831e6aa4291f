/**
 * The decision trace: for every field proxyFix may set, which header and position it read, the
 * value there, whether it was used and, when not, why. Misconfiguration is silent by nature (the app
 * just sees the proxy's address); the trace is how a user sees it.
 */
import type { FixedField } from './gateway.js';

/** `env.ext[TRACE]` holds proxyFix's decision trace when its `trace` option is on. */
export const TRACE = 'proxyfix.trace';

declare module './gateway.js' {
  interface GatewayExt {
    /** proxyFix's decision trace, when its `trace` option is on (`TRACE`). */
    'proxyfix.trace'?: ProxyFixTrace;
  }
}

/** What a field's value was read from. */
export type ForwardedField = 'for' | 'proto' | 'host' | 'port' | 'prefix';

export type FieldOutcome =
  /** The value was valid and applied. */
  | 'used'
  /** The option for this field is 0. */
  | 'disabled'
  /** The header is missing or blank. */
  | 'absent'
  /** The header has fewer values than the count asks for. */
  | 'too-few-values'
  /** The value at the counted position does not parse; the field keeps its value. */
  | 'invalid'
  /** The proxy reported the client as `unknown` or an obfuscated name (`_hidden`). */
  | 'hidden'
  /** A hop between the app and this value is not trusted. */
  | 'untrusted'
  /** The header belongs to the family this deployment did not choose. */
  | 'family-not-chosen'
  /** `symmetric` is on and the headers disagree on the number of hops. */
  | 'asymmetric'
  /** An earlier proxyFix in the stack already fixed this request. */
  | 'already-fixed';

export interface FieldTrace {
  field: ForwardedField;
  /** The option that counts this field: `xFor`, …, or `forwarded`. */
  option: string;
  /** Lower-case header name. */
  header: string;
  /** The configured count (`Infinity`: walk while trusted). */
  count: number;
  /** Position read, 1 being the rightmost value; `null` when nothing was read. */
  depth: number | null;
  /** The raw value at that position; `null` when nothing was read. */
  value: string | null;
  used: boolean;
  outcome: FieldOutcome;
  /** One plain-language sentence. */
  detail: string;
}

/** One hop looked at by a trust walk, from the right. */
export interface HopTrace {
  /** 1 for the rightmost for-value: the client of the socket peer. */
  depth: number;
  /** The for-value as written. */
  value: string;
  /** Whether it is a valid, trusted address, so that the walk went on past it. */
  trusted: boolean;
}

export interface ProxyFixTrace {
  /** `x-forwarded` or `forwarded` (RFC 7239): the header family this deployment reads. */
  family: 'x-forwarded' | 'forwarded';
  /** The socket peer: the address trust decisions start from. */
  peer: string;
  /** Whether the peer is trusted; `null` when no trust list is configured (counts are trusted blindly). */
  peerTrusted: boolean | null;
  /** The trust walk, hop by hop; `null` when no trust list is configured. */
  walk: HopTrace[] | null;
  /** One entry per field, in the order applied; then any header of the family not chosen. */
  fields: FieldTrace[];
  /** The env values this pass wrote. */
  changed: Partial<Record<FixedField, string>>;
}

/** A trace entry as both proxyFix and rewriteHeaders record it; `field` is theirs to name. */
interface TraceEntry {
  depth: number | null;
  value: string | null;
  used: boolean;
  outcome: FieldOutcome;
  detail: string;
}

/**
 * Collects one entry per field as a request is decided: `open` one, note what was `read`, then
 * `settle` it. A middleware holds `recorder?.settle(…)`: without tracing the recorder is
 * `undefined`, and optional chaining skips the call and its arguments, so the sentences are never
 * built on the per-request path.
 */
export class TraceRecorder<Entry extends TraceEntry> {
  readonly entries: Entry[] = [];
  #current: Entry | undefined;

  /** Start the entry of the next field. */
  open(entry: Entry): void {
    this.entries.push(entry);
    this.#current = entry;
  }

  /** The position and raw value the current field was read from. */
  read(depth: number, value: string): void {
    this.#current!.depth = depth;
    this.#current!.value = value;
  }

  /** How the current field ends, and why in one sentence. */
  settle(outcome: FieldOutcome, detail: string): void {
    const entry = this.#current!;
    entry.outcome = outcome;
    entry.used = outcome === 'used';
    entry.detail = detail;
  }
}

/** Why nothing was taken from a peer outside the trust list (`''` is a Unix socket). */
export function untrustedPeer(peer: string): string {
  return peer === ''
    ? 'the peer is a Unix socket, trusted only with trustUnixSocket'
    : `the peer ${peer} is not in the trust list: a client reached the app directly`;
}

/** Why a value read was not applied. */
export function invalidValue(field: string, value: string): string {
  return `${JSON.stringify(value)} is not a valid ${field} value; left unchanged`;
}

/** How a trace names a field that was set, and the value it now holds. */
export function usedValue(field: FixedField, changes: Partial<Record<FixedField, string>>): string {
  const value = changes[field]!;
  return `${USED[field]} ${field === 'scriptName' ? JSON.stringify(value) : value}`;
}

const USED: Readonly<Record<FixedField, string>> = {
  remoteAddr: 'client address', remotePort: 'client port', scheme: 'scheme', host: 'host',
  serverName: 'server name', serverPort: 'port', scriptName: 'prefix',
};
