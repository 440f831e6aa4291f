/**
 * The per-request decision: for each field, in Werkzeug's order, which value to believe.
 *
 * This is the security-critical loop, so it is written to be checked by eye against Werkzeug's
 * `ProxyFix.__call__`: one rule after another, each read `count` hops from the right and applied
 * only when it parses. What proxyfix adds is a trusted depth: with a trust list, no value is
 * read deeper than the trusted hops go, and nothing at all from a peer outside the list. The trace
 * is written through `record?.…`, which costs nothing when tracing is off.
 */
import { FIXED, originalValue, type GatewayEnv } from '../../gateway.js';
import { applyValue, setClient, type Changes } from '../../fields.js';
import { invalidValue, TraceRecorder, untrustedPeer, usedValue, type FieldOutcome, type FieldTrace, type HopTrace, type ProxyFixTrace } from '../../trace.js';
import { hopsOf, readHop, trustedHops, type Read } from './hops.js';
import type { FieldRule, ProxyFixSettings } from './options.js';

/** What a request can reveal about a misconfiguration; the codes of the warnings. */
export type NoticeCode = 'PROXYFIX_UNTRUSTED_PEER' | 'PROXYFIX_TOO_FEW_VALUES';
export type Notice = (code: NoticeCode, rule: FieldRule, peer: string) => void;

/**
 * Decide every field for `env` without changing it. Without `tracing`, only `changed` is filled in
 * (`fields` is empty, `walk` null): the per-request path builds no explanations.
 */
export function resolve(settings: ProxyFixSettings, env: GatewayEnv, tracing: boolean, notice?: Notice): ProxyFixTrace {
  const { family, trusts, trustsPeer } = settings;
  const peer = originalValue(env, 'remoteAddr');
  const alreadyFixed = env.ext[FIXED] === true;
  if (alreadyFixed && !tracing) return { family, peer, peerTrusted: null, walk: null, fields: [], changed: {} };

  const record = tracing ? new TraceRecorder<FieldTrace>() : undefined;
  const walk: HopTrace[] | undefined = trusts !== undefined && tracing ? [] : undefined;
  const peerTrusted = trustsPeer === undefined ? null : trustsPeer(peer);
  // The header the walk reads is parsed once, for the walk and for the fields that read it too.
  let walkSource = peerTrusted === true ? hopsOf(env, settings.walkRule) : undefined;
  // How many hops deep a value may be read: no deeper than the trusted proxies go, and nothing
  // from an untrusted peer. Without a trust list, each count is believed as it is.
  const trustedDepth = peerTrusted === null ? Infinity : peerTrusted ? trustedHops(walkSource, trusts!, settings.maxCount, walk) : 0;
  const asymmetric = settings.symmetric && !isSymmetric(env, settings.rules);
  const changes: Changes = {};

  for (const rule of settings.rules) {
    record?.open({
      field: rule.field, option: rule.option, header: rule.header, count: rule.count,
      depth: null, value: null, used: false, outcome: 'disabled', detail: `${rule.option} is 0: not read`,
    });
    if (rule.count === 0) continue;
    if (trustedDepth === 0) {
      if (env.headers[rule.header] !== undefined) notice?.('PROXYFIX_UNTRUSTED_PEER', rule, peer);
      record?.settle('untrusted', untrustedPeer(peer));
      continue;
    }
    if (asymmetric) {
      record?.settle('asymmetric', 'symmetric is on and the X-Forwarded-* headers carry different numbers of values');
      continue;
    }
    const source = rule.walked ? (walkSource ??= hopsOf(env, rule)) : hopsOf(env, rule);
    const read = readHop(source, rule.field, rule.count, trustedDepth);
    if (typeof read === 'string') {
      if (read === 'too-few-values') notice?.('PROXYFIX_TOO_FEW_VALUES', rule, peer);
      record?.settle(NOTHING_READ[read], MISSING[read](rule));
      continue;
    }
    record?.read(read.depth, read.value);
    if (alreadyFixed) {
      record?.settle('already-fixed', 'an earlier proxyFix already fixed this request');
      continue;
    }
    const outcome = rule.field === 'for' ? applyClient(rule, read.value, changes) : applied(rule, read.value, changes, env, settings);
    record?.settle(outcome, outcome === 'used'
      ? `${usedValue(rule.target, changes)}${stoppedEarly(read, rule, trusts !== undefined)}`
      : outcome === 'hidden'
        ? `the proxy reported the client as ${read.value}: ${rule.field} left unchanged`
        : invalidValue(rule.field, read.value));
  }

  const fields = record === undefined ? [] : [...record.entries, ...ignoredHeaders(settings, env)];
  return { family, peer, peerTrusted, walk: walk ?? null, fields, changed: changes };
}

/** The trace entries of headers of the family not chosen that a request carries: someone sent them. */
function ignoredHeaders(settings: ProxyFixSettings, env: GatewayEnv): FieldTrace[] {
  return settings.ignored.flatMap((rule): FieldTrace[] => {
    const value = env.headers[rule.header];
    if (value === undefined) return [];
    return [{
      field: rule.field, option: rule.option, header: rule.header, count: 0, depth: null,
      value, used: false, outcome: 'family-not-chosen',
      detail: settings.family === 'forwarded'
        ? `forwarded is set, so ${rule.header} is ignored: a client may have sent it`
        : 'X-Forwarded-* headers are configured, so Forwarded is ignored: a client may have sent it',
    }];
  });
}

/** A reported client: an address is applied; `unknown` or an obfuscated name is the proxy's choice to hide it. */
function applyClient(rule: FieldRule, value: string, changes: Changes): FieldOutcome {
  const node = rule.hops.parseClient(value);
  if (node === undefined) return 'invalid';
  if (node.kind !== 'address') return 'hidden';
  setClient(changes, node);
  return 'used';
}

function applied(rule: FieldRule, value: string, changes: Changes, env: GatewayEnv, settings: ProxyFixSettings): FieldOutcome {
  return applyValue(rule.target, value, changes, env, settings.schemes) ? 'used' : 'invalid';
}

/** What the trace adds when a trust walk ended before the count: the value is the deepest trusted one. */
function stoppedEarly(read: { depth: number }, rule: FieldRule, walking: boolean): string {
  if (!walking || read.depth >= rule.count) return '';
  return `; the walk stopped at depth ${read.depth}${rule.count === Infinity ? '' : ` of ${rule.count}`}`;
}

type NothingRead = Exclude<Read, object>;

const NOTHING_READ: Readonly<Record<NothingRead, FieldOutcome>> = {
  absent: 'absent',
  'no-parameter': 'absent',
  'too-few-values': 'too-few-values',
  malformed: 'invalid',
};

const MISSING: Readonly<Record<NothingRead, (rule: FieldRule) => string>> = {
  absent: (rule) => `no ${rule.header} header`,
  'too-few-values': (rule) =>
    `${rule.option} is ${rule.count} but ${rule.header} has fewer ${rule.hops.unit}: fewer proxies than configured, or one skipped`,
  malformed: () => 'the Forwarded element at that depth does not parse; nothing is taken from it or beyond it',
  'no-parameter': (rule) => `the Forwarded element read has no ${rule.field} parameter`,
};

/** Whether every enabled header has as many values as the others (an absent header has none). */
function isSymmetric(env: GatewayEnv, rules: readonly FieldRule[]): boolean {
  let seen: number | undefined;
  for (const rule of rules) {
    if (rule.count === 0) continue;
    const values = hopsOf(env, rule)?.depthUpTo(Infinity) ?? 0;
    if (seen === undefined) seen = values;
    else if (seen !== values) return false;
  }
  return true;
}
