/**
 * `proxyfix/node`: put proxyfix in front of what runs on node:http — an Express, Connect or Koa
 * app, Fastify's handler, a plain `(req, res)` listener, or a WebSocket server's upgrades.
 *
 * The one-liners are compositions of the adapters and `proxyFix`, nothing more:
 * `proxyFixNode(listener, options)` is `toNodeListener(proxyFix(fromNodeListener(listener), options))`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { proxyFix, type ProxyFixOptions } from './middleware/proxy-fix/index.js';
import { configError } from './options.js';
import { fromNodeListener, toNodeListener, toNodeMiddleware, type NodeListener, type NodeMiddleware } from './adapters/node.js';
import { fromUpgradeListener, toUpgradeListener, type UpgradeListener } from './adapters/upgrade.js';

export {
  fromNodeListener,
  presentToNode,
  toGatewayEnv,
  toNodeListener,
  toNodeMiddleware,
  writeGatewayResponse,
  NODE_NEXT,
  NODE_REQUEST,
  NODE_RESPONSE,
  type NodeListener,
  type NodeMiddleware,
  type NodeListenerOptions,
  type NodeResponseInfo,
} from './adapters/node.js';
export { fromUpgradeListener, toUpgradeListener, UPGRADE, type UpgradeListener, type UpgradeListenerOptions } from './adapters/upgrade.js';
export { fixedOf, type FixedRequest } from './adapters/fixed.js';

/**
 * A node:http request listener that runs `listener` behind `proxyFix(options)`: Werkzeug's
 * `app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)` for node. Express then reports the client's
 * `req.ip`, `req.protocol` and `req.hostname`; Koa its `ctx.ip`, `ctx.protocol` and `ctx.host`.
 *
 * @example
 * http.createServer(proxyFixNode(expressApp, { xFor: 1, xProto: 1, xHost: 1 })).listen(3000);
 * http.createServer(proxyFixNode(koaApp.callback(), { xFor: 1, xProto: 1 })).listen(3000);
 * Fastify({ serverFactory: (handler) => http.createServer(proxyFixNode(handler, { xFor: 1 })) });
 */
export function proxyFixNode(listener: NodeListener, options?: ProxyFixOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return toNodeListener(proxyFix(fromNodeListener(listener), options));
}

/**
 * An upgrade listener that runs `listener` (a WebSocket server's `handleUpgrade`) behind
 * `proxyFix(options)`: the socket's address reads as the client's, and a forwarded `https` gives `wss`.
 *
 * @example
 * const wss = new WebSocketServer({ noServer: true });
 * server.on('upgrade', proxyFixUpgrade((req, socket, head) => {
 *   wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
 * }, { xFor: 1, xProto: 1 }));
 */
export function proxyFixUpgrade(listener: UpgradeListener, options?: ProxyFixOptions): UpgradeListener {
  return toUpgradeListener(proxyFix(fromUpgradeListener(listener), options));
}

/**
 * The same fix as an Express (or Connect) middleware, for `app.use` where the server is not yours to
 * create. Register it first: middlewares before it see the proxy. Express's `req.ip`, `req.ips`,
 * `req.protocol`, `req.secure`, `req.host`, `req.hostname` and `req.subdomains` are then the client's.
 * `xPrefix` is refused: Express sets `req.baseUrl` again after every middleware, so use
 * `proxyFixNode` for a prefix.
 *
 * @example
 * app.use(proxyFixExpress({ xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] }));
 */
export function proxyFixExpress(options: ProxyFixOptions = {}): NodeMiddleware {
  if (typeof options === 'object' && options !== null && options.xPrefix !== undefined && options.xPrefix !== 0) {
    throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'xPrefix',
      'cannot reach Express from app.use: it sets req.baseUrl again after every middleware; ' +
      'use http.createServer(proxyFixNode(app, options)) for a prefix');
  }
  return toNodeMiddleware(proxyFix(options));
}
