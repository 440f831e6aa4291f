/**
 * node:http <-> gateway, both ways: `toNodeListener` serves a gateway app from a node:http server,
 * and `fromNodeListener` turns a request listener (Express, Connect, Koa's `app.callback()`, Fastify's
 * handler, a plain `(req, res)` function) into a gateway app, so the middlewares can wrap it.
 *
 * node's `req.headers` is the wrong source for a proxy-aware env: it drops repeated lines of some
 * headers (a second `Host`, `Content-Type`, …) instead of keeping every line the way the contract
 * asks, and what a proxy chain looks like is exactly what a user needs to see. So the env is built
 * from `req.rawHeaders`, the lines as received. The socket peer is reported as node gives it,
 * including its dual-stack form `::ffff:1.2.3.4`: trust decisions are made on the peer, and the trust
 * code understands that form, while rewriting it here would hide what the socket really was.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { appOf, checkAppOrHolder, checkGatewayApp, checkNodeListener, tagKind } from '../app-kind.js';
import { checkInteger, describe, MAX_TIMER_MS } from '../options.js';
import {
  checkResponse, FIXED, isFetchResponse, joinHeaderLine, ORIGINALS, type GatewayApp, type GatewayEnv, type GatewayHolder, type GatewayResponse, type Middleware, shownToApp, splitHostHeader,
} from '../gateway.js';
import { TRACE } from '../trace.js';
import { ENV, envOf } from './fixed.js';
import { defaultPort } from '../net/port.js';

/** `env.ext[NODE_REQUEST]`: the node:http request an env was built from, when `toNodeListener` built it. */
export const NODE_REQUEST = 'node.request';
/** `env.ext[NODE_RESPONSE]`: the node:http response that request is answered on. */
export const NODE_RESPONSE = 'node.response';
/** `env.ext[NODE_NEXT]`: the `next` of a connect-style middleware, when `toNodeMiddleware` built the env. */
export const NODE_NEXT = 'node.next';

declare module '../gateway.js' {
  interface GatewayExt {
    /** The node:http request, when `toNodeListener` built the env (`NODE_REQUEST`). */
    'node.request'?: IncomingMessage;
    /** The node:http response it is answered on (`NODE_RESPONSE`). */
    'node.response'?: ServerResponse;
    /** The `next` of a connect-style middleware, when `toNodeMiddleware` built the env (`NODE_NEXT`). */
    'node.next'?: (error?: unknown) => void;
  }
}

/** What a request listener hands to `onResponse` once a request is over. */
export interface NodeResponseInfo {
  /** The env as the app left it: a proxyFix in the app has put the client's values in. */
  env: GatewayEnv;
  req: IncomingMessage;
  res: ServerResponse;
  /** Body bytes written; `undefined` when the response did not complete (an error, or the client left). */
  bytes: number | undefined;
  /** `Date.now()` when the request arrived. */
  startedAt: number;
}

export interface NodeListenerOptions {
  /**
   * Called when the app throws, returns something that cannot be written, or its body fails part
   * way. A client that goes away mid-response is not an error and is not reported.
   * @default writes the error's stack to `process.stderr`
   */
  onError?: (error: unknown, env: GatewayEnv) => void;
  /**
   * Called once per request after the response is complete or has failed: for access logs.
   * @default none
   */
  onResponse?: (info: NodeResponseInfo) => void;
  /**
   * Milliseconds the app has to start its answer, from the request's arrival. Past it the client
   * gets a 503 (with `Connection: close`), `onError` hears of it, and whatever the app answers
   * later goes nowhere. While the request body is still arriving the time starts again: a slow
   * upload is bounded by the server's `requestTimeout`, not by this. 0 for no limit.
   * @default 0 (serve: 60000)
   */
  responseTimeout?: number;
}

/**
 * Build the gateway env for a node:http request.
 *
 * `ext` becomes the env's `ext` object, for a server's own per-request data.
 *
 * @example
 * const env = toGatewayEnv(req);
 * env.remoteAddr; // "::ffff:10.0.0.2": the socket peer, before any proxyFix
 */
export function toGatewayEnv(req: IncomingMessage, ext: Record<string | symbol, unknown> = {}): GatewayEnv {
  const earlier = envOf(req);
  if (earlier !== undefined) {
    // Another adapter has presented this request already: carry on from what it decided, so a
    // second proxyFix sees a fixed env and changes nothing (THREATS 18).
    const headers = Object.assign(Object.create(null) as Record<string, string>, earlier.headers);
    const carried: Record<string | symbol, unknown> = { ...ext };
    for (const key of [ORIGINALS, FIXED, TRACE]) if (earlier.ext[key] !== undefined) carried[key] = earlier.ext[key];
    return { ...earlier, headers, body: req, ext: carried };
  }
  const headers = headersOf(req.rawHeaders);

  const socket = req.socket;
  // `encrypted` is only present on a TLSSocket.
  const scheme = (socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  // An absolute-form target names the host itself, and RFC 9112 3.2.2 has it win over Host (as
  // nginx's $host and Werkzeug do). Its scheme is the client's claim and is not taken: the
  // connection's is, and only proxyFix may say otherwise.
  const host = targetHost(req.url!) ?? headers.host ?? '';
  let serverName: string;
  let serverPort: string;
  if (host !== '') {
    const split = splitHostHeader(host);
    serverName = split.name;
    serverPort = split.port || defaultPort(scheme);
  } else if (socket.localAddress !== undefined) {
    // No Host (HTTP/1.0): the address the connection came in on, bracketed like a Host would be.
    serverName = socket.localAddress.includes(':') ? `[${socket.localAddress}]` : socket.localAddress;
    serverPort = String(socket.localPort);
  } else {
    // A Unix socket has neither a local address nor a port.
    serverName = 'localhost';
    serverPort = defaultPort(scheme);
  }

  // url and method are optional in node's types only because a client's response has neither.
  const { pathInfo, queryString } = splitTarget(req.url!);
  return {
    method: req.method!,
    scheme,
    host,
    serverName,
    serverPort,
    scriptName: '',
    pathInfo,
    queryString,
    remoteAddr: peerAddress(socket),
    remotePort: socket.remotePort === undefined ? '' : String(socket.remotePort),
    headers,
    body: req,
    ext,
  };
}

/**
 * The env's headers from node's header lines as received (`req.rawHeaders`): every line kept, in
 * order, joined by `joinHeaderLine`. HTTP/2's pseudo-headers (`:path`) are not header fields.
 */
export function headersOf(raw: readonly string[]): Record<string, string> {
  // A null prototype: a client may send a header named `__proto__` or `constructor`, and it must be
  // stored like any other header rather than reach or shadow Object.prototype.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name.startsWith(':')) continue;
    headers[name] = joinHeaderLine(name, headers[name], raw[i + 1]!);
  }
  return headers;
}

/**
 * The socket peer's address as the env gives it. A Unix socket peer has none: `""`, which the trust
 * code takes for one (trusted only with `trustUnixSocket`). A TCP connection that the client reset
 * before node accepted it has none left either, and must not pass for a Unix socket peer: its
 * peer is `"unknown"` (RFC 7239's word for a node it cannot name), which no trust list trusts. The
 * two are told apart by the local end: a TCP socket keeps its own address after a reset.
 */
export function peerAddress(socket: Pick<Socket, 'remoteAddress' | 'localAddress'>): string {
  return socket.remoteAddress ?? (socket.localAddress === undefined ? '' : 'unknown');
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?([^/?#@]*)/i;

/** The host an absolute-form target names (`a.example:81` in `http://a.example:81/p`), without userinfo; `undefined` for other forms. */
export function targetHost(target: string): string | undefined {
  return isOriginForm(target) ? undefined : ABSOLUTE_FORM.exec(target)?.[1] || undefined;
}

/** A target that starts with `/`, as nearly every request's does: no authority to look for. */
function isOriginForm(target: string): boolean {
  return target.charCodeAt(0) === 0x2f;
}

/**
 * Split a request target into path and query. The absolute form (`http://host/path`, which a
 * server must accept) keeps only its path; `*` (`OPTIONS *`) is not a path and gives `""`.
 */
export function splitTarget(target: string): { pathInfo: string; queryString: string } {
  const authority = isOriginForm(target) ? null : ABSOLUTE_FORM.exec(target);
  const rest = authority === null ? target : target.slice(authority[0].length);
  const q = rest.indexOf('?');
  let path = q === -1 ? rest : rest.slice(0, q);
  const queryString = q === -1 ? '' : rest.slice(q + 1);
  if (authority !== null && path === '') path = '/';
  return { pathInfo: path.startsWith('/') ? path : '', queryString };
}

/** Statuses whose responses never carry a body. */
function sendsBody(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 304;
}

/**
 * Write a response whose body is whole (a string, bytes or none) and end it: the headers, the
 * length, the body. Returns the body bytes written. A HEAD response carries the length the GET
 * would have: it is stated, since node sends no body.
 */
function writeWhole(res: ServerResponse, status: number, body: string | Uint8Array | undefined): number {
  const withBody = sendsBody(status);
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  if (bytes !== undefined && withBody && !res.hasHeader('content-length')) res.setHeader('Content-Length', bytes.byteLength);
  res.writeHead(status);
  if (res.req.method === 'HEAD' || !withBody || bytes === undefined) {
    res.end();
    return 0;
  }
  res.end(bytes);
  return bytes.byteLength;
}

/** Whether `response` has a whole body, so that it can be written without waiting on anything. */
function isWhole(response: GatewayResponse): boolean {
  const body = response.body;
  return body === undefined || typeof body === 'string' || body instanceof Uint8Array;
}

/** Set the response's headers: names as given, an array value as repeated lines. */
function setHeaders(res: ServerResponse, headers: GatewayResponse['headers']): void {
  if (headers === undefined) return;
  for (const name in headers) res.setHeader(name, headers[name]!);
}

/** The error `finished` gives for a response whose connection closed before it was sent. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Stream `body` to `res` and end it, waiting whenever the connection is full; returns the bytes
 * written. A plain loop rather than `stream.pipeline`, which builds an AbortController per call
 * and aborts it when done: a DOMException with a stack trace for every response. A connection
 * that closes part way ends the wait at once, as pipeline's does, even while the body is between
 * chunks; the body is then told to stop (`return()`, which closes a file stream), as it is when a
 * chunk is not bytes. A body that failed is over already.
 */
async function writeStreamed(res: ServerResponse, body: AsyncIterable<Uint8Array>): Promise<number> {
  const chunks = body[Symbol.asyncIterator]();
  // The wait in progress, ended by a close. (Racing every wait against one promise for the close
  // would hold a reaction per chunk on it until the response ends.)
  let interrupt: ((error: Error) => void) | undefined;
  const onClose = () => interrupt?.(prematureClose());
  res.once('close', onClose);
  let sourceFailed = false;
  let bytes = 0;
  try {
    for (;;) {
      const next = await new Promise<IteratorResult<unknown>>((resolve, reject) => {
        interrupt = reject;
        chunks.next().then(resolve, (error: unknown) => {
          sourceFailed = true;
          reject(error);
        });
      });
      if (next.done === true) break;
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`a response body chunk must be a Uint8Array, got ${describe(chunk)}`);
      }
      bytes += chunk.byteLength;
      if (!res.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          interrupt = reject;
          res.once('drain', resolve);
        });
      }
    }
  } catch (error) {
    if (!sourceFailed) void Promise.resolve(chunks.return?.()).catch(() => {});
    res.destroy();
    throw error;
  } finally {
    res.off('close', onClose);
  }
  res.end();
  await over(res);
  return bytes;
}

/**
 * Write a gateway response to a node:http response. Header names are written as given, an array
 * value as repeated lines. Resolves with the number of body bytes written once the response is
 * complete; rejects when the body fails or the connection closes first.
 *
 * @example
 * const bytes = await writeGatewayResponse(res, { status: 200, body: 'ok' });
 */
export async function writeGatewayResponse(res: ServerResponse, response: GatewayResponse): Promise<number> {
  checkResponse(response);
  const { status, headers, body } = response;
  setHeaders(res, headers);
  if (isWhole(response)) {
    const bytes = writeWhole(res, status, body as string | Uint8Array | undefined);
    await over(res);
    return bytes;
  }
  const stream = body as AsyncIterable<Uint8Array>;
  res.writeHead(status);
  if (res.req.method === 'HEAD' || !sendsBody(status)) {
    // Never read, but let the source release what it holds (a file stream closes on return()).
    await stream[Symbol.asyncIterator]().return?.();
    res.end();
    await over(res);
    return 0;
  }
  return writeStreamed(res, stream);
}

/** A short plain-text answer that closes the connection: what is said when the app cannot answer. */
function shortAnswer(status: number, text: string): GatewayResponse {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }, body: `${text}\n` };
}

/** The answer to a request with two Host lines (RFC 9112 3.2), before any app sees it. */
const TWO_HOSTS: GatewayResponse = shortAnswer(400, 'Bad Request: more than one Host header');

/** The answer to a request whose header lines node may have cut short, before any app sees it. */
export const TOO_MANY_LINES: GatewayResponse = shortAnswer(431, 'Request Header Fields Too Large: more header lines than this server reads');

function hostLines(req: IncomingMessage): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') count++;
  return count;
}

/** The lines node keeps of a request head when its server sets no `maxHeadersCount`. */
const NODE_KEEPS_LINES = 1000;

/**
 * How many header lines node keeps for this request's server. node drops the lines past it without
 * a word, so a request that reaches it may be missing some: the proxy's own X-Forwarded-For, which
 * HAProxy and Caddy write after the client's lines (THREATS 21). 0 (or less) keeps them all.
 */
function linesNodeKeeps(req: IncomingMessage): number {
  const count = (req.socket as Socket & { server?: { maxHeadersCount?: unknown } }).server?.maxHeadersCount;
  if (typeof count !== 'number') return NODE_KEEPS_LINES;
  return count > 0 ? count : Infinity;
}

/**
 * The answer to a request no app may see, or `undefined`: a head that reached node's line bound,
 * which may have lost lines (431), or two Host lines (400: node would use the first while the env
 * joins them, and two parts of a stack reading different hosts is how cache poisoning starts).
 */
export function refusalOf(req: IncomingMessage): GatewayResponse | undefined {
  if (req.rawHeaders.length / 2 >= linesNodeKeeps(req)) return TOO_MANY_LINES;
  return hostLines(req) > 1 ? TWO_HOSTS : undefined;
}

/** The answer to a request whose app did not start its answer within `responseTimeout`. */
const TOO_LATE = shortAnswer(503, 'Service Unavailable');

function checkResponseTimeout(value: unknown): number {
  return value === undefined ? 0 : checkInteger('responseTimeout', value, 0, MAX_TIMER_MS, ' (milliseconds)');
}

/** Let go of an answer that came too late: a streamed body that will never be read is closed. */
function dropAnswer(response: GatewayResponse): void {
  const body = (response as Partial<GatewayResponse> | null)?.body as { [Symbol.asyncIterator]?: unknown } | undefined;
  const iterate = body?.[Symbol.asyncIterator];
  if (typeof iterate !== 'function') return;
  void (async () => { await (iterate.call(body) as AsyncIterator<Uint8Array>).return?.(); })().catch(() => {});
}

/**
 * Whether the app's answer can be written at once: a sound response (not a promise) with a whole
 * body. Anything else, a broken answer included, takes the path that waits, which reports it.
 */
function isPlainAnswer(answer: unknown): answer is GatewayResponse {
  if (isThenable(answer) || wasWritten(answer as GatewayResponse)) return false;
  try {
    checkResponse(answer);
  } catch {
    return false;
  }
  return isWhole(answer);
}

/** Whether an app's answer is still to come. */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> & Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** A client that closed the connection before the response was complete. */
function clientLeft(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * A request whose body the client cut short (it reset or closed the connection part way): an app
 * reading it fails, and that is the client's doing, answered (when it still reads) and logged as 400,
 * as nginx does, and not reported as an app error.
 */
function bodyCutShort(req: IncomingMessage): boolean {
  return !req.complete && req.destroyed;
}

/**
 * A node:http request listener that serves a gateway app, or an object whose `gatewayApp` is read
 * on every request (so `holder.gatewayApp = proxyFix(holder.gatewayApp, …)` works after start-up).
 *
 * The listener never throws: an app that throws or returns a response that cannot be written gets
 * a 500 (or, once headers are out, a closed connection), and the error goes to `onError`.
 *
 * @example
 * http.createServer(toNodeListener(proxyFix(app, { xFor: 1 }))).listen(8000);
 */
export function toNodeListener(
  appOrHolder: GatewayApp | GatewayHolder,
  options: NodeListenerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  // No server here answers a request in its app's place: nothing to race the app's answer against.
  return servingListener(appOrHolder, { ...options, answersInstead: false }).listener;
}

/** `toNodeListener`'s listener, with what a server that owns the connections needs besides (`serve`). */
export interface ServingListener {
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Answer a request the listener is serving with a short `status` answer in place of its app's,
   * and close the connection: for a server that sees the request fail on the client's side (its
   * body cut short, malformed or too slow) while the app has it. The listener writes the answer (or,
   * when the response has begun or is over, the connection is closed), reports the request to
   * `onResponse` once, and drops whatever the app answers later.
   */
  answerInstead(res: ServerResponse, status: number, text: string): void;
}

/** What a server that owns the connections may add to `toNodeListener`'s options. */
export interface ServingOptions extends NodeListenerOptions {
  /**
   * Called with each env as soon as it is built, before any refusal or app sees it: for what the
   * server knows of the connection that node does not (a PROXY protocol header's client address).
   */
  onEnv?: (env: GatewayEnv, req: IncomingMessage) => void;
  /**
   * Whether the server may call `answerInstead`. Without it, and without `responseTimeout`, an
   * answer still to come is simply awaited.
   * @default true
   */
  answersInstead?: boolean;
}

/** `toNodeListener`, and the way to answer a request in place of its app. */
export function servingListener(appOrHolder: GatewayApp | GatewayHolder, options: ServingOptions = {}): ServingListener {
  checkAppOrHolder('app', appOrHolder);
  const onError = options.onError ?? writeStack;
  const onResponse = options.onResponse;
  const responseTimeout = checkResponseTimeout(options.responseTimeout);
  const onEnv = options.onEnv;
  const raced = options.answersInstead !== false || responseTimeout !== 0;
  /**
   * How to answer each request being served in place of its app. A map, not a property on the
   * response: a property added to node's ServerResponse costs every request a third of its speed.
   */
  const replacing = new WeakMap<ServerResponse, (response: GatewayResponse) => void>();

  /** The app's answer, or one given in its place (`answerInstead`, `responseTimeout`), whichever comes first. */
  async function answerOf(req: IncomingMessage, res: ServerResponse, env: GatewayEnv, early: unknown): Promise<GatewayResponse> {
    const answer = Promise.resolve(early as GatewayResponse | Promise<GatewayResponse>);
    if (!raced) return answer;
    let timer: NodeJS.Timeout | undefined;
    let given: GatewayResponse | undefined;
    const instead = new Promise<GatewayResponse>((resolve) => {
      replacing.set(res, (response) => resolve(given ??= response));
      if (responseTimeout === 0) return;
      // Unref'd: an app that never answers must not keep a closed server's process alive.
      timer = setTimeout(function expire() {
        if (res.headersSent) return;
        if (!req.complete && !req.destroyed) {
          timer = setTimeout(expire, responseTimeout).unref();
          return;
        }
        onError(Object.assign(new Error(`the app did not answer within responseTimeout (${responseTimeout} ms); answered 503`),
          { code: 'ERR_PROXYFIX_RESPONSE_TIMEOUT' }), env);
        resolve(given ??= TOO_LATE);
      }, responseTimeout).unref();
    });
    try {
      const response = await Promise.race([answer, instead]);
      if (response === given) {
        // Answered in the app's place: what the app set on node's response is not part of it.
        void answer.then(dropAnswer, () => {});
        for (const name of res.getHeaderNames()) res.removeHeader(name);
      }
      return response;
    } finally {
      clearTimeout(timer);
    }
  }

  /** What is done when the app throws or its answer cannot be written: tell `onError`, answer 500 (400 for a body cut short). */
  function failed(req: IncomingMessage, res: ServerResponse, env: GatewayEnv, error: unknown): void {
    const cutShort = bodyCutShort(req);
    if (!clientLeft(error) && !cutShort) onError(error, env);
    if (res.headersSent) {
      // Half a response is out: closing the connection is the only way left to say it failed.
      res.destroy();
    } else {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.writeHead(cutShort ? 400 : 500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end(cutShort ? 'Bad Request\n' : 'Internal Server Error\n');
    }
  }

  /**
   * The path for an answer that is there at once (a refusal, or an app that returned a plain
   * response with a whole body, as most do): written now, with no promise, timer or map entry, and
   * reported to `onResponse` when its response is over (its bytes are all handed to node by then).
   */
  function respondNow(req: IncomingMessage, res: ServerResponse, env: GatewayEnv, startedAt: number, response: GatewayResponse): void {
    let bytes: number | undefined;
    try {
      setHeaders(res, response.headers);
      bytes = writeWhole(res, response.status, response.body as string | Uint8Array | undefined);
    } catch (error) {
      failed(req, res, env, error);
    }
    if (onResponse === undefined) return;
    const report = () => {
      try {
        onResponse({ env, req, res, bytes, startedAt });
      } catch (error) {
        // A throwing hook: the request is over either way.
        writeStack(error);
      }
    };
    res.once('close', report);
  }

  /** The path for an answer still to come, or a streamed body. */
  async function respondLater(req: IncomingMessage, res: ServerResponse, env: GatewayEnv, startedAt: number, early: unknown): Promise<void> {
    let bytes: number | undefined;
    try {
      const response = await answerOf(req, res, env, early);
      bytes = wasWritten(response) ? writtenBytes(res) : await writeGatewayResponse(res, response);
    } catch (error) {
      failed(req, res, env, error);
    }
    replacing.delete(res);
    onResponse?.({ env, req, res, bytes, startedAt });
  }

  return {
    listener: tagKind(function gatewayListener(req: IncomingMessage, res: ServerResponse) {
      const startedAt = Date.now();
      const env = toGatewayEnv(req, { [NODE_REQUEST]: req, [NODE_RESPONSE]: res });
      onEnv?.(env, req);
      let answer: unknown;
      try {
        answer = refusalOf(req) ?? appOf(appOrHolder)(env);
      } catch (error) {
        answer = Promise.reject(error);
      }
      try {
        if (isPlainAnswer(answer)) {
          respondNow(req, res, env, startedAt, answer);
          return;
        }
      } catch (error) {
        // Only a throwing hook gets here; the request is over either way.
        res.destroy();
        writeStack(error);
        return;
      }
      respondLater(req, res, env, startedAt, answer).catch((error: unknown) => {
        res.destroy();
        writeStack(error);
      });
    }, 'node'),
    answerInstead(res, status, text) {
      const replace = replacing.get(res);
      if (replace !== undefined && !res.headersSent) replace(shortAnswer(status, text));
      else res.destroy();
    },
  };
}

/** A request listener as node:http calls it; Express and Connect apps also take `next`. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => unknown;

/** Set on the response of a `fromNodeListener` app: the listener wrote it to the node response itself. */
const WRITTEN = Symbol('proxyfix.node.written');

/** The response of an app that has answered on node's response (or socket) itself. */
export function written(status: number): GatewayResponse {
  return { status, [WRITTEN]: true } as GatewayResponse;
}

/** Whether `response` was already written by the app, so nothing is left to write. */
export function wasWritten(response: GatewayResponse): boolean {
  return (response as { [WRITTEN]?: true } | null)?.[WRITTEN] === true;
}

/**
 * The body size of a response a listener wrote, as far as it declared one: its Content-Length, when
 * it had a body. Counting every write would cost each response a wrapper; the access log can do
 * with "-" for a streamed body.
 */
function writtenBytes(res: ServerResponse): number | undefined {
  const length = Number(res.getHeader('content-length'));
  return res.req.method === 'HEAD' || !sendsBody(res.statusCode) || !Number.isInteger(length) ? undefined : length;
}

/**
 * A per-request view of the socket that reports the env's client address, port and encryption,
 * and the env itself to `fixedOf`. The socket itself is never changed: over a keep-alive
 * connection from a proxy it carries requests from many clients, one after another. Everything
 * else reads through to the socket.
 */
function socketView(socket: Socket, env: GatewayEnv): Socket {
  const address = env.remoteAddr === '' ? undefined : env.remoteAddr;
  const port = env.remotePort === '' ? undefined : Number(env.remotePort);
  const version = address === undefined ? 0 : isIP(address);
  const family = version === 6 ? 'IPv6' : version === 4 ? 'IPv4' : undefined;
  const encrypted = env.scheme === 'https' || env.scheme === 'wss' ? true : undefined;
  return new Proxy(socket, {
    get(target, key) {
      switch (key) {
        case 'remoteAddress': return address;
        case 'remotePort': return port;
        case 'remoteFamily': return family;
        case 'encrypted': return encrypted;
        case ENV: return env;
        default: return Reflect.get(target, key, target);
      }
    },
  });
}

/**
 * Make a node request say what `env` says, so that a framework reading node's request finds the
 * fixed values: the socket reports the client's address and the scheme's encryption, the Host
 * header is the env's host, the mount prefix is in `originalUrl` and `baseUrl` (where Express and
 * Connect look for it), and headers a middleware removed are gone, as are the spent forwarding
 * headers (see `shownToApp`; they stay in `req.rawHeaders`). `req.url` keeps the path below the
 * prefix: that is what the app routes on.
 */
export function presentToNode(req: IncomingMessage, env: GatewayEnv): void {
  const authority = isOriginForm(req.url!) ? null : ABSOLUTE_FORM.exec(req.url!);
  if (authority !== null) {
    // An absolute-form target's host and scheme are the client's words (Koa's href reads them);
    // the env's come from Host and the fix. Origin form leaves one host for every framework.
    const rest = req.url!.slice(authority[0].length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
  }
  req.socket = socketView(req.socket, env);
  // A new object, not deletes from node's: a deleted property turns an object into a slow one,
  // and the framework reads these headers on every request.
  const headers: IncomingMessage['headers'] = {};
  const given = req.headers;
  for (const name in given) {
    if (name in env.headers && shownToApp(env, name)) headers[name] = given[name];
  }
  // A Host the env has no header for went with the loop above.
  if (env.host !== '' && headers.host !== env.host) headers.host = env.host;
  req.headers = headers;
  if (env.scriptName !== '') {
    const express = req as IncomingMessage & { originalUrl?: string; baseUrl?: string };
    express.originalUrl = `${env.scriptName}${req.url}`;
    express.baseUrl = env.scriptName;
  }
}

/** The node request and response behind `env`, or the error that says how to get them. */
export function nodeExchange(env: GatewayEnv, adapter: string): { req: IncomingMessage; res: ServerResponse } {
  const req = env.ext[NODE_REQUEST];
  const res = env.ext[NODE_RESPONSE];
  if (req === undefined || res === undefined) {
    throw new TypeError(`${adapter} can only serve requests that came in through node:http ` +
      '(toNodeListener, serve or proxyFixNode); this env has no node request');
  }
  return { req, res };
}

/**
 * Resolves once `res` has been sent; rejects as `finished` does (ERR_STREAM_PREMATURE_CLOSE) when
 * the connection closed first. One 'close' listener: `finished` adds several to every response,
 * which costs Express's 10 µs a request.
 */
function over(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      if (res.writableFinished) resolve();
      else reject(prematureClose());
    };
    if (res.closed) settle();
    else res.once('close', settle);
  });
}

/**
 * A gateway app that runs a node:http request listener on the request the env came from, after
 * making that request say what the env says (see `presentToNode`): an Express app then reports the
 * fixed `req.ip`, `req.protocol` and `req.hostname`. The listener writes its response to node's
 * response itself, streaming as it always does; the app resolves when that response is over.
 * It serves requests that came in through `toNodeListener` or `serve`.
 *
 * @example
 * http.createServer(toNodeListener(proxyFix(fromNodeListener(expressApp), { xProto: 1 }))).listen(8000);
 */
export function fromNodeListener(listener: NodeListener): GatewayApp {
  checkNodeListener('listener', listener);
  return tagKind(function nodeListenerApp(env: GatewayEnv): Promise<GatewayResponse> {
    const { req, res } = nodeExchange(env, 'fromNodeListener');
    presentToNode(req, env);
    const returned = listener(req, res);
    // Most listeners return nothing: waiting on that would cost every request a turn.
    return isThenable(returned) ? Promise.resolve(returned).then((value) => writtenBy(res, value)) : writtenBy(res, returned);
  }, 'gateway');
}

/** The answer of a node listener that returned `returned`: its response, once over. */
function writtenBy(res: ServerResponse, returned: unknown): Promise<GatewayResponse> {
  if (!res.headersSent && isFetchResponse(returned)) {
    return Promise.reject(new TypeError('the node listener returned a fetch Response: it is a fetch handler; use fromFetchHandler (or serve with interface "fetch")'));
  }
  return over(res).then(() => written(res.statusCode));
}

/** A connect-style middleware, as Express and Connect take it in `app.use`. */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The gateway app at the bottom of a `toNodeMiddleware` stack: the framework's next middleware. */
function passOn(env: GatewayEnv): GatewayResponse {
  const next = env.ext[NODE_NEXT]!;
  presentToNode(env.ext[NODE_REQUEST]!, env);
  next();
  return written(0);
}

/**
 * A connect-style middleware (`app.use(...)` in Express and Connect) that runs gateway middlewares
 * on each request, then passes the request on to the framework's next middleware, made to say what
 * the env says (see `presentToNode`). A gateway middleware that answers itself (a refused host) is
 * written, and `next` is not called; an error goes to `next(error)`.
 *
 * It must come first: middlewares registered before it see the proxy. And Express sets `req.baseUrl`
 * again after every middleware, so a prefix cannot reach it this way; `proxyFixNode` can.
 *
 * @example
 * app.use(toNodeMiddleware(proxyFix({ xFor: 1, xProto: 1 })));
 */
export function toNodeMiddleware(middleware: Middleware): NodeMiddleware {
  const app = middleware(passOn);
  checkGatewayApp('middleware', app);
  return tagKind(function gatewayMiddleware(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) {
    let passed = false;
    const once = (error?: unknown) => {
      if (passed) {
        // The rest of the stack has the request: an error now cannot be answered, only reported.
        if (error !== undefined) writeStack(error);
        return;
      }
      passed = true;
      next(error);
    };
    const env = toGatewayEnv(req, { [NODE_REQUEST]: req, [NODE_RESPONSE]: res, [NODE_NEXT]: once });
    let response: GatewayResponse | Promise<GatewayResponse>;
    try {
      response = app(env);
    } catch (error) {
      once(error);
      return;
    }
    // A stack that passed the request on has answered at once: no promise for it.
    if (!isThenable(response)) {
      if (!wasWritten(response)) writeGatewayResponse(res, response).catch(once);
      return;
    }
    response.then((later) => (wasWritten(later) ? undefined : writeGatewayResponse(res, later))).catch(once);
  }, 'node');
}

/** What an adapter does with an app's error when it is given no `onError`: the stack to stderr. */
export function writeStack(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
}
