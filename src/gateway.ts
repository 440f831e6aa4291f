/**
 * The gateway contract: proxyfix's equivalent of Python's WSGI.
 *
 * A request is a plain, mutable environment object that belongs to that request, and an app is a
 * function from an environment to a response. Every middleware is written once against this, and
 * the adapters translate node:http and fetch handlers to and from it.
 */
import { describe, isToken } from './options.js';

export interface GatewayEnv {
  /** Request method, upper case as sent: `"GET"`. */
  method: string;
  /** `"http"` or `"https"` (or `"ws"`, `"wss"`). Like WSGI's `wsgi.url_scheme`. */
  scheme: string;
  /** The Host header as sent, `"example.com:8080"`; `""` when absent. Like `HTTP_HOST`. */
  host: string;
  /** The host name the request was addressed to. Like `SERVER_NAME`. */
  serverName: string;
  /** The port as a decimal string. Like `SERVER_PORT`. */
  serverPort: string;
  /** The mount prefix: `""` or `"/app"`, never a trailing slash. Like `SCRIPT_NAME`. */
  scriptName: string;
  /** The path below the prefix: `"/users/1"`. Like `PATH_INFO`. */
  pathInfo: string;
  /** The query without `?`; `""` when none. Like `QUERY_STRING`. */
  queryString: string;
  /** The client address, without port or brackets. Like `REMOTE_ADDR`. */
  remoteAddr: string;
  /** The client port; `""` when unknown. Like `REMOTE_PORT`. */
  remotePort: string;
  /** Lower-case names; repeated lines joined with `", "` in the order received (Cookie lines with `"; "`). */
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
  /** Servers' and middlewares' own data (JSGI's `env`), typed through `GatewayExt`. */
  ext: GatewayExt;
}

/**
 * What `env.ext` holds. proxyfix's modules each add the keys they write (`proxyfix.trace`,
 * `node.request`, …) by augmenting this interface, and an app or server can do the same for its
 * own, as Hono's `ContextVariableMap` allows:
 *
 * @example
 * declare module 'proxyfix' {
 *   interface GatewayExt { 'myapp.user'?: { id: string } }
 * }
 */
export interface GatewayExt {
  /** Each replaced field's value before the first middleware replaced it (`ORIGINALS`). */
  'proxyfix.orig'?: Originals;
  /** Set once a proxyFix has fixed the request (`FIXED`). */
  'proxyfix.fixed'?: true;
  [key: string | symbol]: unknown;
}

export interface GatewayResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array | AsyncIterable<Uint8Array>;
}

export type GatewayApp = (env: GatewayEnv) => GatewayResponse | Promise<GatewayResponse>;

/** Wraps an app in another: what every middleware factory returns when given only its options. */
export type Middleware = (app: GatewayApp) => GatewayApp;

/** A gateway app, or an object whose `gatewayApp` is read on every request. */
export interface GatewayHolder {
  gatewayApp: GatewayApp;
}

/** The env fields a middleware may replace; the keys of the originals record. */
export type FixedField =
  | 'remoteAddr'
  | 'remotePort'
  | 'scheme'
  | 'host'
  | 'serverName'
  | 'serverPort'
  | 'scriptName';

/**
 * The fields that say where a request came from and what it asked for: what the inspection app,
 * the probe and the chain picture show, before and after fixing.
 */
export const REQUEST_FIELDS = ['remoteAddr', 'remotePort', 'scheme', 'host', 'serverName', 'serverPort', 'scriptName', 'pathInfo', 'queryString'] as const;
export type RequestField = (typeof REQUEST_FIELDS)[number];

/** `env.ext[ORIGINALS]`: each replaced field's value before the first middleware replaced it. */
export const ORIGINALS = 'proxyfix.orig';

export type Originals = Partial<Record<FixedField, string>>;

/** `env.ext[FIXED]` is set once a proxyFix has fixed the request, so a second one changes nothing. */
export const FIXED = 'proxyfix.fixed';

/**
 * Whether a middleware has put forwarded values into `env`: a proxyFix has run, or a field was
 * replaced. From then on the forwarding headers are spent; the adapters keep frameworks from
 * reading them a second time.
 */
export function isFixed(env: GatewayEnv): boolean {
  return env.ext[FIXED] === true || env.ext[ORIGINALS] !== undefined;
}

/** The headers proxyFix reads, spent once it has run; frameworks read the same ones for their own proxy settings. */
const SPENT_HEADERS: ReadonlySet<string> = new Set([
  'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix',
]);

/**
 * Whether an adapter shows header `name` to the app it wraps: not once a fix has been made and it
 * is a forwarding header. Its trustworthy part is in the fields by then; what is left is what a
 * client may have written, and a framework's own proxy setting (Express's `trust proxy`, Koa's
 * `proxy`) would read it a second time and undo the fix. The env keeps it, for `explain`.
 */
export function shownToApp(env: GatewayEnv, name: string): boolean {
  return !SPENT_HEADERS.has(name) || !isFixed(env);
}

/** The value `field` had before any middleware replaced it. */
export function originalValue(env: GatewayEnv, field: FixedField): string {
  return env.ext[ORIGINALS]?.[field] ?? env[field];
}

const emptyBody: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

/**
 * `previous` (the lines of header `name` so far, or `undefined`) with one more line. Lines are
 * joined with ", ", as a list header allows; Cookie lines with "; ", as RFC 6265 5.4 joins them (a
 * comma would make two cookies one value). node and undici join them the same way.
 */
export function joinHeaderLine(name: string, previous: string | undefined, line: string): string {
  if (previous === undefined) return line;
  return `${previous}${name === 'cookie' ? '; ' : ', '}${line}`;
}

/** What `createEnv` accepts: any env field, plus a URL-ish `url` and headers in any case. */
export interface EnvInit extends Partial<Omit<GatewayEnv, 'headers'>> {
  /** `"/path?query"` sets `pathInfo` and `queryString`. */
  url?: string;
  /** Names in any case; an array stands for repeated header lines. */
  headers?: Record<string, string | string[]>;
}

/**
 * Build an env the way a server would, for tests and for calling an app directly. Host-derived
 * fields follow the Host header; everything has a sensible default (a GET from 127.0.0.1 to
 * `localhost:80`).
 */
export function createEnv(init: EnvInit = {}): GatewayEnv {
  // No prototype, as the adapters build theirs: a header named `__proto__` is a header like any other.
  const headers = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    const key = name.toLowerCase();
    for (const line of Array.isArray(value) ? value : [value]) headers[key] = joinHeaderLine(key, headers[key], line);
  }
  const scheme = init.scheme ?? 'http';
  const host = init.host ?? headers.host ?? '';
  const split = splitHostHeader(host);
  let pathInfo = init.pathInfo ?? '/';
  let queryString = init.queryString ?? '';
  if (init.url !== undefined) {
    const q = init.url.indexOf('?');
    pathInfo = q === -1 ? init.url : init.url.slice(0, q);
    queryString = q === -1 ? '' : init.url.slice(q + 1);
  }
  return {
    method: init.method ?? 'GET',
    scheme,
    host,
    serverName: init.serverName ?? (split.name || 'localhost'),
    serverPort: init.serverPort ?? (split.port || (scheme === 'https' || scheme === 'wss' ? '443' : '80')),
    scriptName: init.scriptName ?? '',
    pathInfo,
    queryString,
    remoteAddr: init.remoteAddr ?? '127.0.0.1',
    remotePort: init.remotePort ?? '',
    headers,
    body: init.body ?? emptyBody,
    ext: init.ext ?? {},
  };
}

/**
 * The URL the client asked for, as the env now says: scheme, host (or server name and port when
 * there is no Host), prefix, path and query. After proxyFix, the public URL.
 *
 * @example
 * requestUrl(env); // "https://example.com/app/users/1?x=1"
 */
export function requestUrl(
  env: Pick<GatewayEnv, 'scheme' | 'host' | 'serverName' | 'serverPort' | 'scriptName' | 'pathInfo' | 'queryString'>,
): string {
  const authority = env.host || `${env.serverName}:${env.serverPort}`;
  return `${env.scheme}://${authority}${env.scriptName}${env.pathInfo}${env.queryString ? `?${env.queryString}` : ''}`;
}

/** Split a Host value into name and port without validating it; IPv6 literals keep their brackets. */
export function splitHostHeader(host: string): { name: string; port: string } {
  const colon = host.lastIndexOf(':');
  if (colon === -1 || host.endsWith(']') || (host[0] !== '[' && host.indexOf(':') !== colon)) {
    return { name: host, port: '' };
  }
  return { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

const stringFields = [
  'method',
  'scheme',
  'host',
  'serverName',
  'serverPort',
  'scriptName',
  'pathInfo',
  'queryString',
  'remoteAddr',
  'remotePort',
];

/**
 * Every way `env` breaks the contract, as readable sentences; an empty list means it is sound.
 * Meant for tests and for adapter authors, not for the per-request path.
 */
export function lintEnv(env: unknown): string[] {
  const problems: string[] = [];
  if (typeof env !== 'object' || env === null) return ['env is not an object'];
  const e = env as Record<string, unknown>;
  for (const field of stringFields) {
    if (typeof e[field] !== 'string') problems.push(`${field} is not a string`);
  }
  if (typeof e.method === 'string' && !isToken(e.method)) {
    problems.push(`method ${JSON.stringify(e.method)} is not an HTTP token`);
  }
  if (typeof e.scheme === 'string' && !/^[a-z][a-z0-9+.-]*$/.test(e.scheme)) {
    problems.push(`scheme ${JSON.stringify(e.scheme)} is not a lower-case URI scheme`);
  }
  if (typeof e.serverPort === 'string' && !/^\d+$/.test(e.serverPort)) {
    problems.push(`serverPort ${JSON.stringify(e.serverPort)} is not a decimal number`);
  }
  if (typeof e.remotePort === 'string' && !/^\d*$/.test(e.remotePort)) {
    problems.push(`remotePort ${JSON.stringify(e.remotePort)} is neither a decimal number nor ""`);
  }
  if (typeof e.scriptName === 'string' && e.scriptName !== '' &&
      (!e.scriptName.startsWith('/') || e.scriptName.endsWith('/'))) {
    problems.push(`scriptName ${JSON.stringify(e.scriptName)} must be "" or start with / and not end with /`);
  }
  if (typeof e.pathInfo === 'string' && e.pathInfo !== '' && !e.pathInfo.startsWith('/')) {
    problems.push(`pathInfo ${JSON.stringify(e.pathInfo)} must be "" or start with /`);
  }
  if (typeof e.queryString === 'string' && e.queryString.startsWith('?')) {
    problems.push('queryString must not start with ?');
  }
  if (typeof e.remoteAddr === 'string' && /[[\]]/.test(e.remoteAddr)) {
    problems.push(`remoteAddr ${JSON.stringify(e.remoteAddr)} must not carry brackets`);
  }
  if (typeof e.headers !== 'object' || e.headers === null) {
    problems.push('headers is not an object');
  } else {
    for (const [name, value] of Object.entries(e.headers)) {
      if (name !== name.toLowerCase()) problems.push(`header name ${JSON.stringify(name)} is not lower case`);
      if (typeof value !== 'string') problems.push(`header ${JSON.stringify(name)} is not a string`);
    }
  }
  const body = e.body as { [Symbol.asyncIterator]?: unknown } | undefined;
  if (typeof body?.[Symbol.asyncIterator] !== 'function') problems.push('body is not an async iterable');
  if (typeof e.ext !== 'object' || e.ext === null) problems.push('ext is not an object');
  return problems;
}

/**
 * Whether a value is a WHATWG `Response`, of any realm or library: one with a numeric `status`
 * and the body methods. Its `headers` are not read: @hono/node-server's light Response builds a
 * Headers object when they are, and then leaves its own fast path for writing the response.
 */
export function isFetchResponse(value: unknown): value is Response {
  const response = value as { status?: unknown; arrayBuffer?: unknown } | null;
  return typeof response?.arrayBuffer === 'function' && typeof response.status === 'number';
}

/**
 * Throw the error every adapter gives when an app returns something that is not a response, naming
 * the usual causes: a factory that was not called (`module:createApp` for `module:createApp()`),
 * and a fetch handler served as a gateway app (it returns a WHATWG `Response`).
 */
export function checkResponse(response: unknown): asserts response is GatewayResponse {
  if (typeof (response as Partial<GatewayResponse> | null)?.status !== 'number') {
    throw new TypeError(`the app returned ${describe(response)}, not a response { status, headers?, body? }` +
      (typeof response === 'function' ? '; is it a factory that should have been called?' : ''));
  }
  if (isFetchResponse(response)) {
    throw new TypeError('the app returned a fetch Response: it is a fetch handler, not a gateway app; ' +
      'wrap it with fromFetchHandler(handler), or serve it with --interface fetch');
  }
}

/** Every way `response` breaks the contract; an empty list means it is sound. */
export function lintResponse(response: unknown): string[] {
  if (typeof response !== 'object' || response === null) return ['response is not an object'];
  const r = response as Record<string, unknown>;
  const problems: string[] = [];
  if (!Number.isInteger(r.status) || (r.status as number) < 100 || (r.status as number) > 999) {
    problems.push(`status ${String(r.status)} is not an integer from 100 to 999`);
  }
  if (r.headers !== undefined) {
    if (typeof r.headers !== 'object' || r.headers === null) {
      problems.push('headers is not an object');
    } else {
      for (const [name, value] of Object.entries(r.headers)) {
        if (!isToken(name)) problems.push(`header name ${JSON.stringify(name)} is not a token`);
        const values = Array.isArray(value) ? value : [value];
        for (const v of values) {
          if (typeof v !== 'string') problems.push(`header ${JSON.stringify(name)} has a value that is not a string`);
          else if (/[\r\n\0]/.test(v)) problems.push(`header ${JSON.stringify(name)} has CR, LF or NUL in its value`);
        }
      }
    }
  }
  const body = r.body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) &&
      typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
    problems.push('body is neither a string, a Uint8Array nor an async iterable');
  }
  return problems;
}

/** Reason phrases of the client errors a middleware may answer with, as node:http words them. */
const CLIENT_ERRORS: Readonly<Record<number, string>> = {
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Payload Too Large',
  414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed',
  418: "I'm a Teapot", 421: 'Misdirected Request', 422: 'Unprocessable Entity', 423: 'Locked', 424: 'Failed Dependency',
  425: 'Too Early', 426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large', 451: 'Unavailable For Legal Reasons',
};

/**
 * A middleware's refusal: plain text that says what to fix, never echoing what the client sent
 * (the body may be shown as a page). Each call returns a fresh object: the app owns its response.
 */
export function refusal(status: number, sentence: string): GatewayResponse {
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
    body: `${CLIENT_ERRORS[status] ?? 'Client Error'}: ${sentence}\n`,
  };
}
