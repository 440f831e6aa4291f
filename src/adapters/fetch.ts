/**
 * fetch handlers <-> gateway, both ways: `toFetchHandler` serves a gateway app as a
 * `(request: Request, ...rest) => Response` handler (Hono, Deno, Bun, Cloudflare-style runtimes),
 * and `fromFetchHandler` turns such a handler into a gateway app, so the middlewares can wrap it.
 *
 * A `Request` carries no socket, so nothing in it says who connected: the socket peer comes from
 * `getPeer`, and without one the peer is unknown (`""`), which no trust list trusts. On
 * `@hono/node-server` the peer is found without configuration: it passes node's request as
 * `incoming` in the handler's second argument, where Hono's own `getConnInfo` reads it too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkGatewayApp, tagKind } from '../app-kind.js';
import { configError, describe } from '../options.js';
import { checkResponse, isFetchResponse, type GatewayApp, type GatewayEnv, type GatewayResponse, requestUrl, shownToApp, splitHostHeader } from '../gateway.js';
import { parseHost } from '../net/host.js';
import { defaultPort } from '../net/port.js';
import { ENV } from './fixed.js';
import { headersOf, isThenable, NODE_REQUEST, peerAddress, NODE_RESPONSE, presentToNode, targetHost, writeStack } from './node.js';

/**
 * A fetch handler: Hono's `app.fetch`, a Deno or Bun server's handler, a Worker's `fetch`. The rest
 * is `any[]` so that handlers typed with their runtime's bindings (`(req, env: Bindings)`) fit.
 */
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** Who connected, in the shape of Hono's `ConnInfo`. */
export interface PeerInfo {
  remote: {
    /** The socket peer's address, without brackets; absent when unknown. */
    address?: string | undefined;
    port?: number | string | undefined;
  };
}

/** Finds the socket peer of a request, from the request and the handler's other arguments. */
export type GetPeer = (request: Request, ...rest: any[]) => PeerInfo | undefined;

export interface FetchHandlerOptions {
  /**
   * The socket peer of each request, which trust decisions start from. On Deno:
   * `(req, info) => ({ remote: { address: info.remoteAddr.hostname, port: info.remoteAddr.port } })`;
   * on Bun: `(req, server) => ({ remote: server.requestIP(req) ?? {} })`.
   * @default on `@hono/node-server`, node's socket peer; elsewhere unknown
   */
  getPeer?: GetPeer;
  /**
   * Called when the app throws or returns something that is not a response; the client gets a 500.
   * @default writes the error's stack to `process.stderr`
   */
  onError?: (error: unknown, env: GatewayEnv) => void;
}

/** `env.ext[FETCH_REQUEST]`: the `Request` an env was built from, when `toFetchHandler` built it. */
export const FETCH_REQUEST = 'fetch.request';
/** `env.ext[FETCH_ARGS]`: the handler's arguments after the request (a runtime's bindings, context). */
export const FETCH_ARGS = 'fetch.args';

declare module '../gateway.js' {
  interface GatewayExt {
    /** The `Request` the env was built from, when `toFetchHandler` built it (`FETCH_REQUEST`). */
    'fetch.request'?: Request;
    /** The handler's arguments after the request (`FETCH_ARGS`). */
    'fetch.args'?: readonly unknown[];
  }
}

/** Set on the response of a `fromFetchHandler` app: the handler's own `Response`, to pass on as it is. */
const FETCH_RESPONSE = Symbol('proxyfix.fetch.response');
interface PassedResponse extends GatewayResponse {
  [FETCH_RESPONSE]: Response;
}

/** `@hono/node-server` passes `{ incoming, outgoing }` (or `{ server: { incoming, outgoing } }`). */
interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

function nodeBindings(rest: readonly unknown[]): NodeBindings | undefined {
  const first = rest[0] as { server?: Partial<NodeBindings>; incoming?: unknown } | undefined;
  const bindings = (first?.server ?? first) as Partial<NodeBindings> | undefined;
  return typeof bindings?.incoming?.socket === 'object' ? bindings as NodeBindings : undefined;
}

const nodeServerPeer: GetPeer = (_request, ...rest) => {
  const socket = nodeBindings(rest)?.incoming.socket;
  if (socket === undefined) return undefined;
  const address = peerAddress(socket);
  return { remote: { address: address === '' ? undefined : address, port: socket.remotePort } };
};

/**
 * Build the gateway env for a fetch `Request`. The scheme and path come from its URL; the host from
 * an absolute-form target on node, else its Host header, or the URL's when it has none.
 */
export function requestToEnv(request: Request, rest: readonly unknown[], getPeer: GetPeer = nodeServerPeer): GatewayEnv {
  const url = new URL(request.url);
  const incoming = nodeBindings(rest)?.incoming;
  // @hono/node-server keeps the scheme of an absolute-form target: the socket says what it was.
  const scheme = incoming === undefined ? url.protocol.slice(0, -1) : (incoming.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  // On node, the lines the Request was built from: reading the Request's own would make
  // @hono/node-server build a full Headers object for every request.
  const headers = incoming === undefined ? headersOfRequest(request) : headersOf(incoming.rawHeaders);
  // On node, an absolute-form target's host wins over Host (RFC 9112 3.2.2), as in toGatewayEnv.
  const host = (incoming === undefined ? undefined : targetHost(incoming.url!)) ?? headers.host ?? url.host;
  const split = splitHostHeader(host);
  const peer = getPeer(request, ...rest)?.remote;
  return {
    method: request.method,
    scheme,
    host,
    serverName: split.name,
    serverPort: split.port || defaultPort(scheme),
    scriptName: '',
    pathInfo: url.pathname,
    queryString: url.search.slice(1),
    remoteAddr: peer?.address ?? '',
    remotePort: peer?.port === undefined ? '' : String(peer.port),
    headers,
    body: request.method === 'GET' || request.method === 'HEAD' ? EMPTY : bodyOf(request),
    ext: { [FETCH_REQUEST]: request, [FETCH_ARGS]: rest },
  };
}

function headersOfRequest(request: Request): Record<string, string> {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  request.headers.forEach((value, name) => { headers[name] = value; });
  return headers;
}

const EMPTY: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/**
 * The request's body, read only when iterated: on @hono/node-server, `request.body` turns its light
 * request object into a full one, which costs a request that nobody reads the body of.
 */
function bodyOf(request: Request): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const body = request.body as unknown as AsyncIterable<Uint8Array> | null;
      return (body ?? EMPTY)[Symbol.asyncIterator]();
    },
  };
}

/** `ReadableStream.from` (node 20.6+), which node 20's types lack: pulls the source as it is read. */
const streamFrom = (ReadableStream as unknown as { from(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> }).from.bind(ReadableStream);

const NULL_BODY = new Set([204, 205, 304]);

/** A gateway response as a fetch `Response`; a body that is an async iterable streams. */
export function toFetchResponse(response: GatewayResponse): Response {
  checkResponse(response);
  const passed = (response as Partial<PassedResponse>)[FETCH_RESPONSE];
  if (passed !== undefined) return passed;
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.set(name, value);
  }
  const body = response.body;
  const sent = body === undefined || NULL_BODY.has(response.status) ? null
    : typeof body === 'string' || body instanceof Uint8Array ? body
    : streamFrom(body);
  return new Response(sent as BodyInit | null, { status: response.status, headers });
}


/**
 * A fetch handler that serves a gateway app. The app's errors become a 500 and go to `onError`.
 *
 * @example
 * export default { fetch: toFetchHandler(proxyFix(app, { xFor: 1 }), { getPeer }) };
 */
export function toFetchHandler(app: GatewayApp, options: FetchHandlerOptions = {}): FetchHandler {
  checkGatewayApp('app', app);
  const getPeer = options.getPeer ?? nodeServerPeer;
  if (typeof getPeer !== 'function') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'getPeer', `must be a function (request, ...rest) => { remote: { address, port } }, got ${describe(getPeer)}`);
  }
  const onError = options.onError ?? writeStack;
  const failed = (error: unknown, env: GatewayEnv) => {
    onError(error, env);
    return new Response('Internal Server Error\n', { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  };
  // An app that answers at once is answered at once: a promise here would keep @hono/node-server
  // off its path for plain responses.
  return tagKind(function gatewayFetch(request: Request, ...rest: unknown[]): Response | Promise<Response> {
    const env = requestToEnv(request, rest, getPeer);
    try {
      const answer = app(env);
      if (!isThenable(answer)) return toFetchResponse(answer);
      return answer.then(toFetchResponse).catch((error: unknown) => failed(error, env));
    } catch (error) {
      return failed(error, env);
    }
  }, 'fetch');
}


/** The headers a fetch handler sees for `env`: the env's, less the spent forwarding headers, with its Host. */
function envHeaders(env: GatewayEnv): Headers {
  const headers = new Headers();
  for (const name in env.headers) {
    if (name !== 'host' && shownToApp(env, name)) headers.set(name, env.headers[name]!);
  }
  if (env.host !== '') headers.set('host', env.host);
  return headers;
}

/** A `Request` built from `env` alone, for an env that did not come from one (served by `toNodeListener`). */
function newRequest(env: GatewayEnv): Request {
  const init: RequestInit & { duplex?: 'half' } = { method: env.method, headers: envHeaders(env) };
  if (env.method !== 'GET' && env.method !== 'HEAD') {
    init.body = streamFrom(env.body) as BodyInit;
    init.duplex = 'half';
  }
  return new Request(requestUrl(env), init);
}

/**
 * The `Request` a fetch handler sees for `env`: a view of `request` whose URL is the one the client
 * asked for (scheme, host, port and prefix as fixed), whose headers are the env's less the spent
 * forwarding headers, and which answers `fixedOf`. Everything else (method, body, the client's
 * abort `signal`) is the request's own.
 *
 * A view, not a new `Request`: undici builds an AbortSignal and a header list for every one, which
 * cost the Hono adapter 12 µs a request in the profile. It is what @hono/node-server does for its
 * own requests. The headers are built when first read: many handlers never read them. A method is
 * called on the request itself: undici accepts the view as `this`, but a runtime whose Request
 * keeps its state in internal slots would not.
 */
function requestView(request: Request, env: GatewayEnv): Request {
  const url = requestUrl(env);
  let headers: Headers | undefined;
  return new Proxy(request, {
    get(target, key) {
      switch (key) {
        case 'url': return url;
        case 'headers': return headers ??= envHeaders(env);
        case ENV: return env;
        default: {
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' && key !== 'constructor' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        }
      }
    },
  });
}

/** A gateway response that carries a fetch `Response` on to a node:http response. */
function toGatewayResponse(response: Response): GatewayResponse {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  return {
    status: response.status,
    headers,
    ...(response.body === null ? {} : { body: response.body as unknown as AsyncIterable<Uint8Array> }),
  };
}

/** The handler's `Response` as the app's answer: passed on whole to a fetch server, converted for node. */
function passOn(env: GatewayEnv, response: Response): GatewayResponse {
  if (!isFetchResponse(response)) {
    throw new TypeError(`the fetch handler returned ${describe(response)}, not a Response`);
  }
  if (env.ext[FETCH_REQUEST] !== undefined) return { status: response.status, [FETCH_RESPONSE]: response } as PassedResponse;
  return toGatewayResponse(response);
}

/**
 * A gateway app that calls a fetch handler with a `Request` built from the env: `request.url` is the
 * public URL, prefix included, and `fixedOf(request)` gives every fixed field. The handler's other
 * arguments are passed on; on `@hono/node-server`, node's request in them reports the fixed client
 * address, so Hono's `getConnInfo(c).remote.address` is the client's. Bodies stream both ways.
 *
 * @example
 * serve({ fetch: toFetchHandler(proxyFix(fromFetchHandler(app.fetch), { xFor: 1 })) }); // @hono/node-server
 */
export function fromFetchHandler(handler: FetchHandler): GatewayApp {
  if (typeof handler !== 'function') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'handler',
      `must be a fetch handler (a function from Request to Response), got ${describe(handler)}` +
      (typeof (handler as { fetch?: unknown } | null)?.fetch === 'function' ? ': pass its fetch method, bound to it' : ''));
  }
  return tagKind(function fetchHandlerApp(env: GatewayEnv): GatewayResponse | Promise<GatewayResponse> {
    // The URL is built from the host: one that is not a host would move the path or not parse.
    if (env.host !== '' && parseHost(env.host) === undefined) {
      return { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Bad Request: the Host header is not a host\n' };
    }
    const request = requestView(env.ext[FETCH_REQUEST] ?? newRequest(env), env);
    let rest = env.ext[FETCH_ARGS] ?? [];
    const fromNode = env.ext[NODE_REQUEST];
    if (fromNode !== undefined) {
      // Served by toNodeListener: give the handler the bindings @hono/node-server would.
      presentToNode(fromNode, env);
      rest = [{ incoming: fromNode, outgoing: env.ext[NODE_RESPONSE] }];
    } else {
      const bindings = nodeBindings(rest);
      if (bindings !== undefined) presentToNode(bindings.incoming, env);
    }
    const answer = handler(request, ...rest);
    return isThenable(answer) ? answer.then((response) => passOn(env, response)) : passOn(env, answer);
  }, 'gateway');
}
