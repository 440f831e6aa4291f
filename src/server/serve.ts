/**
 * serve(): a small HTTP/1.1 server for a gateway app, so an app and its proxy chain can be run and
 * checked end to end with nothing else installed (gunicorn's job for WSGI apps).
 *
 * It sits behind a reverse proxy, so it is built for one: it binds to TCP addresses or Unix sockets
 * (nginx upstreams often use them), bounds what a client can make it hold (header size, header and
 * request time, idle keep-alive time, connections), answers broken requests with a short 400/431/408
 * and carries on, logs each request with the client address *after* fixing, and shuts down without
 * dropping a request that has already arrived.
 *
 * Its options are checked in settings.ts, its log lines are written by access-log.ts, and with
 * `workers` the cluster primary in workers.ts runs in its place.
 */
import cluster from 'node:cluster';
import { lstat, unlink } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FetchHandler } from '../adapters/fetch.js';
import { servedApp } from '../adapters/interface.js';
import { toNodeListener, type NodeListener } from '../adapters/node.js';
import type { GatewayApp, GatewayHolder } from '../gateway.js';
import { accessLine, refusedLine } from './access-log.js';
import { addressUrl, checkServeOptions, type RunningServer, type ServeOptions, type ServeSettings } from './settings.js';
import { attachToPrimary, startPrimary, workerBinds } from './workers.js';

// The types in serve's signature come with it.
export type { LogSink } from './access-log.js';
export type { RunningServer, ServeOptions } from './settings.js';

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
      accessLog?.(refusedLine((socket as Socket).remoteAddress ?? '', status, body.length));
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
