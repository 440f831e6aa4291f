/**
 * The per-request decision: for each field, in Werkzeug's order, which value to believe.
 *
 * This is the security-critical loop, so it is written to be checked by eye against Werkzeug's
 * `ProxyFix.__call__`: one rule after another, each read `count` hops from the right and applied
 * only when it parses. What proxyfix adds is a trusted depth: with a trust list, no value is
 * read deeper than the trusted hops go, and nothing at all from a peer outside the list.
 *
 * Two functions make the same decision: `resolve` explains it field by field (`explain`, the
 * `trace` option), and `decide` is the per-request path, which keeps no trace and builds no list,
 * reader or result per request. test/proxy-fix-decide.ts holds them to the same changes.
 */
import { FIXED, originalValue, type GatewayEnv } from '../../gateway.js';
import { applyAddress, applyHost, applyPort, applyPrefix, applyScheme, applyValue, pendingChanges, setClient, type Changes } from '../../fields.js';
import { isBlank, itemAtOrLeftmost, itemFromRight } from '../../net/list.js';
import { parseNode } from '../../net/forwarded.js';
import { invalidValue, TraceRecorder, untrustedPeer, usedValue, type FieldOutcome, type FieldTrace, type HopTrace, type ProxyFixTrace } from '../../trace.js';
import { ELEMENTS, hopDepth, hopsIn, hopsOf, readHop, trustedHops, trustedValueHops, type Read, type ValueWalk } from './hops.js';
import type { FieldRule, ProxyFixSettings } from './options.js';

/** What a request can reveal about a misconfiguration; the codes of the warnings. */
export type NoticeCode = 'PROXYFIX_UNTRUSTED_PEER' | 'PROXYFIX_TOO_FEW_VALUES';
export type Notice = (code: NoticeCode, rule: FieldRule, peer: string) => void;

/**
 * Decide every field for `env` without changing it, and say why: the trace `explain` returns and
 * the `trace` option keeps. A request without a trace takes `decide`.
 */
export function resolve(settings: ProxyFixSettings, env: GatewayEnv, notice?: Notice): ProxyFixTrace {
  const { family, trusts, trustsPeer } = settings;
  const peer = originalValue(env, 'remoteAddr');
  const alreadyFixed = env.ext[FIXED] === true;

  const record = new TraceRecorder<FieldTrace>();
  const walk: HopTrace[] | undefined = trusts !== undefined ? [] : undefined;
  const peerTrusted = trustsPeer === undefined ? null : trustsPeer(peer);
  // The header the walk reads is parsed once, for the walk and for the fields that read it too.
  let walkSource = peerTrusted === true ? hopsOf(env, settings.walkRule) : undefined;
  // How many hops deep a value may be read: no deeper than the trusted proxies go, and nothing
  // from an untrusted peer. Without a trust list, each count is believed as it is.
  const trustedDepth = peerTrusted === null ? Infinity : peerTrusted ? trustedHops(walkSource, trusts!, settings.maxCount, walk) : 0;
  const asymmetric = settings.symmetric && !isSymmetric(env, settings.rules);
  const changes: Changes = {};

  for (const rule of settings.rules) {
    record.open({
      field: rule.field, option: rule.option, header: rule.header, count: rule.count,
      depth: null, value: null, used: false, outcome: 'disabled', detail: `${rule.option} is 0: not read`,
    });
    if (rule.count === 0) continue;
    if (trustedDepth === 0) {
      if (env.headers[rule.header] !== undefined) notice?.('PROXYFIX_UNTRUSTED_PEER', rule, peer);
      record.settle('untrusted', untrustedPeer(peer));
      continue;
    }
    if (asymmetric) {
      record.settle('asymmetric', 'symmetric is on and the X-Forwarded-* headers carry different numbers of values');
      continue;
    }
    const source = rule.walked ? (walkSource ??= hopsOf(env, rule)) : hopsOf(env, rule);
    const read = readHop(source, rule.field, rule.count, trustedDepth);
    if (typeof read === 'string') {
      if (read === 'too-few-values') notice?.('PROXYFIX_TOO_FEW_VALUES', rule, peer);
      record.settle(NOTHING_READ[read], MISSING[read](rule));
      continue;
    }
    record.read(read.depth, read.value);
    if (alreadyFixed) {
      record.settle('already-fixed', 'an earlier proxyFix already fixed this request');
      continue;
    }
    const outcome = rule.field === 'for' ? applyClient(rule, read.value, changes) : applied(rule, read.value, changes, env, settings);
    record.settle(outcome, outcome === 'used'
      ? `${usedValue(rule.target, changes)}${stoppedEarly(read, rule, trusts !== undefined)}`
      : outcome === 'hidden'
        ? `the proxy reported the client as ${read.value}: ${rule.field} left unchanged`
        : invalidValue(rule.field, read.value));
  }

  const fields = [...record.entries, ...ignoredHeaders(settings, env)];
  return { family, peer, peerTrusted, walk: walk ?? null, fields, changed: changes };
}

/**
 * What `resolve` decides, as changes for `writeChanges`, without a trace: the per-request path.
 * `undefined` when nothing may change: the request carries none of the headers read, or its peer
 * is not trusted. For a request no proxyFix has fixed yet. One function per header family below,
 * so that each is small enough for the engine to compile with its helpers inlined.
 */
export function decide(settings: ProxyFixSettings, env: GatewayEnv, notice?: Notice): Changes | undefined {
  // The header the trust walk reads, X-Forwarded-For or Forwarded, looked up once.
  const walked = env.headers[settings.walkRule.header];
  // A request without any of the headers read needs no more: not even the peer's trust, which
  // decides only what may be read (and a warning, given only for a header the request carries).
  if ((walked === undefined || !settings.readsWalkHeader) && !carriesOther(settings, env)) return undefined;
  const peer = originalValue(env, 'remoteAddr');
  if (settings.trustsPeer !== undefined && !settings.trustsPeer(peer)) {
    if (notice !== undefined) untrustedNotice(settings, env, peer, notice);
    return undefined;
  }
  return settings.family === 'forwarded'
    ? decideElements(settings, env, walked, peer, notice)
    : decideValues(settings, env, walked, peer, notice);
}

/** `decide` for X-Forwarded-*, the peer being trusted (or no list): each header read by position. */
function decideValues(settings: ProxyFixSettings, env: GatewayEnv, walked: string | undefined, peer: string, notice: Notice | undefined): Changes | undefined {
  let trustedDepth = Infinity;
  // Where the walk over X-Forwarded-For stopped: the client, when that is the depth read.
  let walk: ValueWalk | undefined;
  if (settings.trusts !== undefined) {
    walk = trustedValueHops(walked, settings.trusts, settings.trustsIPv4, settings.maxCount);
    trustedDepth = walk.depth;
  }
  if (settings.symmetric && !isSymmetric(env, settings.rules)) return undefined;
  const changes = pendingChanges();
  for (const rule of settings.enabled) {
    if (rule.walked && walk?.value !== undefined && rule.count >= trustedDepth) {
      // The value the walk stopped at, parsed already: X-Forwarded-For's is the client.
      if (walk.client) setClient(changes, walk);
      continue;
    }
    const value = listValue(env, rule, trustedDepth, peer, notice);
    if (value === undefined) continue;
    if (rule.field === 'for') applyAddress(value, changes);
    else applyReported(rule, value, changes, env, settings);
  }
  return changes;
}

/** `decide` for Forwarded, the peer being trusted (or no list): for, proto and host from one element. */
function decideElements(settings: ProxyFixSettings, env: GatewayEnv, walked: string | undefined, peer: string, notice: Notice | undefined): Changes {
  // The elements are parsed once, for the walk and the three fields they carry.
  const elements = hopsIn(walked, ELEMENTS);
  const trustedDepth = settings.trusts === undefined ? Infinity : trustedHops(elements, settings.trusts, settings.maxCount, undefined);
  const changes = pendingChanges();
  let elementDepth: ReturnType<typeof hopDepth> | undefined;
  for (const rule of settings.enabled) {
    if (rule.hops !== ELEMENTS) {
      // X-Forwarded-Prefix, which Forwarded lacks.
      const value = listValue(env, rule, trustedDepth, peer, notice);
      if (value !== undefined) applyReported(rule, value, changes, env, settings);
      continue;
    }
    // One element gives for, proto and host, all read at the same depth.
    elementDepth ??= hopDepth(elements, rule.count, trustedDepth);
    if (typeof elementDepth === 'string') {
      if (elementDepth === 'too-few-values') notice?.('PROXYFIX_TOO_FEW_VALUES', rule, peer);
      continue;
    }
    const value = elements!.valueAt(elementDepth, rule.field);
    // A malformed element, or one without this parameter: nothing to apply.
    if (typeof value !== 'string') continue;
    if (rule.field === 'for') {
      // `unknown` and obfuscated nodes are the proxy's choice to hide the client: nothing to apply.
      const node = parseNode(value);
      if (node?.kind === 'address') setClient(changes, node);
    } else {
      applyReported(rule, value, changes, env, settings);
    }
  }
  return changes;
}

/**
 * The value of a list header (X-Forwarded-*) to use, read by position: `count` from the right
 * without a trust list, or no deeper than the trusted hops with one; `undefined` when none.
 */
function listValue(env: GatewayEnv, rule: FieldRule, trustedDepth: number, peer: string, notice: Notice | undefined): string | undefined {
  const header = env.headers[rule.header];
  if (isBlank(header)) return undefined;
  if (trustedDepth !== Infinity) return itemAtOrLeftmost(header!, Math.min(rule.count, trustedDepth));
  const value = itemFromRight(header!, rule.count);
  if (value === undefined) notice?.('PROXYFIX_TOO_FEW_VALUES', rule, peer);
  return value;
}

/** Apply a reported proto, host, port or prefix; an invalid one changes nothing. */
function applyReported(rule: FieldRule, value: string, changes: Changes, env: GatewayEnv, settings: ProxyFixSettings): void {
  switch (rule.field) {
    case 'proto':
      applyScheme(value, changes, env, settings.schemes);
      break;
    case 'host':
      applyHost(value, changes, env);
      break;
    case 'port':
      // A host applied just before is a valid one, and its name is the server name it set.
      applyPort(value, changes, env, changes.host === undefined ? undefined : changes.serverName);
      break;
    default: // prefix
      applyPrefix(value, changes);
  }
}

/** Whether the request carries a header an enabled rule reads, other than the walk's, looked up already. */
function carriesOther(settings: ProxyFixSettings, env: GatewayEnv): boolean {
  for (const rule of settings.enabled) if (!rule.walked && env.headers[rule.header] !== undefined) return true;
  return false;
}

/** The warning for forwarded headers from a peer outside the trust list: the first enabled one present. */
function untrustedNotice(settings: ProxyFixSettings, env: GatewayEnv, peer: string, notice: Notice): void {
  for (const rule of settings.rules) {
    if (rule.count !== 0 && env.headers[rule.header] !== undefined) notice('PROXYFIX_UNTRUSTED_PEER', rule, peer);
  }
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
