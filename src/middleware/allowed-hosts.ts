/**
 * allowedHosts: answer only for the host names this app serves (Django's ALLOWED_HOSTS).
 *
 * The host a request names ends up in the links the app builds — password-reset mails, redirects,
 * canonical URLs — and in cache keys. A client that chooses it (in `Host`, or in
 * `X-Forwarded-Host` behind a fixer that trusts too far) poisons those (ASP.NET CVE-2018-0787,
 * Rails CVE-2021-22881). An allow-list stops that, provided it checks the host the app will really
 * use, so it belongs after the fixers; and provided the host it checks is well-formed: a value with
 * characters a matcher skips over but a browser does not can pass a list and still name another
 * host (Rack CVE-2026-34835). So the host is parsed with the same strict rules as a forwarded host
 * first, and anything that does not parse is refused.
 *
 * Patterns are compiled once into a map of exact names and a map of wildcard suffixes, so a request
 * costs one lookup per label of its host name, whatever the length of the list.
 */
import { SocketAddress } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { refusal, type GatewayApp, type GatewayEnv, type Middleware } from '../gateway.js';
import { checkBoolean, checkOptions, configError, describe } from '../options.js';
import { bothForms } from '../app-kind.js';
import { isIPv4Address } from '../net/address.js';
import { parseHost } from '../net/host.js';
import { defaultPort } from '../net/port.js';

export interface AllowedHostsOptions {
  /**
   * The hosts to answer for: `example.com` (any case, a trailing dot ignored), `*.example.com`
   * (every sub-domain at any depth, but not `example.com` itself: list both), `192.0.2.1`,
   * `[2001:db8::1]`, Unicode names (`bücher.example`), each with an optional `:port`. Without a port
   * any port matches; a request without one has its scheme's (80 or 443).
   */
  hosts: readonly string[];
  /**
   * The status a request for another host gets.
   * @default 400
   */
  status?: number;
  /**
   * Store the decision in `env.ext["proxyfix.host"]`.
   * @default false
   */
  trace?: boolean;
}

/** What `env.ext[HOST_CHECK]` holds when the `trace` option is on. */
export interface HostCheckTrace {
  /** The host checked, as the app sees it. */
  host: string;
  /** The name it was matched as: lower case, punycode, no trailing dot; `null` when it does not parse. */
  name: string | null;
  /** The port matched: the host's own, or the scheme's; `null` when the host does not parse. */
  port: string | null;
  allowed: boolean;
  /** The entry of `hosts` that matched; `null` when none did. */
  pattern: string | null;
  /** One plain-language sentence. */
  detail: string;
}

export const HOST_CHECK = 'proxyfix.host';

declare module '../gateway.js' {
  interface GatewayExt {
    /** allowedHosts' decision, when its `trace` option is on (`HOST_CHECK`). */
    'proxyfix.host'?: HostCheckTrace;
  }
}

const KNOWN_OPTIONS = new Set(['hosts', 'status', 'trace']);
/** Characters of a name before IDNA mapping: ASCII name characters, or any non-ASCII one. */
const NAME_OR_UNICODE = /^[A-Za-z0-9_.\u0080-\u{10FFFF}-]+$/u;
const NON_ASCII = /[^\0-\x7f]/;
/**
 * The longest Host worth converting, in UTF-16 code units: a name is at most 253 characters in
 * punycode, and its Unicode spelling at most twice that in code units (a label of astral characters),
 * plus brackets and a port.
 */
const MAX_HOST_LENGTH = 2 * 253 + 8;

/** Where a name is allowed: any port (`null`), or these ports; and the pattern that allowed each. */
interface PortRule {
  anyPort: string | null;
  ports: Map<string, string>;
}

function addRule(rules: Map<string, PortRule>, name: string, port: string, pattern: string): void {
  let rule = rules.get(name);
  if (rule === undefined) {
    rule = { anyPort: null, ports: new Map() };
    rules.set(name, rule);
  }
  if (port === '') rule.anyPort ??= pattern;
  else if (!rule.ports.has(port)) rule.ports.set(port, pattern);
}

function matchRule(rule: PortRule | undefined, port: string): string | undefined {
  if (rule === undefined) return undefined;
  return rule.anyPort ?? rule.ports.get(port);
}

/**
 * A Unicode name in punycode, or `undefined` when it does not map. `strict` also refuses a name
 * that is not already in the form IDNA maps it to (full-width letters, soft hyphens, decomposed
 * accents): the app would see a different string from the one that was checked.
 */
function punycode(name: string, strict: boolean): string | undefined {
  // domainToASCII parses a URL host, so `a/b` would come back as `a`: check the characters first.
  if (!NAME_OR_UNICODE.test(name)) return undefined;
  const ascii = domainToASCII(name);
  if (ascii === '' || (strict && domainToUnicode(ascii) !== name.toLowerCase())) return undefined;
  return ascii;
}

/**
 * Split a host (a request's or a pattern) into the name it is compared as — lower case, punycode,
 * no trailing dot, one spelling per IPv6 address — and its port; `undefined` when it is not valid.
 */
function splitHost(value: string, strict: boolean): { name: string; port: string } | undefined {
  let text = value;
  if (NON_ASCII.test(value)) {
    // A name cannot hold a colon, so the first one starts the port (an IPv6 literal fails the name check).
    const colon = value.indexOf(':');
    const ascii = punycode(colon === -1 ? value : value.slice(0, colon), strict);
    if (ascii === undefined) return undefined;
    text = colon === -1 ? ascii : ascii + value.slice(colon);
  }
  const parsed = parseHost(text);
  if (parsed === undefined) return undefined;
  let name = parsed.name;
  if (name.charCodeAt(0) === 91 /* [ */) {
    // `[2001:DB8:0::1]` and `[2001:db8::1]` are one host. SocketAddress formats with the same C
    // library node:net validated with, so it takes whatever parseHost took.
    name = `[${new SocketAddress({ address: name.slice(1, -1), family: 'ipv6' }).address}]`;
  } else {
    name = name.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
  }
  return { name, port: parsed.port };
}

interface CompiledHosts {
  check(env: GatewayEnv): HostCheckTrace;
  status: number;
  keepTrace: boolean;
}

function compileHosts(input: unknown): CompiledHosts {
  const options = (Array.isArray(input) ? { hosts: input } : input) as AllowedHostsOptions;
  checkOptions(options, KNOWN_OPTIONS, 'allowedHosts');
  checkBoolean('trace', options.trace);
  const hosts: unknown = options.hosts;
  if (!Array.isArray(hosts)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'hosts', `must be an array of host patterns, got ${describe(hosts)}`);
  }
  if (hosts.length === 0) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'hosts', 'must list at least one host: an empty list refuses every request');
  }
  const status = options.status ?? 400;
  if (typeof status !== 'number') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'status', `must be a 4xx status code, got ${describe(status)}`);
  }
  if (!Number.isInteger(status) || status < 400 || status > 499) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'status', `must be a 4xx status code, got ${describe(status)}`);
  }

  const exact = new Map<string, PortRule>();
  const wildcard = new Map<string, PortRule>();
  hosts.forEach((pattern: unknown, i) => {
    const option = `hosts[${i}]`;
    const bad = (why: string) => configError('ERR_PROXYFIX_HOST_PATTERN', option, why);
    if (typeof pattern !== 'string') throw bad(`must be a string, got ${describe(pattern)}`);
    const isWildcard = pattern.startsWith('*.');
    const split = splitHost(isWildcard ? pattern.slice(2) : pattern, false);
    if (split === undefined) {
      throw bad(`${JSON.stringify(pattern)} is not a host pattern: a name, *.name, an IPv4 address or a bracketed IPv6 address, with an optional :port` +
        (pattern === '*' ? ' (to allow every host, leave allowedHosts out)' : ''));
    }
    if (isWildcard && (split.name.startsWith('[') || isIPv4Address(split.name))) {
      throw bad(`${JSON.stringify(pattern)} puts a wildcard on an IP address; list the address itself`);
    }
    addRule(isWildcard ? wildcard : exact, split.name, split.port, pattern);
  });

  function check(env: GatewayEnv): HostCheckTrace {
    // What the app builds URLs from: the Host header, or the server's own name and port without one.
    const host = env.host !== '' ? env.host : `${env.serverName}:${env.serverPort}`;
    // Before any conversion: IDNA mapping costs in proportion to the text, and the text is the client's.
    if (host.length > MAX_HOST_LENGTH) {
      return { host, name: null, port: null, allowed: false, pattern: null, detail: `a Host of ${host.length} characters is longer than any host; refused` };
    }
    const split = splitHost(host, true);
    if (split === undefined) {
      return { host, name: null, port: null, allowed: false, pattern: null, detail: `${JSON.stringify(host)} is not a valid host; refused` };
    }
    const { name } = split;
    const port = split.port !== '' ? split.port : defaultPort(env.scheme);
    let pattern = matchRule(exact.get(name), port);
    if (pattern === undefined && wildcard.size > 0 && !name.startsWith('[') && !isIPv4Address(name)) {
      // Every proper suffix of the name, longest first: `a.b.example.com` tries `b.example.com`,
      // `example.com`, `com`. The name itself is never tried, so `*.example.com` does not match it.
      for (let dot = name.indexOf('.'); dot !== -1 && pattern === undefined; dot = name.indexOf('.', dot + 1)) {
        pattern = matchRule(wildcard.get(name.slice(dot + 1)), port);
      }
    }
    return pattern === undefined
      ? { host, name, port, allowed: false, pattern: null, detail: `no entry of hosts allows ${name} on port ${port}; refused` }
      : { host, name, port, allowed: true, pattern, detail: `allowed by ${JSON.stringify(pattern)}` };
  }

  return {
    check,
    status,
    keepTrace: options.trace === true,
  };
}

/**
 * Wrap a gateway app so that it sees only requests for the listed hosts; others are answered with a
 * 400 and a short plain-text body. Put it after the fixers: it checks `env.host` as they left it.
 *
 * Also callable as `allowedHosts(hosts)` or `allowedHosts(options)`, which return a middleware for
 * `compose`.
 *
 * @example
 * app.gatewayApp = allowedHosts(app.gatewayApp, ['example.com', '*.example.com', 'localhost:8000']);
 */
export function allowedHosts(hosts: readonly string[] | AllowedHostsOptions): Middleware;
export function allowedHosts(app: GatewayApp, hosts: readonly string[] | AllowedHostsOptions): GatewayApp;
export function allowedHosts(
  appOrHosts: GatewayApp | readonly string[] | AllowedHostsOptions,
  hosts?: readonly string[] | AllowedHostsOptions,
): GatewayApp | Middleware {
  return bothForms((input: unknown) => {
    const compiled = compileHosts(input);
    return (app) => function hostsAllowed(env: GatewayEnv) {
      const decision = compiled.check(env);
      if (compiled.keepTrace) env.ext[HOST_CHECK] = decision;
      if (decision.allowed) return app(env);
      return refusal(compiled.status, 'this server does not answer for the requested host');
    };
  }, appOrHosts, hosts);
}
