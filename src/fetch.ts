/**
 * `proxyfix/fetch`: put proxyfix in front of a fetch handler — Hono's `app.fetch`, or any
 * `(request: Request, ...rest) => Response` on @hono/node-server, Deno, Bun or a Worker runtime.
 *
 * `proxyFixFetch(handler, options)` is `toFetchHandler(proxyFix(fromFetchHandler(handler), options))`.
 */
import { proxyFix, type ProxyFixOptions } from './middleware/proxy-fix/index.js';
import { fromFetchHandler, toFetchHandler, type FetchHandler, type GetPeer } from './adapters/fetch.js';

export {
  fromFetchHandler,
  toFetchHandler,
  requestToEnv,
  toFetchResponse,
  FETCH_ARGS,
  FETCH_REQUEST,
  type FetchHandler,
  type FetchHandlerOptions,
  type GetPeer,
  type PeerInfo,
} from './adapters/fetch.js';
export { fixedOf, type FixedRequest } from './adapters/fixed.js';

export interface ProxyFixFetchOptions extends ProxyFixOptions {
  /**
   * The socket peer of each request; see `FetchHandlerOptions.getPeer`.
   * @default on `@hono/node-server`, node's socket peer; elsewhere unknown
   */
  getPeer?: GetPeer;
}

/**
 * A fetch handler that runs `handler` behind `proxyFix(options)`: `request.url` carries the fixed
 * scheme, host, port and prefix, and on @hono/node-server Hono's `getConnInfo(c)` the client's address.
 *
 * @example
 * serve({ fetch: proxyFixFetch(app.fetch, { xFor: 1, xProto: 1, xHost: 1 }), port: 3000 }); // @hono/node-server
 * Deno.serve(proxyFixFetch(app.fetch, { xFor: 1, trusted: ['loopback'], getPeer: (req, info) => ({ remote: { address: info.remoteAddr.hostname } }) }));
 */
export function proxyFixFetch(handler: FetchHandler, options: ProxyFixFetchOptions = {}): FetchHandler {
  // Anything but an options object goes to proxyFix whole, for its own error.
  if (typeof options !== 'object' || options === null) return toFetchHandler(proxyFix(fromFetchHandler(handler), options));
  const { getPeer, ...fixOptions } = options;
  return toFetchHandler(proxyFix(fromFetchHandler(handler), fixOptions), getPeer === undefined ? {} : { getPeer });
}
