/**
 * serve(): a small HTTP/1.1 server for a gateway app, so an app and its proxy chain can be run and
 * checked end to end with nothing else installed (gunicorn's job for WSGI apps).
 *
 * It sits behind a reverse proxy, so it is built for one: it binds to TCP addresses or Unix sockets
 * (nginx upstreams often use them), bounds what a client can make it hold (header size, header and
 * request time, idle keep-alive time, connections), answers broken requests with a short 400/431/408
 * and carries on, logs each request with the client address *after* fixing, and shuts down without
 * dropping a request that has already arrived.
 */
import cluster from 'node:cluster';
import { lstat, unlink } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FetchHandler } from '../adapters/fetch.js';
import { type AppInterface, servedApp } from '../adapters/interface.js';
import { toNodeListener, type NodeListener, type NodeResponseInfo } from '../adapters/node.js';
import { configError, describe } from '../errors.js';
import type { GatewayApp, GatewayHolder } from '../gateway.js';
import { checkOptions } from '../middleware/compose.js';
import { attachToPrimary, startPrimary, workerBinds } from './workers.js';

/** Where log lines go: a writable stream, a function called with each line, or `false` for nowhere. */
export type LogSink = false | ((line: string) => void) | { write(chunk: string): unknown };

/**
 * What `serve` serves: a gateway app or a holder of one, a node:http request listener (an Express or
 * Connect app, Koa's `app.callback()`), a Koa app, a Fastify instance, a fetch handler, or an object
 * with a `fetch` method (a Hono app).
 */
export type ServableApp =
  | GatewayApp
  | GatewayHolder
  | NodeListener
  | FetchHandler
  | { fetch: FetchHandler }
  | { callback(): NodeListener }
  | { ready(): PromiseLike<unknown>; routing: NodeListener };

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
   * timeout for upstream connections (nginx `keepalive_timeout` in an upstream block).
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
  maxConnections: number;
  drainTimeout: number;
  restartDelay: number;
  maxRestartDelay: number;
  accessLog: ((line: string) => void) | undefined;
  log: (message: string) => void;
}

export type Bind = { host: string; port: number; text: string } | { path: string; text: string };

const KNOWN_OPTIONS = new Set([
  'interface', 'bind', 'workers', 'keepAliveTimeout', 'headersTimeout', 'requestTimeout', 'maxHeaderSize',
  'maxConnections', 'drainTimeout', 'accessLog', 'log', 'restartDelay', 'maxRestartDelay',
]);

/**
 * Serve an app over HTTP/1.1: a gateway app, or an object whose `gatewayApp` is read on every
 * request, or any app a node user has (see `ServableApp` and the `interface` option).
 * Resolves once every address is listening (with workers: once every worker is).
 *
 * @example
 * const server = await serve(proxyFix(app, { xFor: 1, xProto: 1 }), { bind: ['127.0.0.1:8000', 'unix:/run/app.sock'] });
 * await serve(proxyFix(fromNodeListener(expressApp), { xFor: 1 })); // or: serve(expressApp) for no fixing
 * process.once('SIGTERM', () => server.close().then(() => process.exit(0)));
 */
export async function serve(app: ServableApp, options: ServeOptions = {}): Promise<RunningServer> {
  const settings = checkServeOptions(options);
  const appOrHolder = await servedApp(app, options.interface);
  if (settings.workers > 0 && cluster.isPrimary) return startPrimary(settings);
  const inWorker = settings.workers > 0;
  const running = await listenAll(appOrHolder, inWorker ? { ...settings, binds: workerBinds(settings) } : settings);
  if (inWorker) {
    attachToPrimary(running);
  } else {
    settings.log(`listening on ${running.addresses.map(addressUrl).join(', ')}`);
  }
  return running;
}

/** `http://127.0.0.1:8000` for a TCP address; a Unix socket as it is. */
export function addressUrl(address: string): string {
  return address.startsWith('unix:') ? address : `http://${address}`;
}

/** Validate `serve` options once, filling in the defaults. */
export function checkServeOptions(options: ServeOptions): ServeSettings {
  checkOptions(options, KNOWN_OPTIONS, 'serve');
  const bind = options.bind ?? '127.0.0.1:8000';
  const list: readonly unknown[] = typeof bind === 'string' ? [bind] : Array.isArray(bind) ? bind : [];
  if (list.length === 0) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'bind',
      `must be an address or a non-empty array of addresses, got ${describe(bind)}`);
  }
  const settings: ServeSettings = {
    binds: list.map((entry, i) => parseBind(typeof bind === 'string' ? 'bind' : `bind[${i}]`, entry)),
    workers: integer('workers', options.workers, 0, 0),
    keepAliveTimeout: integer('keepAliveTimeout', options.keepAliveTimeout, 5000, 0),
    headersTimeout: integer('headersTimeout', options.headersTimeout, 60_000, 1),
    requestTimeout: integer('requestTimeout', options.requestTimeout, 300_000, 0),
    maxHeaderSize: integer('maxHeaderSize', options.maxHeaderSize, 16_384, 1),
    maxConnections: options.maxConnections === Infinity ? Infinity : integer('maxConnections', options.maxConnections, Infinity, 1),
    drainTimeout: integer('drainTimeout', options.drainTimeout, 30_000, 0),
    restartDelay: integer('restartDelay', options.restartDelay, 100, 1),
    maxRestartDelay: integer('maxRestartDelay', options.maxRestartDelay, 10_000, 1),
    accessLog: sink('accessLog', options.accessLog, process.stdout),
    log: prefixed(sink('log', options.log, process.stderr)),
  };
  if (settings.requestTimeout > 0 && settings.headersTimeout > settings.requestTimeout) {
    throw configError(RangeError, 'ERR_PROXYFIX_OPTION_CONFLICT', 'headersTimeout',
      `(${settings.headersTimeout}) must not exceed \`requestTimeout\` (${settings.requestTimeout}): the headers are part of the request`);
  }
  if (settings.maxRestartDelay < settings.restartDelay) {
    throw configError(RangeError, 'ERR_PROXYFIX_OPTION_CONFLICT', 'maxRestartDelay',
      `(${settings.maxRestartDelay}) must not be below \`restartDelay\` (${settings.restartDelay})`);
  }
  return settings;
}

/** Above this, node's timers fire at once instead of late. */
const MAX_TIMER = 2 ** 31 - 1;

function integer(option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option, `must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > MAX_TIMER) {
    throw configError(RangeError, 'ERR_PROXYFIX_OPTION_RANGE', option, `must be from ${min} to ${MAX_TIMER}, got ${value}`);
  }
  return value;
}

function sink(option: string, value: unknown, fallback: { write(chunk: string): unknown }): ((line: string) => void) | undefined {
  const chosen = value ?? fallback;
  if (chosen === false) return undefined;
  if (typeof chosen === 'function') return chosen as (line: string) => void;
  const stream = chosen as { write?: unknown };
  if (typeof stream === 'object' && stream !== null && typeof stream.write === 'function') {
    return (line) => { (chosen as { write(chunk: string): unknown }).write(`${line}\n`); };
  }
  throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option,
    `must be false, a function or a writable stream, got ${describe(value)}`);
}

/** Server messages carry the pid: with workers, several processes write to the same log. */
function prefixed(write: ((line: string) => void) | undefined): (message: string) => void {
  return (message) => write?.(`[proxyfix ${process.pid}] ${message}`);
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/]+):(\d{1,5})$/;

/** `"host:port"`, `"[v6]:port"` or `"unix:/path"`. */
export function parseBind(option: string, value: unknown): Bind {
  if (typeof value !== 'string') {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option, `must be "host:port" or "unix:/path", got ${describe(value)}`);
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
  throw configError(RangeError, 'ERR_PROXYFIX_OPTION_RANGE', option,
    `must be "host:port" (port 0-65535, IPv6 in brackets) or "unix:/path", got ${describe(value)}`);
}

/** How a server's bound address is written: `127.0.0.1:8000`, `[::1]:8000`, `unix:/path`. */
function addressOf(server: net.Server): string {
  const address = server.address()!;
  if (typeof address === 'string') return `unix:${address}`;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/**
 * A socket file that is left over from a server that was killed makes `listen` fail with
 * EADDRINUSE, although nothing listens there any more. Remove it when nothing answers on it; leave a
 * live socket (listen then reports the conflict) and refuse to touch anything that is not a socket.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stats.isSocket()) throw new Error(`cannot listen on unix:${path}: the file exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path, () => { probe.destroy(); resolve(true); });
    probe.on('error', () => resolve(false));
  });
  if (!alive) await unlink(path);
}

const CLIENT_ERRORS = new Map<string, [number, string]>([
  ['HPE_HEADER_OVERFLOW', [431, 'Request Header Fields Too Large']],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', [413, 'Payload Too Large']],
  ['ERR_HTTP_REQUEST_TIMEOUT', [408, 'Request Timeout']],
]);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `[10/Oct/2000:13:55:36 -0700]`'s inside, in local time, as Apache writes it. */
export function logTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}`;
}

/**
 * A log field between quotes, escaped as Apache does: a client controls the request line, Referer
 * and User-Agent, and must not be able to forge a second log line or break the quoting.
 */
export function logQuoted(value: string | undefined): string {
  if (value === undefined) return '"-"';
  return `"${value.replace(/[\\"]|[^\x20-\x7e]/g, (c) =>
    c === '\\' || c === '"' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

export interface CombinedLogFields {
  /** The client address; `""` is written as `-`. */
  remoteAddr: string;
  time: Date;
  /** `GET /path HTTP/1.1`; `undefined` when no request line was read. */
  requestLine: string | undefined;
  status: number;
  /** Body bytes; `undefined` or 0 is written as `-`. */
  bytes: number | undefined;
  referer: string | undefined;
  userAgent: string | undefined;
}

/** One line in the combined log format: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`. */
export function combinedLogLine(f: CombinedLogFields): string {
  return `${f.remoteAddr || '-'} - - [${logTime(f.time)}] ${logQuoted(f.requestLine)} ${f.status} ` +
    `${f.bytes || '-'} ${logQuoted(f.referer)} ${logQuoted(f.userAgent)}`;
}

function accessLine({ env, req, res, bytes, startedAt }: NodeResponseInfo): string {
  return combinedLogLine({
    remoteAddr: env.remoteAddr,
    time: new Date(startedAt),
    requestLine: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
    status: res.statusCode,
    bytes,
    referer: req.headers.referer,
    userAgent: req.headers['user-agent'],
  });
}

/** Bind every address in turn; on a failure, close the ones already bound and reject. */
async function listenAll(appOrHolder: GatewayApp | GatewayHolder, settings: ServeSettings): Promise<RunningServer> {
  const { log, accessLog } = settings;
  /** Responses not yet over: at shutdown they are told to close their connection when done. */
  const inFlight = new Set<ServerResponse>();
  /** Each connection's response in progress: a broken follow-up request must not be answered into it. */
  const current = new WeakMap<Duplex, ServerResponse>();
  /** Open connections; at shutdown those that never sent a byte are closed (node keeps them). */
  const sockets = new Set<Socket>();
  const servers: http.Server[] = [];
  let closing: Promise<void> | undefined;

  const listener = toNodeListener(appOrHolder, {
    onError(error, env) {
      log(`error in ${env.method} ${env.scriptName}${env.pathInfo}: ${error instanceof Error ? error.stack : String(error)}`);
    },
    onResponse: accessLog === undefined ? undefined : (info) => accessLog(accessLine(info)),
  });

  function closeIdle() {
    for (const server of servers) server.closeIdleConnections();
  }

  function onRequest(req: IncomingMessage, res: ServerResponse) {
    inFlight.add(res);
    current.set(req.socket, res);
    if (closing !== undefined) res.setHeader('Connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (current.get(req.socket) === res) current.delete(req.socket);
      // Its connection may just have become idle: during shutdown, idle connections go.
      if (closing !== undefined) setImmediate(closeIdle);
    });
    listener(req, res);
  }

  function onClientError(error: NodeJS.ErrnoException, socket: Duplex) {
    const answered = current.get(socket)?.headersSent === true;
    // A reset peer reads nothing; a connection with a response on the wire must not get a second one.
    if (socket.writable && !answered && error.code !== 'ECONNRESET') {
      const [status, reason] = CLIENT_ERRORS.get(String(error.code)) ?? [400, 'Bad Request'];
      const body = `${reason}\n`;
      socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`);
      accessLog?.(combinedLogLine({
        remoteAddr: (socket as Socket).remoteAddress ?? '', time: new Date(), requestLine: undefined,
        status, bytes: body.length, referer: undefined, userAgent: undefined,
      }));
    }
    socket.destroy();
  }

  // The timeouts are checked on this interval, so it follows the shortest of them (node's default
  // is 30 s, which would let a 1 s headersTimeout run for 31 s).
  const shortest = Math.min(settings.headersTimeout, settings.requestTimeout || Infinity);
  const connectionsCheckingInterval = Math.min(1000, Math.max(10, Math.floor(shortest / 10)));

  try {
    for (const bind of settings.binds) {
      const server = http.createServer({
        maxHeaderSize: settings.maxHeaderSize,
        headersTimeout: settings.headersTimeout,
        requestTimeout: settings.requestTimeout,
        keepAliveTimeout: settings.keepAliveTimeout,
        connectionsCheckingInterval,
      }, onRequest);
      server.keepAliveTimeout = settings.keepAliveTimeout;
      if (settings.maxConnections !== Infinity) server.maxConnections = settings.maxConnections;
      server.on('clientError', onClientError);
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      server.on('drop', () => log(`refused a connection on ${bind.text}: maxConnections (${settings.maxConnections}) reached`));
      servers.push(server);
      if ('path' in bind) await removeStaleSocket(bind.path);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen('path' in bind ? { path: bind.path } : { host: bind.host, port: bind.port }, () => {
          server.off('error', reject);
          // After start-up an error (EMFILE on accept) must not take the whole server down.
          server.on('error', (error) => log(`server error on ${bind.text}: ${error.message}`));
          resolve();
        });
      });
    }
  } catch (error) {
    for (const server of servers) if (server.listening) server.close();
    throw error;
  }

  const addresses = servers.map(addressOf);
  return {
    addresses,
    servers,
    workers: [],
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        // node's close() closes idle keep-alive connections but not fresh ones, which load
        // balancers open ahead of need; one that has sent nothing has no request to finish.
        for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
        let open = servers.length;
        const force = setTimeout(() => {
          log(`drainTimeout (${settings.drainTimeout} ms) reached: closing ${inFlight.size} unfinished request(s)`);
          for (const server of servers) server.closeAllConnections();
        }, settings.drainTimeout);
        for (const server of servers) {
          // node's close() stops accepting and closes idle connections; busy ones close as they finish.
          server.close(() => {
            if (--open === 0) {
              clearTimeout(force);
              resolve();
            }
          });
        }
      });
      return closing;
    },
  };
}
