/**
 * node:http <-> gateway: serve a gateway app from a node:http request listener.
 *
 * node's `req.headers` is the wrong source for a proxy-aware env: it drops repeated lines of some
 * headers (a second `Host`, `Content-Type`, …) instead of keeping every line the way the contract
 * asks, and what a proxy chain looks like is exactly what a user needs to see. So the env is built
 * from `req.rawHeaders`, the lines as received. The socket peer is reported as node gives it,
 * including its dual-stack form `::ffff:1.2.3.4`: trust decisions are made on the peer, and the trust
 * code understands that form, while rewriting it here would hide what the socket really was.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { finished, pipeline } from 'node:stream/promises';
import { configError, describe } from '../errors.js';
import { type GatewayApp, type GatewayEnv, type GatewayHolder, type GatewayResponse, splitHostHeader } from '../gateway.js';
import { defaultPort } from '../net/port.js';

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
  // A null prototype: a client may send a header named `__proto__` or `constructor`, and it must be
  // stored like any other header rather than reach or shadow Object.prototype.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}, ${value}`;
  }

  const socket = req.socket;
  // `encrypted` is only present on a TLSSocket.
  const scheme = (socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  const host = headers.host ?? '';
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
    // A Unix socket peer has no address: "" is what the trust code treats as "not an IP peer".
    remoteAddr: socket.remoteAddress ?? '',
    remotePort: socket.remotePort === undefined ? '' : String(socket.remotePort),
    headers,
    body: req,
    ext,
  };
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * Split a request target into path and query. The absolute form (`http://host/path`, which a
 * server must accept) keeps only its path; `*` (`OPTIONS *`) is not a path and gives `""`.
 */
export function splitTarget(target: string): { pathInfo: string; queryString: string } {
  const authority = ABSOLUTE_FORM.exec(target);
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
 * Write a gateway response to a node:http response. Header names are written as given, an array
 * value as repeated lines. Resolves with the number of body bytes written once the response is
 * complete; rejects when the body fails or the connection closes first.
 *
 * @example
 * const bytes = await writeGatewayResponse(res, { status: 200, body: 'ok' });
 */
export async function writeGatewayResponse(res: ServerResponse, response: GatewayResponse): Promise<number> {
  if (typeof (response as Partial<GatewayResponse> | null)?.status !== 'number') {
    throw new TypeError(`the app returned ${describe(response)}, not a response { status, headers?, body? }` +
      // The usual cause: `module:createApp` where `module:createApp()` was meant.
      (typeof response === 'function' ? '; is it a factory that should have been called?' : ''));
  }
  const { status, headers, body } = response;
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  const withBody = sendsBody(status);
  const headOnly = res.req.method === 'HEAD' || !withBody;
  if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    // A HEAD response must carry the length the GET would have: state it, since node sends no body.
    if (bytes !== undefined && withBody && !res.hasHeader('content-length')) {
      res.setHeader('Content-Length', bytes.byteLength);
    }
    res.writeHead(status);
    res.end(headOnly ? undefined : bytes);
    await finished(res);
    return headOnly || bytes === undefined ? 0 : bytes.byteLength;
  }
  res.writeHead(status);
  if (headOnly) {
    // Never read, but let the source release what it holds (a file stream closes on return()).
    await body[Symbol.asyncIterator]().return?.();
    res.end();
    await finished(res);
    return 0;
  }
  let bytes = 0;
  async function* counted(source: AsyncIterable<Uint8Array>) {
    for await (const chunk of source) {
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`a response body chunk must be a Uint8Array, got ${describe(chunk)}`);
      }
      bytes += chunk.byteLength;
      yield chunk;
    }
  }
  await pipeline(counted(body), res);
  return bytes;
}

/** The app of `appOrHolder` for this request: a holder's `gatewayApp` is read every time. */
function appOf(appOrHolder: GatewayApp | GatewayHolder): GatewayApp {
  if (typeof appOrHolder === 'function') return appOrHolder;
  const app = appOrHolder.gatewayApp;
  if (typeof app !== 'function') throw new TypeError(`the holder's gatewayApp is ${describe(app)}, not a gateway app`);
  return app;
}

/** Throw the configuration error for anything that is neither a gateway app nor a holder of one. */
export function checkAppOrHolder(option: string, appOrHolder: unknown): asserts appOrHolder is GatewayApp | GatewayHolder {
  if (typeof appOrHolder === 'function') return;
  const app = (appOrHolder as Partial<GatewayHolder> | null)?.gatewayApp;
  if (typeof app !== 'function') {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option,
      `must be a gateway app (a function) or an object with a gatewayApp function, got ${describe(appOrHolder)}`);
  }
}

const TWO_HOSTS: GatewayResponse = {
  status: 400,
  headers: { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' },
  body: 'Bad Request: more than one Host header\n',
};

function hostLines(req: IncomingMessage): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') count++;
  return count;
}

function writeStack(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
}

/** A client that closed the connection before the response was complete. */
function clientLeft(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
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
  checkAppOrHolder('app', appOrHolder);
  const onError = options.onError ?? writeStack;
  const onResponse = options.onResponse;

  async function respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const env = toGatewayEnv(req);
    let bytes: number | undefined;
    try {
      // RFC 9112 3.2 requires a 400: node would use the first Host line while the env joins them,
      // and two parts of a stack reading different hosts is how cache poisoning starts.
      const response = hostLines(req) > 1 ? TWO_HOSTS : await appOf(appOrHolder)(env);
      bytes = await writeGatewayResponse(res, response);
    } catch (error) {
      if (!clientLeft(error)) onError(error, env);
      if (res.headersSent) {
        // Half a response is out: closing the connection is the only way left to say it failed.
        res.destroy();
      } else {
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
        res.end('Internal Server Error\n');
      }
    }
    onResponse?.({ env, req, res, bytes, startedAt });
  }

  return function gatewayListener(req, res) {
    respond(req, res).catch((error: unknown) => {
      // Only a throwing hook gets here; the request is over either way.
      res.destroy();
      writeStack(error);
    });
  };
}
