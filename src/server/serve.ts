/**
 * serve(): a small HTTP/1.1 server for a gateway app, so an app and its proxy chain can be run and
 * checked end to end with nothing else installed (gunicorn's job for WSGI apps).
 *
 * It sits behind a reverse proxy, so it is built for one: it binds to TCP addresses or Unix sockets
 * (nginx upstreams often use them), bounds what a client can make it hold (header size and lines,
 * header and request time, idle keep-alive time, connections) and how long an app may take to
 * answer, answers broken requests with a short 400/431/408 after the answers owed before them and
 * carries on, logs each request once with the client address *after* fixing, and shuts down
 * without dropping a request that has already arrived.
 *
 * Its options are checked in settings.ts, its log lines are written by access-log.ts, and with
 * `workers` the cluster primary in workers.ts runs in its place.
 */
import cluster from 'node:cluster';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FetchHandler } from '../adapters/fetch.js';
import { servedApp } from '../adapters/interface.js';
import { servingListener, type NodeListener } from '../adapters/node.js';
import type { GatewayApp, GatewayHolder } from '../gateway.js';
import { accessLines, refusedLine } from './access-log.js';
import { proxyProtocolReader } from './proxy-protocol.js';
import { refusalLog, type RefusalLog } from './refusals.js';
import { addressUrl, checkServeOptions, type Bind, type RunningServer, type ServeOptions, type ServeSettings } from './settings.js';
import { bindingPath, checkSocketPath, claimSocketPath, releaseSocketPath, type OwnedSocket } from './unix-socket.js';
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
  const running = inWorker
    ? await listenAll(appOrHolder, { ...settings, binds: workerBinds(settings) }, process.ppid)
    : await listenAll(appOrHolder, settings, process.pid);
  if (inWorker) {
    attachToPrimary(running);
  } else {
    settings.log(`listening on ${running.addresses.map(addressUrl).join(', ')}`);
  }
  return running;
}

/** How a server's bound address is written: `127.0.0.1:8000`, `[::1]:8000`. */
function addressOf(server: net.Server): string {
  const address = server.address() as net.AddressInfo;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/** Listen; an error after that (EMFILE on accept) goes to `later` and must not take the server down. */
function listen(server: http.Server, where: { path: string } | { host: string; port: number }, later: (error: Error) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      server.on('error', later);
      resolve();
    });
  });
}

/**
 * Listen on `bind`. A Unix socket is bound under a temporary name and moved onto its path (see
 * unix-socket.ts): `owner` is the process that holds it, this one or a cluster primary; only a
 * server of its own checks that the path is free (workers share their primary's socket).
 */
async function listenOn(server: http.Server, bind: Bind, owner: number, shared: boolean, later: (error: Error) => void): Promise<OwnedSocket | undefined> {
  if (!('path' in bind)) {
    await listen(server, { host: bind.host, port: bind.port }, later);
    return undefined;
  }
  const binding = bindingPath(bind.path, owner);
  if (!shared) await checkSocketPath(bind.path);
  await listen(server, { path: binding }, later);
  return claimSocketPath(binding, bind.path);
}

/** Why node reports a client error, as the short answer it gets. */
const CLIENT_ERRORS = new Map<string, [number, string]>([
  ['HPE_HEADER_OVERFLOW', [431, 'Request Header Fields Too Large']],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', [413, 'Payload Too Large']],
  ['ERR_HTTP_REQUEST_TIMEOUT', [408, 'Request Timeout']],
]);

/** Bind every address in turn; on a failure, close the ones already bound and reject. */
async function listenAll(appOrHolder: GatewayApp | GatewayHolder, settings: ServeSettings, owner: number): Promise<RunningServer> {
  const { log, accessLog } = settings;
  /** Responses not yet over: at shutdown they are told to close their connection when done. */
  const inFlight = new Set<ServerResponse>();
  /** Each connection's latest response: what a client error on it concerns, and what it must wait for. */
  const latest = new WeakMap<Duplex, ServerResponse>();
  /** Connections with a client error being dealt with: node reports one again with each later chunk. */
  const refusing = new WeakSet<Duplex>();
  /** Open connections; at shutdown those that never sent a byte are closed (node keeps them). */
  const sockets = new Set<Socket>();
  const servers: http.Server[] = [];
  const owned: (OwnedSocket | undefined)[] = [];
  const refusals: RefusalLog[] = [];
  const proxyProtocol = settings.proxyProtocol && proxyProtocolReader(settings.proxyProtocol, settings.headersTimeout);
  let closing: Promise<void> | undefined;

  const accessLine = accessLines();
  const { listener, answerInstead } = servingListener(appOrHolder, {
    responseTimeout: settings.responseTimeout,
    onEnv: proxyProtocol?.onEnv,
    onError(error, env) {
      // A timeout has no stack worth reading; an app's error has.
      const text = (error as { code?: unknown }).code === 'ERR_PROXYFIX_RESPONSE_TIMEOUT' ? (error as Error).message
        : error instanceof Error ? error.stack : String(error);
      log(`error in ${env.method} ${env.scriptName}${env.pathInfo}: ${text}`);
    },
    onResponse: accessLog === undefined ? undefined : (info) => accessLog(accessLine(info)),
  });

  function closeIdle() {
    for (const server of servers) server.closeIdleConnections();
  }

  function onRequest(req: IncomingMessage, res: ServerResponse) {
    inFlight.add(res);
    latest.set(req.socket, res);
    // keepAliveTimeout 0 means no keep-alive (as in nginx), where node would keep the connection for ever.
    if (closing !== undefined || settings.keepAliveTimeout === 0) res.setHeader('Connection', 'close');
    res.once('close', responseClosed);
    listener(req, res);
  }

  /** A response is over. One function for every response, not a closure for each. */
  function responseClosed(this: ServerResponse) {
    inFlight.delete(this);
    // An idle keep-alive connection need not keep its last exchange alive: once the request is
    // whole, a later client error on the connection concerns a request of its own.
    const req = this.req;
    if (req.complete && latest.get(req.socket) === this) latest.delete(req.socket);
    // Its connection may just have become idle: during shutdown, idle connections go.
    if (closing !== undefined) setImmediate(closeIdle);
  }

  /** A short answer on the connection itself, for a request no app has, then close it. */
  function refuse(socket: Duplex, status: number, reason: string) {
    if (socket.writable) {
      const body = `${reason}\n`;
      socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`);
      // The client as a request on the connection would show it: a PROXY protocol header's, if any.
      accessLog?.(refusedLine(proxyProtocol?.clientOf(socket) ?? (socket as Socket).remoteAddress ?? '', status, body.length));
    }
    socket.destroy();
  }

  function onClientError(error: NodeJS.ErrnoException, socket: Duplex) {
    if (refusing.has(socket)) return;
    refusing.add(socket);
    const [status, reason] = CLIENT_ERRORS.get(String(error.code)) ?? [400, 'Bad Request'];
    const res = latest.get(socket);
    if (res !== undefined && !res.req.complete) {
      // The error is in the body of a request the app has (cut short, malformed, too slow): that
      // request gets the answer and its one log line, in place of the app's.
      answerInstead(res, status, reason);
    } else if (error.code === 'ECONNRESET') {
      socket.destroy();
    } else if (res !== undefined && !res.closed) {
      // A request pipelined behind ones still being answered: they get their answers (and their
      // log lines, written as their responses end) first, in order.
      res.once('close', () => setImmediate(refuse, socket, status, reason));
    } else {
      refuse(socket, status, reason);
    }
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
      // node keeps this many header lines and drops the rest; the listener refuses a request that reaches it.
      server.maxHeadersCount = settings.maxHeaderLines + 1;
      if (settings.maxConnections !== Infinity) server.maxConnections = settings.maxConnections;
      server.on('clientError', onClientError);
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      const refused = refusalLog(log, bind.text);
      refusals.push(refused);
      server.on('drop', () => refused.refused(`maxConnections (${settings.maxConnections}) reached`));
      proxyProtocol?.attach(server, refused);
      servers.push(server);
      owned.push(await listenOn(server, bind, owner, settings.workers > 0, (error) => log(`server error on ${bind.text}: ${error.message}`)));
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.listening && new Promise((resolve) => server.close(resolve))));
    for (const socket of owned) if (socket !== undefined) await releaseSocketPath(socket);
    throw error;
  }

  const addresses = servers.map((server, i) => owned[i] === undefined ? addressOf(server) : `unix:${owned[i].path}`);
  return {
    addresses,
    servers,
    workers: [],
    close() {
      closing ??= (async () => {
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        // node's close() closes idle keep-alive connections but not fresh ones, which load
        // balancers open ahead of need; one that has sent nothing (a PROXY protocol header aside) has no request to finish.
        for (const socket of sockets) if ((proxyProtocol?.requestBytesRead(socket) ?? socket.bytesRead) === 0) socket.destroy();
        const force = setTimeout(() => {
          log(`drainTimeout (${settings.drainTimeout} ms) reached: closing ${inFlight.size} unfinished request(s)`);
          for (const server of servers) server.closeAllConnections();
        }, settings.drainTimeout);
        // node's close() stops accepting and closes idle connections; busy ones close as they finish.
        await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
        clearTimeout(force);
        for (const refused of refusals) refused.flush();
        for (const socket of owned) if (socket !== undefined) await releaseSocketPath(socket);
        // Access lines are written once per turn of the event loop (access-log.ts): the last ones go before this resolves.
        await new Promise((resolve) => setImmediate(resolve));
      })();
      return closing;
    },
  };
}
