/**
 * proxyFix: put back the client address, scheme, host, port and path prefix that reverse proxies
 * report in `X-Forwarded-*` headers.
 *
 * Those headers are plain request headers: any client can send them, and most proxies append to
 * what the client sent rather than replacing it. So a value can only be believed if it was written
 * by a proxy in front of this app, and proxies write at the right end of each list. proxyFix counts
 * from the right, as many values per header as the deployment has proxies that set it — the same
 * counts as Werkzeug's `ProxyFix` — and leaves a field alone when its value does not parse.
 * Set a count higher than the real number of proxies and the client chooses the value; make the
 * app reachable without the proxy and the client chooses every value.
 */
import type { ForwardedField, FieldOutcome, FieldTrace, ProxyFixTrace } from '../explain.js';
import { type FixedField, type GatewayApp, type GatewayEnv, originalValue, setField, splitHostHeader } from '../gateway.js';
import { checkCount, configError, describe } from '../errors.js';
import { parseAddress } from '../net/address.js';
import { parseHost } from '../net/host.js';
import { isBlank, itemFromRight } from '../net/list.js';
import { defaultPort, parsePort } from '../net/port.js';
import { parsePrefix } from '../net/prefix.js';
import { DEFAULT_SCHEMES, parseScheme } from '../net/scheme.js';

export interface ProxyFixOptions {
  /**
   * How many values of `X-Forwarded-For` to count from the right: the number of proxies that append
   * to it. Werkzeug's `x_for`.
   * @default 1
   */
  xFor?: number;
  /**
   * How many values of `X-Forwarded-Proto` to count from the right. Werkzeug's `x_proto`.
   * @default 1
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
   * @default 0
   */
  xPrefix?: number;
  /**
   * Schemes `X-Forwarded-Proto` may set, compared without regard to case.
   * @default ['http', 'https', 'ws', 'wss']
   */
  schemes?: readonly string[];
  /**
   * Store the decision trace in `env.ext["proxyfix.trace"]` for the app to read.
   * @default false
   */
  trace?: boolean;
}

/** `env.ext[FIXED]` is set once a proxyFix has fixed the request, so a second one changes nothing. */
export const FIXED = 'proxyfix.fixed';
/** `env.ext[TRACE]` holds the trace when the `trace` option is on. */
export const TRACE = 'proxyfix.trace';

interface FieldRule {
  field: ForwardedField;
  option: 'xFor' | 'xProto' | 'xHost' | 'xPort' | 'xPrefix';
  header: string;
}

/** In the order Werkzeug applies them: a port rewrites the host a forwarded host has set. */
const FIELDS: readonly FieldRule[] = [
  { field: 'for', option: 'xFor', header: 'x-forwarded-for' },
  { field: 'proto', option: 'xProto', header: 'x-forwarded-proto' },
  { field: 'host', option: 'xHost', header: 'x-forwarded-host' },
  { field: 'port', option: 'xPort', header: 'x-forwarded-port' },
  { field: 'prefix', option: 'xPrefix', header: 'x-forwarded-prefix' },
];

const DEFAULT_COUNTS = { xFor: 1, xProto: 1, xHost: 0, xPort: 0, xPrefix: 0 };

const KNOWN_OPTIONS = new Set<string>([...Object.keys(DEFAULT_COUNTS), 'schemes', 'trace']);

export interface Resolution {
  trace: ProxyFixTrace;
  /** Whether the env already carried a proxyFix's mark; then nothing is written. */
  alreadyFixed: boolean;
}

export interface CompiledProxyFix {
  /** Decide every field for `env` without changing it. */
  resolve(env: GatewayEnv): Resolution;
  /** Decide and write; returns the trace. */
  apply(env: GatewayEnv): ProxyFixTrace;
}

/** Validate options once and return the per-request resolver. */
export function compileProxyFix(options: ProxyFixOptions = {}): CompiledProxyFix {
  if (typeof options !== 'object' || options === null) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', key, 'is not a proxyFix option');
    }
  }
  const counts = FIELDS.map((rule) => {
    const given = options[rule.option];
    return given === undefined ? DEFAULT_COUNTS[rule.option] : checkCount(rule.option, given, false);
  });
  const schemes = checkSchemes(options.schemes);
  if (options.trace !== undefined && typeof options.trace !== 'boolean') {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'trace', `must be a boolean, got ${describe(options.trace)}`);
  }

  function resolve(env: GatewayEnv): Resolution {
    const alreadyFixed = env.ext[FIXED] === true;
    const changed: Partial<Record<FixedField, string>> = {};
    const fields: FieldTrace[] = [];
    let hostSetWithoutPort = false;
    let portSet = false;
    let hostName: string | undefined;

    for (let i = 0; i < FIELDS.length; i++) {
      const rule = FIELDS[i]!;
      const count = counts[i]!;
      const trace: FieldTrace = {
        field: rule.field,
        option: rule.option,
        header: rule.header,
        count,
        depth: null,
        value: null,
        used: false,
        outcome: 'disabled',
        detail: '',
      };
      fields.push(trace);
      if (count === 0) {
        trace.detail = `${rule.option} is 0: ${rule.header} is not read`;
        continue;
      }
      const header = env.headers[rule.header];
      if (isBlank(header)) {
        settle(trace, 'absent', `no ${rule.header} header`);
        continue;
      }
      const raw = itemFromRight(header!, count);
      if (raw === undefined) {
        settle(trace, 'too-few-values',
          `${rule.option} is ${count} but ${rule.header} has fewer values: fewer proxies than configured, or one skipped`);
        continue;
      }
      trace.depth = count;
      trace.value = raw;
      if (alreadyFixed) {
        settle(trace, 'already-fixed', 'an earlier proxyFix already fixed this request');
        continue;
      }
      switch (rule.field) {
        case 'for': {
          const address = parseAddress(raw);
          if (address === undefined) break;
          changed.remoteAddr = address.address;
          changed.remotePort = address.port;
          settle(trace, 'used', `client address ${address.address}`);
          continue;
        }
        case 'proto': {
          const scheme = parseScheme(raw, schemes);
          if (scheme === undefined) break;
          changed.scheme = scheme;
          settle(trace, 'used', `scheme ${scheme}`);
          continue;
        }
        case 'host': {
          const host = parseHost(raw);
          if (host === undefined) break;
          changed.host = host.host;
          changed.serverName = host.name;
          hostName = host.name;
          if (host.port !== '') changed.serverPort = host.port;
          hostSetWithoutPort = host.port === '';
          settle(trace, 'used', `host ${host.host}`);
          continue;
        }
        case 'port': {
          if (parsePort(raw) === undefined) break;
          const host = changed.host ?? env.host;
          if (host !== '') changed.host = `${hostName ?? splitHostHeader(host).name}:${raw}`;
          changed.serverPort = raw;
          portSet = true;
          settle(trace, 'used', `port ${raw}`);
          continue;
        }
        case 'prefix': {
          const prefix = parsePrefix(raw);
          if (prefix === undefined) break;
          changed.scriptName = prefix;
          settle(trace, 'used', `prefix ${JSON.stringify(prefix)}`);
          continue;
        }
      }
      settle(trace, 'invalid', `${JSON.stringify(raw)} is not a valid ${rule.field} value; left unchanged`);
    }
    // Werkzeug keeps the app server's own port here, which no client used; the scheme tells the real one.
    if (hostSetWithoutPort && !portSet) changed.serverPort = defaultPort(changed.scheme ?? env.scheme);

    return {
      alreadyFixed,
      trace: { family: 'x-forwarded', peer: originalValue(env, 'remoteAddr'), peerTrusted: null, fields, changed },
    };
  }

  return {
    resolve,
    apply(env) {
      const { trace, alreadyFixed } = resolve(env);
      if (!alreadyFixed) {
        for (const [field, value] of Object.entries(trace.changed) as [FixedField, string][]) {
          setField(env, field, value);
        }
        env.ext[FIXED] = true;
      }
      return trace;
    },
  };
}

function settle(trace: FieldTrace, outcome: FieldOutcome, detail: string): void {
  trace.outcome = outcome;
  trace.used = outcome === 'used';
  trace.detail = detail;
}

function checkSchemes(schemes: unknown): readonly string[] {
  if (schemes === undefined) return DEFAULT_SCHEMES;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'schemes', `must be a non-empty array of scheme names, got ${describe(schemes)}`);
  }
  return schemes.map((scheme, i) => {
    if (typeof scheme !== 'string' || !/^[a-z][a-z0-9+.-]*$/i.test(scheme)) {
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', `schemes[${i}]`, `must be a URI scheme name, got ${describe(scheme)}`);
    }
    return scheme.toLowerCase();
  });
}

/**
 * Wrap a gateway app so that it sees the client address, scheme, host, port and prefix the
 * trusted proxies reported.
 *
 * @example
 * app.gatewayApp = proxyFix(app.gatewayApp, { xProto: 1, xHost: 1 });
 */
export function proxyFix(app: GatewayApp, options: ProxyFixOptions = {}): GatewayApp {
  if (typeof app !== 'function') {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'app', `must be a gateway app (a function), got ${describe(app)}`);
  }
  const fixer = compileProxyFix(options);
  const keepTrace = options.trace === true;
  return function proxyFixed(env: GatewayEnv) {
    const trace = fixer.apply(env);
    if (keepTrace) env.ext[TRACE] = trace;
    return app(env);
  };
}
