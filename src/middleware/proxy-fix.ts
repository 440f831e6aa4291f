/**
 * proxyFix: put back the client address, scheme, host, port and path prefix that reverse proxies
 * report in `X-Forwarded-*` or RFC 7239 `Forwarded` headers.
 *
 * Those headers are plain request headers: any client can send them, and most proxies append to
 * what the client sent rather than replacing it. So a value can only be believed if it was written
 * by a proxy in front of this app, and proxies write at the right end of each list. proxyFix counts
 * from the right, as many values per header as the deployment has proxies that set it — the same
 * counts as Werkzeug's `ProxyFix` — and leaves a field alone when its value does not parse.
 * Set a count higher than the real number of proxies and the client chooses the value; make the
 * app reachable without the proxy and the client chooses every value.
 *
 * With `trusted`, counts become upper bounds and addresses decide: nothing is read unless the socket
 * peer is trusted, and a value at depth d is read only when the d - 1 hops to its right are trusted
 * too. The walk stops at the first untrusted or invalid hop, so the client can never reach past it.
 */
import type { FieldOutcome, FieldTrace, ForwardedField, HopTrace, ProxyFixTrace } from '../explain.js';
import { FIXED, type FixedField, type GatewayApp, type GatewayEnv, type Middleware, originalValue, setField, splitHostHeader, TRACE } from '../gateway.js';
import { isAppObject } from '../app-kind.js';
import { checkCount, configError } from '../errors.js';
import { checkApp, checkBoolean, checkOptions } from './compose.js';
import { parseAddress, type ReportedAddress } from '../net/address.js';
import { ForwardedFromRight, parseNode, type ForwardedElement } from '../net/forwarded.js';
import { parseHost } from '../net/host.js';
import { ListFromRight, isBlank } from '../net/list.js';
import { defaultPort, parsePort } from '../net/port.js';
import { parsePrefix } from '../net/prefix.js';
import { checkSchemes, connectionScheme, parseScheme } from '../net/scheme.js';
import { compileTrust, type TrustInput, type TrustPredicate } from '../net/trust.js';

export interface ProxyFixOptions {
  /**
   * How many values of `X-Forwarded-For` to count from the right: the number of proxies that append
   * to it. Werkzeug's `x_for`. With `trusted`, an upper bound; `Infinity` walks while trusted.
   * @default 1 (0 when `forwarded` is set)
   */
  xFor?: number;
  /**
   * How many values of `X-Forwarded-Proto` to count from the right. Werkzeug's `x_proto`.
   * @default 1 (0 when `forwarded` is set)
   */
  xProto?: number;
  /**
   * How many values of `X-Forwarded-Host` to count from the right. Werkzeug's `x_host`.
   * @default 0
   */
  xHost?: number;
  /**
   * How many values of `X-Forwarded-Port` to count from the right. Werkzeug's `x_port`.
   * @default 0
   */
  xPort?: number;
  /**
   * How many values of `X-Forwarded-Prefix` to count from the right. Werkzeug's `x_prefix`.
   * The one X-Forwarded header that may join `forwarded`, which has no prefix.
   * @default 0
   */
  xPrefix?: number;
  /**
   * How many RFC 7239 `Forwarded` elements to count from the right; `for`, `proto` and `host` are
   * taken from that one element. Excludes `xFor`, `xProto`, `xHost` and `xPort`: one header
   * family per deployment, and the other family's headers are ignored.
   * @default 0
   */
  forwarded?: number;
  /**
   * The proxies to trust: addresses, CIDR ranges, netmasks, named ranges (`loopback`, `private`,
   * `uniquelocal`, `linklocal`), or a predicate `(addr, hop) => boolean`. Without it, counts are
   * trusted blindly, as in Werkzeug.
   * @default undefined
   */
  trusted?: TrustInput;
  /**
   * Trust a peer with no address (a Unix socket). Only with `trusted`.
   * @default false
   */
  trustUnixSocket?: boolean;
  /**
   * Apply nothing when the enabled X-Forwarded-* headers carry different numbers of values
   * (ASP.NET's RequireHeaderSymmetry): a proxy skipped, or a header stripped on the way.
   * @default false
   */
  symmetric?: boolean;
  /**
   * Schemes a forwarded proto may set, compared without regard to case.
   * @default ['http', 'https', 'ws', 'wss']
   */
  schemes?: readonly string[];
  /**
   * Store the decision trace in `env.ext["proxyfix.trace"]` for the app to read.
   * @default false
   */
  trace?: boolean;
  /**
   * Emit a process warning (at most once an hour per kind) when requests suggest a misconfiguration:
   * forwarded headers from an untrusted peer (`PROXYFIX_UNTRUSTED_PEER`), or fewer values than a
   * count asks for (`PROXYFIX_TOO_FEW_VALUES`). Misconfigured proxy trust is otherwise silent.
   * @default true
   */
  warnings?: boolean;
}

export { FIXED, TRACE };

type CountOption = 'xFor' | 'xProto' | 'xHost' | 'xPort' | 'xPrefix' | 'forwarded';

interface FieldRule {
  field: ForwardedField;
  option: CountOption;
  header: string;
}

/** In the order Werkzeug applies them: a port rewrites the host a forwarded host has set. */
const X_FORWARDED: readonly FieldRule[] = [
  { field: 'for', option: 'xFor', header: 'x-forwarded-for' },
  { field: 'proto', option: 'xProto', header: 'x-forwarded-proto' },
  { field: 'host', option: 'xHost', header: 'x-forwarded-host' },
  { field: 'port', option: 'xPort', header: 'x-forwarded-port' },
  { field: 'prefix', option: 'xPrefix', header: 'x-forwarded-prefix' },
];
const FORWARDED: readonly FieldRule[] = [
  { field: 'for', option: 'forwarded', header: 'forwarded' },
  { field: 'proto', option: 'forwarded', header: 'forwarded' },
  { field: 'host', option: 'forwarded', header: 'forwarded' },
  X_FORWARDED[4]!,
];

/** A walk with `Infinity` reads at most this many hops: no deployment has more proxies. */
export const MAX_HOPS = 64;

const KNOWN_OPTIONS = new Set<string>([
  'xFor', 'xProto', 'xHost', 'xPort', 'xPrefix', 'forwarded', 'trusted', 'trustUnixSocket', 'symmetric', 'schemes', 'trace',
  'warnings',
]);

/** What a request can reveal about a misconfiguration; the codes of the process warnings. */
export type NoticeCode = 'PROXYFIX_UNTRUSTED_PEER' | 'PROXYFIX_TOO_FEW_VALUES';
export type Notice = (code: NoticeCode, option: string, header: string, count: number, peer: string) => void;

export interface CompiledProxyFix {
  /**
   * Decide every field for `env` without changing it. Without `tracing`, only `changed` is filled
   * in (`fields` is empty, `walk` null): the per-request path builds no explanations.
   */
  resolve(env: GatewayEnv, tracing?: boolean, notice?: Notice): ProxyFixTrace;
  /** Decide and write. */
  apply(env: GatewayEnv, tracing?: boolean, notice?: Notice): ProxyFixTrace;
}

/** Validate options once and return the per-request resolver. */
export function compileProxyFix(options: ProxyFixOptions = {}): CompiledProxyFix {
  checkOptions(options, KNOWN_OPTIONS, 'proxyFix');
  for (const key of ['trustUnixSocket', 'symmetric', 'trace', 'warnings'] as const) checkBoolean(key, options[key]);
  const trusts = options.trusted === undefined ? undefined : compileTrust(options.trusted);
  const walking = trusts !== undefined;
  const count = (option: CountOption, fallback: number) =>
    options[option] === undefined ? fallback : checkCount(option, options[option], walking);

  const forwarded = count('forwarded', 0);
  const family = forwarded > 0 ? 'forwarded' : 'x-forwarded';
  if (family === 'forwarded') {
    for (const option of ['xFor', 'xProto', 'xHost', 'xPort'] as const) {
      if (options[option] !== undefined && options[option] !== 0) {
        throw configError(TypeError, 'ERR_PROXYFIX_OPTION_CONFLICT', option,
          'cannot be combined with `forwarded`: read either X-Forwarded-* or Forwarded, the one your proxies set ' +
          '(xPrefix may join forwarded, which has no prefix)');
      }
    }
    if (options.symmetric === true) {
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_CONFLICT', 'symmetric',
        'applies to X-Forwarded-* headers; a Forwarded element carries all its fields together');
    }
  }
  if (options.trustUnixSocket === true && !walking) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_CONFLICT', 'trustUnixSocket', 'has no effect without `trusted`');
  }
  const rules = family === 'forwarded' ? FORWARDED : X_FORWARDED;
  const counts = rules.map((rule) => {
    if (rule.option === 'forwarded') return forwarded;
    const fallback = family === 'x-forwarded' && (rule.option === 'xFor' || rule.option === 'xProto') ? 1 : 0;
    return count(rule.option, fallback);
  });
  // The headers of the family not chosen, reported in the trace when a request carries them.
  const ignored = family === 'forwarded'
    ? X_FORWARDED.slice(0, 4)
    : [{ field: 'for', option: 'forwarded', header: 'forwarded' } satisfies FieldRule];
  const schemes = checkSchemes(options.schemes);
  const trustUnixSocket = options.trustUnixSocket === true;
  const symmetric = options.symmetric === true;
  const deepest = Math.min(Math.max(...counts), MAX_HOPS);

  function resolve(env: GatewayEnv, tracing = true, notice?: Notice): ProxyFixTrace {
    const peer = originalValue(env, 'remoteAddr');
    if (!tracing && env.ext[FIXED] === true) return { family, peer, peerTrusted: null, walk: null, fields: [], changed: {} };
    const peerTrusted = trusts === undefined ? null : peer === '' ? trustUnixSocket : trusts(peer, 0);
    const elements = family === 'forwarded' ? new ForwardedCache(env.headers.forwarded) : undefined;
    const walk: HopTrace[] | null = walking && tracing ? [] : null;
    // The deepest depth a value may be read from: every hop to its right is trusted.
    let reach = Infinity;
    if (walking) reach = peerTrusted ? walkTrusted(env, elements, trusts!, deepest, walk) : 0;
    const asymmetric = symmetric && !isSymmetric(env, counts);
    const alreadyFixed = env.ext[FIXED] === true;

    const changed: Partial<Record<FixedField, string>> = {};
    const fields: FieldTrace[] = [];
    let hostSetWithoutPort = false;
    let portSet = false;
    let hostName: string | undefined;

    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const count = counts[i]!;
      // Explanations cost strings and objects on every request, so they are built only when asked for.
      const trace: FieldTrace | undefined = tracing ? {
        field: rule.field, option: rule.option, header: rule.header, count,
        depth: null, value: null, used: false, outcome: 'disabled', detail: `${rule.option} is 0: not read`,
      } : undefined;
      if (trace) fields.push(trace);
      if (count === 0) continue;
      if (reach === 0) {
        if (notice && env.headers[rule.header] !== undefined) notice('PROXYFIX_UNTRUSTED_PEER', rule.option, rule.header, count, peer);
        if (trace) settle(trace, 'untrusted', peer === ''
          ? 'the peer is a Unix socket, trusted only with trustUnixSocket'
          : `the peer ${peer} is not in the trust list: a client reached the app directly`);
        continue;
      }
      if (asymmetric) {
        if (trace) settle(trace, 'asymmetric', 'symmetric is on and the X-Forwarded-* headers carry different numbers of values');
        continue;
      }
      const fromForwarded = rule.header === 'forwarded';
      const read = fromForwarded
        ? readElement(elements!, rule.field, count, reach)
        : readList(env.headers[rule.header], count, reach);
      if (typeof read === 'string') {
        if (notice && read === 'too-few-values') notice('PROXYFIX_TOO_FEW_VALUES', rule.option, rule.header, count, peer);
        if (trace) settle(trace, read === 'no-parameter' ? 'absent' : read === 'malformed' ? 'invalid' : read, MISSING[read](rule, count));
        continue;
      }
      if (trace) {
        trace.depth = read.depth;
        trace.value = read.value;
      }
      if (alreadyFixed) {
        if (trace) settle(trace, 'already-fixed', 'an earlier proxyFix already fixed this request');
        continue;
      }
      const stopped = trace && walking && read.depth < count
        ? `; the walk stopped at depth ${read.depth}${count === Infinity ? '' : ` of ${count}`}`
        : '';
      const value = read.value;
      switch (rule.field) {
        case 'for': {
          const node = fromForwarded ? parseNode(value) : addressNode(value);
          if (node === undefined) break;
          if (node.kind !== 'address') {
            if (trace) settle(trace, 'hidden', `the proxy reported the client as ${value}: ${rule.field} left unchanged`);
            continue;
          }
          changed.remoteAddr = node.address;
          changed.remotePort = node.port;
          if (trace) settle(trace, 'used', `client address ${node.address}${stopped}`);
          continue;
        }
        case 'proto': {
          const reported = parseScheme(value, schemes);
          if (reported === undefined) break;
          const scheme = connectionScheme(reported, env.scheme);
          changed.scheme = scheme;
          if (trace) settle(trace, 'used', `scheme ${scheme}${stopped}`);
          continue;
        }
        case 'host': {
          const host = parseHost(value);
          if (host === undefined) break;
          changed.host = host.host;
          changed.serverName = host.name;
          hostName = host.name;
          if (host.port !== '') changed.serverPort = host.port;
          hostSetWithoutPort = host.port === '';
          if (trace) settle(trace, 'used', `host ${host.host}${stopped}`);
          continue;
        }
        case 'port': {
          if (parsePort(value) === undefined) break;
          const host = changed.host ?? env.host;
          if (host !== '') changed.host = `${hostName ?? splitHostHeader(host).name}:${value}`;
          changed.serverPort = value;
          portSet = true;
          if (trace) settle(trace, 'used', `port ${value}${stopped}`);
          continue;
        }
        case 'prefix': {
          const prefix = parsePrefix(value);
          if (prefix === undefined) break;
          changed.scriptName = prefix;
          if (trace) settle(trace, 'used', `prefix ${JSON.stringify(prefix)}${stopped}`);
          continue;
        }
      }
      if (trace) settle(trace, 'invalid', `${JSON.stringify(value)} is not a valid ${rule.field} value; left unchanged`);
    }
    // Werkzeug keeps the app server's own port here, which no client used; the scheme tells the real one.
    if (hostSetWithoutPort && !portSet) changed.serverPort = defaultPort(changed.scheme ?? env.scheme);

    for (const rule of ignored) {
      if (!tracing || env.headers[rule.header] === undefined) continue;
      fields.push({
        field: rule.field, option: rule.option, header: rule.header, count: 0, depth: null,
        value: env.headers[rule.header]!, used: false, outcome: 'family-not-chosen',
        detail: family === 'forwarded'
          ? `forwarded is set, so ${rule.header} is ignored: a client may have sent it`
          : 'X-Forwarded-* headers are configured, so Forwarded is ignored: a client may have sent it',
      });
    }
    return { family, peer, peerTrusted, walk, fields, changed };
  }

  return {
    resolve,
    apply(env, tracing = true, notice) {
      const trace = resolve(env, tracing, notice);
      if (env.ext[FIXED] !== true) {
        const changed = trace.changed;
        for (const field in changed) setField(env, field as FixedField, changed[field as FixedField]!);
        env.ext[FIXED] = true;
      }
      return trace;
    },
  };
}

/**
 * Walk the for-values from the right while each is a valid, trusted address; returns the deepest
 * depth that may be read (1 when the peer alone is trusted). Records each hop looked at in `walk`.
 */
function walkTrusted(
  env: GatewayEnv,
  elements: ForwardedCache | undefined,
  trusts: TrustPredicate,
  deepest: number,
  walk: HopTrace[] | null,
): number {
  const list = elements === undefined && !isBlank(env.headers['x-forwarded-for'])
    ? new ListFromRight(env.headers['x-forwarded-for']!)
    : undefined;
  let depth = 1;
  while (depth < deepest) {
    let value: string | undefined;
    let node: ReturnType<typeof parseNode>;
    if (elements !== undefined) {
      const params = elements.at(depth)?.params;
      value = params?.for;
      node = value === undefined ? undefined : parseNode(value);
    } else {
      value = list?.next();
      node = value === undefined ? undefined : addressNode(value);
    }
    if (value === undefined) break;
    const trusted = node?.kind === 'address' && trusts(node.address, depth);
    walk?.push({ depth, value, trusted });
    if (!trusted) break;
    depth++;
  }
  return depth;
}

function addressNode(value: string): ({ kind: 'address' } & ReportedAddress) | undefined {
  const address = parseAddress(value);
  return address === undefined ? undefined : { kind: 'address', address: address.address, port: address.port };
}

type Read = { depth: number; value: string } | 'absent' | 'too-few-values' | 'malformed' | 'no-parameter';

const MISSING: Record<Exclude<Read, object>, (rule: FieldRule, count: number) => string> = {
  absent: (rule) => `no ${rule.header} header`,
  'too-few-values': (rule, count) =>
    `${rule.option} is ${count} but ${rule.header} has fewer ${rule.header === 'forwarded' ? 'elements' : 'values'}: ` +
    'fewer proxies than configured, or one skipped',
  malformed: () => 'the Forwarded element at that depth does not parse; nothing is taken from it or beyond it',
  'no-parameter': (rule) => `the Forwarded element read has no ${rule.field} parameter`,
};

/**
 * The value of a list header to use: `count` places from the right when counting blindly (`reach`
 * is Infinity); with a trust walk, as deep as `count` and `reach` allow, or the leftmost value
 * when the header has fewer.
 */
function readList(header: string | undefined, count: number, reach: number): Read {
  if (isBlank(header)) return 'absent';
  const target = Math.min(count, reach);
  const list = new ListFromRight(header!);
  let value: string | undefined;
  for (let depth = 1; depth <= target; depth++) {
    const next = list.next();
    if (next === undefined) return reach === Infinity ? 'too-few-values' : { depth: depth - 1, value: value! };
    value = next;
  }
  return { depth: target, value: value! };
}

/** The same for one parameter of a `Forwarded` element: all fields come from one element. */
function readElement(elements: ForwardedCache, field: ForwardedField, count: number, reach: number): Read {
  if (elements.empty) return 'absent';
  let depth = Math.min(count, reach);
  let element = elements.at(depth);
  if (element === undefined) {
    if (reach === Infinity) return 'too-few-values';
    depth = elements.length;
    element = elements.at(depth)!;
  }
  if (element.params === undefined) return 'malformed';
  const value = element.params[field];
  return value === undefined ? 'no-parameter' : { depth, value };
}

/** Forwarded elements parsed once per request, as deep as anything asks. */
class ForwardedCache {
  readonly empty: boolean;
  readonly #parsed: ForwardedElement[] = [];
  readonly #reader: ForwardedFromRight | undefined;
  #done = false;

  constructor(header: string | undefined) {
    this.empty = isBlank(header);
    this.#reader = this.empty ? undefined : new ForwardedFromRight(header!);
  }

  /** Element `depth` from the right (1-based), or `undefined` when there are fewer. */
  at(depth: number): ForwardedElement | undefined {
    while (this.#parsed.length < depth && !this.#done) {
      const element = this.#reader?.next();
      if (element === undefined) this.#done = true;
      else this.#parsed.push(element);
    }
    return this.#parsed[depth - 1];
  }

  /** How many elements have been parsed; after an `at` that returned `undefined`, all of them. */
  get length(): number {
    return this.#parsed.length;
  }
}

/** Whether every enabled header has as many values as the others (an absent header has none). */
function isSymmetric(env: GatewayEnv, counts: readonly number[]): boolean {
  let seen: number | undefined;
  for (let i = 0; i < X_FORWARDED.length; i++) {
    if (counts[i] === 0) continue;
    const header = env.headers[X_FORWARDED[i]!.header];
    let values = 0;
    if (!isBlank(header)) {
      const list = new ListFromRight(header!);
      while (list.next() !== undefined) values++;
    }
    if (seen === undefined) seen = values;
    else if (seen !== values) return false;
  }
  return true;
}

function settle(trace: FieldTrace, outcome: FieldOutcome, detail: string): void {
  trace.outcome = outcome;
  trace.used = outcome === 'used';
  trace.detail = detail;
}

/**
 * Wrap a gateway app so that it sees the client address, scheme, host, port and prefix the
 * trusted proxies reported.
 *
 * Given only options, returns the middleware for `compose`, validated already.
 *
 * @example
 * app.gatewayApp = proxyFix(app.gatewayApp, { xProto: 1, xHost: 1 });
 * // Two proxies on the private network, walked by address rather than counted:
 * app.gatewayApp = proxyFix(app.gatewayApp, { xFor: Infinity, xProto: 1, trusted: ['private'] });
 * // In a stack:
 * compose(trustGate({ trusted: ['private'] }), proxyFix({ xFor: 2 }))(app);
 */
export function proxyFix(app: GatewayApp, options?: ProxyFixOptions): GatewayApp;
export function proxyFix(options: ProxyFixOptions): Middleware;
export function proxyFix(app: GatewayApp | ProxyFixOptions, options: ProxyFixOptions = {}): GatewayApp | Middleware {
  if (typeof app === 'object' && app !== null && !Array.isArray(app) && !isAppObject(app)) {
    const fixer = compileProxyFix(app);
    return (inner: GatewayApp) => fixedApp(inner, fixer, app);
  }
  return fixedApp(app as GatewayApp, compileProxyFix(options), options);
}

/** A warning of each kind at most this often, per proxyFix. */
const WARNING_INTERVAL_MS = 60 * 60 * 1000;

function fixedApp(app: GatewayApp, fixer: CompiledProxyFix, options: ProxyFixOptions): GatewayApp {
  checkApp(app);
  const keepTrace = options.trace === true;
  const lastWarned = new Map<NoticeCode, number>();
  const notice: Notice | undefined = options.warnings === false ? undefined : (code, option, header, count, peer) => {
    const now = Date.now();
    if (now - (lastWarned.get(code) ?? -Infinity) < WARNING_INTERVAL_MS) return;
    lastWarned.set(code, now);
    process.emitWarning(code === 'PROXYFIX_UNTRUSTED_PEER'
      ? `proxyFix: a request from ${peer || 'a Unix socket'} carried ${header}, but that peer is not in \`trusted\`, ` +
        'so nothing was taken from it. If it is your proxy, add it; if not, a client reached the app directly.'
      : `proxyFix: ${option} is ${count}, but a request's ${header} had fewer values. Fewer proxies set it than ` +
        `${option} says; if that is how the deployment is, lower ${option}: a count above the real number lets clients choose the value.`,
    { code });
  };
  return function proxyFixed(env: GatewayEnv) {
    const trace = fixer.apply(env, keepTrace, notice);
    if (keepTrace) env.ext[TRACE] = trace;
    return app(env);
  };
}
