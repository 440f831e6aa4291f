/**
 * The decision trace: for every field proxyFix may set, which header and position it read, the
 * value there, whether it was used and, when not, why. Misconfiguration is silent by nature (the app
 * just sees the proxy's address); the trace is how a user sees it.
 */
import type { FixedField, GatewayEnv } from './gateway.js';
import { compileProxyFix, type ProxyFixOptions } from './middleware/proxy-fix.js';

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

/**
 * What `proxyFix(app, options)` would do to `env`, without changing it.
 *
 * @example
 * const trace = explain(env, { xFor: 1, xProto: 1, xHost: 1 });
 * for (const f of trace.fields) console.log(f.header, f.outcome, f.detail);
 */
export function explain(env: GatewayEnv, options: ProxyFixOptions = {}): ProxyFixTrace {
  return compileProxyFix(options).resolve(env);
}
