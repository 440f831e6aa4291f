/**
 * What `serve` accepts and what it gives back: its options, their defaults, and the checks that
 * turn them into settings once, before anything listens. A wrong option is a configuration error
 * naming the option, so `proxyfix serve` can report it with exit status 2 instead of failing later.
 *
 * Both the in-process server (serve.ts) and the cluster primary (workers.ts) start from these
 * settings and resolve the same `RunningServer`, which is why this module depends on neither.
 */
import type http from 'node:http';
import net from 'node:net';
import type { AppInterface } from '../adapters/interface.js';
import { compilePeerTrust, compileTrust, type TrustInput } from '../net/trust.js';
import { checkBoolean, checkInteger, checkOptions, configError, describe, MAX_TIMER_MS } from '../options.js';
import { logWriter, type LogSink } from './access-log.js';

export interface ServeOptions {
  /**
   * What kind of app is given. `auto` tells from its shape: an object with `fetch` is a fetch
   * handler, a function of two or more arguments (or an Express, Connect, Koa or Fastify app) a
   * node:http listener, any other function a gateway app. Name it for a one-argument fetch handler.
   * @default "auto"
   */
  interface?: AppInterface;
  /**
   * Addresses to listen on: `"host:port"` (`"0.0.0.0:8000"`, `"[::1]:8000"`; port 0 picks a free
   * one) or `"unix:/path/to.sock"`. A stale socket file left by a killed server is replaced.
   * @default "127.0.0.1:8000"
   */
  bind?: string | readonly string[];
  /**
   * Worker processes (node:cluster). 0 serves in this process. With workers, the calling script
   * runs again in every worker, which then serves; the primary only watches over them.
   * @default 0
   */
  workers?: number;
  /**
   * Milliseconds an idle keep-alive connection is kept open. Keep it above the proxy's own idle
   * timeout for upstream connections (nginx `keepalive_timeout` in an upstream block). 0 turns
   * keep-alive off, as nginx's `keepalive_timeout 0` does: every response closes its connection.
   * @default 5000
   */
  keepAliveTimeout?: number;
  /**
   * Milliseconds a client has to send the complete request headers; slower clients get a 408.
   * @default 60000
   */
  headersTimeout?: number;
  /**
   * Milliseconds a client has to send the complete request, body included; 0 for no limit.
   * @default 300000
   */
  requestTimeout?: number;
  /**
   * Largest request head (request line and headers) in bytes; larger ones get a 431.
   * @default 16384
   */
  maxHeaderSize?: number;
  /**
   * Most header lines in a request; more get a 431. node itself keeps only its first 1,000 lines and
   * drops the rest without a word, which can drop a proxy's X-Forwarded-For written after a
   * client's lines: no request reaches the app with a line missing. 200 is twice the limit of
   * Apache httpd, gunicorn and HAProxy (100, 100, 101): no browser or proxy chain comes near it.
   * @default 200
   */
  maxHeaderLines?: number;
  /**
   * Milliseconds the app has to start its answer, from the request's arrival; past it the client
   * gets a 503 with `Connection: close`, the log says so, and the server carries on. While the
   * request body is still arriving the time starts again (`requestTimeout` bounds slow uploads).
   * The default is nginx's `proxy_read_timeout`; 0 for no limit.
   * @default 60000
   */
  responseTimeout?: number;
  /**
   * Most connections open at once, per address (and per worker). Connections beyond it are
   * refused: closed at once, which a proxy reads as "try another upstream".
   * @default Infinity
   */
  maxConnections?: number;
  /**
   * Milliseconds `close()` waits for in-flight requests before it closes their connections.
   * @default 30000
   */
  drainTimeout?: number;
  /**
   * Where the access log goes, one line per request in the combined log format, with the client
   * address as the app saw it (after proxyFix).
   * @default process.stdout
   */
  accessLog?: LogSink;
  /**
   * Where the server's own messages go: start-up, worker restarts, app errors.
   * @default process.stderr
   */
  log?: LogSink;
  /**
   * Milliseconds before a dead worker is replaced. The delay doubles for each worker in a row that
   * dies before it has served `maxRestartDelay`, up to `maxRestartDelay`.
   * @default 100
   */
  restartDelay?: number;
  /**
   * The longest delay before replacing a dead worker; a worker that served at least this long
   * (from the moment it listened) counts as healthy, and its replacement starts after
   * `restartDelay` again.
   * @default 10000
   */
  maxRestartDelay?: number;
  /**
   * Read a PROXY protocol header (version 1 or 2) at the start of each connection, as a layer-4
   * load balancer sends it (AWS NLB, HAProxy `send-proxy-v2`, nginx `stream` with `proxy_protocol on`):
   * its client address becomes the request's `remoteAddr` and `remotePort`, and the header, with the
   * connection's own peer, is in `env.ext["proxyfix.proxyProtocol"]`. Only the peers in `trusted`
   * may send one, and they must: a header from anyone else, a trusted peer without one, and a
   * malformed or late header close the connection before any request is read.
   * @default undefined (off)
   */
  proxyProtocol?: ProxyProtocolOptions;
}

export interface ProxyProtocolOptions {
  /**
   * The balancers that send the header: addresses, CIDR ranges, named ranges (as proxyFix's
   * `trusted`) or a predicate. Required: a header is client data unless its sender is known.
   */
  trusted: TrustInput;
  /**
   * Trust a peer on a Unix socket (a balancer on the same host) to send the header.
   * @default false
   */
  trustUnixSocket?: boolean;
  /**
   * The versions accepted; a header of another version closes the connection.
   * @default [1, 2]
   */
  versions?: readonly (1 | 2)[];
  /**
   * Milliseconds a connection has to send its whole header (nginx's `proxy_protocol_timeout`), or,
   * from a peer not trusted, the first bytes of its request. `headersTimeout` starts after it.
   * @default 30000
   */
  timeout?: number;
}

/** A running server, as `serve` resolves it. */
export interface RunningServer {
  /** Where it listens: `"127.0.0.1:8000"`, `"[::1]:8000"`, `"unix:/run/app.sock"`. */
  readonly addresses: readonly string[];
  /** The node:http servers, one per address (for `upgrade` handlers and the like); none in a cluster primary. */
  readonly servers: readonly http.Server[];
  /** Process ids of the live workers; empty without workers. */
  readonly workers: readonly number[];
  /**
   * Stop accepting, let in-flight requests finish (and close their connections after them), close
   * idle keep-alive connections, and close whatever is left after `drainTimeout`. With workers, every
   * worker does this. Resolves once everything is closed; calling it again returns the same promise.
   */
  close(): Promise<void>;
}

/** Options after validation, with every default filled in. */
export interface ServeSettings {
  binds: readonly Bind[];
  workers: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  maxHeaderSize: number;
  maxHeaderLines: number;
  responseTimeout: number;
  maxConnections: number;
  drainTimeout: number;
  restartDelay: number;
  maxRestartDelay: number;
  accessLog: ((line: string) => void) | undefined;
  log: (message: string) => void;
  proxyProtocol: ProxyProtocolSettings | undefined;
}

/** `proxyProtocol` checked: the peer check compiled once. */
export interface ProxyProtocolSettings {
  /** Whether a socket peer (`''` for a Unix socket) may send the header. */
  isTrusted: (peer: string) => boolean;
  versions: readonly (1 | 2)[];
  timeout: number;
}

export type Bind = { host: string; port: number; text: string } | { path: string; text: string };

type IntegerOption = 'workers' | 'keepAliveTimeout' | 'headersTimeout' | 'requestTimeout' | 'maxHeaderSize' |
  'maxHeaderLines' | 'responseTimeout' | 'maxConnections' | 'drainTimeout' | 'restartDelay' | 'maxRestartDelay';

/** Where a server listens when `bind` is not given (gunicorn's default, on port 8000). */
const DEFAULT_BIND = '127.0.0.1:8000';

/** Each number option's default and least value; the `@default` tags above say the same. */
const INTEGERS: Readonly<Record<IntegerOption, { default: number; min: number }>> = {
  workers: { default: 0, min: 0 },
  keepAliveTimeout: { default: 5000, min: 0 },
  headersTimeout: { default: 60_000, min: 1 },
  requestTimeout: { default: 300_000, min: 0 },
  maxHeaderSize: { default: 16_384, min: 1 },
  maxHeaderLines: { default: 200, min: 1 },
  responseTimeout: { default: 60_000, min: 0 },
  maxConnections: { default: Infinity, min: 1 },
  drainTimeout: { default: 30_000, min: 0 },
  restartDelay: { default: 100, min: 1 },
  maxRestartDelay: { default: 10_000, min: 1 },
};

const KNOWN_OPTIONS = new Set(['interface', 'bind', 'accessLog', 'log', 'proxyProtocol', ...Object.keys(INTEGERS)]);

/** Validate `serve` options once, filling in the defaults. */
export function checkServeOptions(options: ServeOptions): ServeSettings {
  checkOptions(options, KNOWN_OPTIONS, 'serve');
  const bind = options.bind ?? DEFAULT_BIND;
  const list: readonly unknown[] = typeof bind === 'string' ? [bind] : Array.isArray(bind) ? bind : [];
  if (list.length === 0) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'bind',
      `must be an address or a non-empty array of addresses, got ${describe(bind)}`);
  }
  const settings: ServeSettings = {
    binds: list.map((entry, i) => parseBind(typeof bind === 'string' ? 'bind' : `bind[${i}]`, entry)),
    workers: integer('workers', options.workers),
    keepAliveTimeout: integer('keepAliveTimeout', options.keepAliveTimeout),
    headersTimeout: integer('headersTimeout', options.headersTimeout),
    requestTimeout: integer('requestTimeout', options.requestTimeout),
    maxHeaderSize: integer('maxHeaderSize', options.maxHeaderSize),
    maxHeaderLines: integer('maxHeaderLines', options.maxHeaderLines),
    responseTimeout: integer('responseTimeout', options.responseTimeout),
    maxConnections: options.maxConnections === Infinity ? Infinity : integer('maxConnections', options.maxConnections),
    drainTimeout: integer('drainTimeout', options.drainTimeout),
    restartDelay: integer('restartDelay', options.restartDelay),
    maxRestartDelay: integer('maxRestartDelay', options.maxRestartDelay),
    accessLog: logWriter('accessLog', options.accessLog, process.stdout, true),
    log: prefixed(logWriter('log', options.log, process.stderr)),
    proxyProtocol: checkProxyProtocol(options.proxyProtocol),
  };
  if (settings.requestTimeout > 0 && settings.headersTimeout > settings.requestTimeout) {
    throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'headersTimeout',
      `(${settings.headersTimeout}) must not exceed \`requestTimeout\` (${settings.requestTimeout}): the headers are part of the request`);
  }
  if (settings.maxRestartDelay < settings.restartDelay) {
    throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'maxRestartDelay',
      `(${settings.maxRestartDelay}) must not be below \`restartDelay\` (${settings.restartDelay})`);
  }
  return settings;
}

function integer(option: IntegerOption, value: unknown): number {
  const { default: fallback, min } = INTEGERS[option];
  return value === undefined ? fallback : checkInteger(option, value, min, MAX_TIMER_MS);
}

const PROXY_PROTOCOL_OPTIONS = new Set(['trusted', 'trustUnixSocket', 'versions', 'timeout']);
const DEFAULT_PROXY_PROTOCOL_TIMEOUT = 30_000;

function checkProxyProtocol(options: unknown): ProxyProtocolSettings | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'proxyProtocol', `must be an object with \`trusted\`, got ${describe(options)}`);
  }
  checkOptions(options, PROXY_PROTOCOL_OPTIONS, 'proxyProtocol');
  const { trusted, trustUnixSocket, versions = [1, 2], timeout = DEFAULT_PROXY_PROTOCOL_TIMEOUT } = options as Partial<ProxyProtocolOptions>;
  if (trusted === undefined) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'proxyProtocol.trusted',
      'is required: a PROXY protocol header says who the client is, so only the balancers listed may send one');
  }
  const entries = typeof trusted === 'string' ? trusted.split(',').filter((entry) => entry.trim() !== '') : trusted;
  if (Array.isArray(entries) && entries.length === 0) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'proxyProtocol.trusted', 'must list at least one balancer: an empty list would refuse every header');
  }
  checkBoolean('proxyProtocol.trustUnixSocket', trustUnixSocket);
  const isTrusted = compilePeerTrust(compileTrust(trusted, 'proxyProtocol.trusted'), trustUnixSocket === true);
  if (!Array.isArray(versions) || versions.length === 0 || versions.some((v) => v !== 1 && v !== 2) || new Set(versions).size !== versions.length) {
    throw configError(Array.isArray(versions) ? 'ERR_PROXYFIX_OPTION_RANGE' : 'ERR_PROXYFIX_OPTION_TYPE', 'proxyProtocol.versions',
      `must be [1], [2] or [1, 2], got ${Array.isArray(versions) ? JSON.stringify(versions) : describe(versions)}`);
  }
  return { isTrusted, versions: [...versions], timeout: checkInteger('proxyProtocol.timeout', timeout, 1, MAX_TIMER_MS, ' (milliseconds)') };
}

/** Server messages carry the pid: with workers, several processes write to the same log. */
function prefixed(write: ((line: string) => void) | undefined): (message: string) => void {
  return (message) => write?.(`[proxyfix ${process.pid}] ${message}`);
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/]+):(\d{1,5})$/;

/** `"host:port"`, `"[v6]:port"` or `"unix:/path"`. */
export function parseBind(option: string, value: unknown): Bind {
  if (typeof value !== 'string') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be "host:port" or "unix:/path", got ${describe(value)}`);
  }
  if (value.startsWith('unix:')) {
    const path = value.slice(5);
    if (path !== '') return { path, text: value };
  } else {
    const match = HOST_PORT.exec(value);
    const port = Number(match?.[2]);
    if (match !== null && port <= 65535) {
      const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
      if (!host.includes(':') || net.isIPv6(host)) return { host, port, text: value };
    }
  }
  throw configError('ERR_PROXYFIX_OPTION_RANGE', option,
    `must be "host:port" (port 0-65535, IPv6 in brackets) or "unix:/path", got ${describe(value)}`);
}

/** `http://127.0.0.1:8000` for a TCP address; a Unix socket as it is. */
export function addressUrl(address: string): string {
  return address.startsWith('unix:') ? address : `http://${address}`;
}
