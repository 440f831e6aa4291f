/**
 * HTTP upgrades (WebSockets) <-> gateway. node:http hands an upgrade request to the server's
 * `upgrade` event, never to the request listener, so a WebSocket server behind a proxy would see
 * the proxy's address whatever the listener does. `toUpgradeListener` runs a gateway app on each
 * upgrade request, with the scheme `ws` or `wss`; `fromUpgradeListener` hands the request on to an
 * upgrade handler (`ws`'s `handleUpgrade`) once it says what the env says.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkGatewayApp, recognize, tagKind } from '../app-kind.js';
import { configError, describe } from '../options.js';
import { checkResponse, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../gateway.js';
import { NODE_REQUEST, presentToNode, refusalOf, toGatewayEnv, wasWritten, writeStack, written } from './node.js';

/** What node's `upgrade` event passes: the request, its socket, and the first bytes after the head. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** `env.ext[UPGRADE]`: the socket and head of an upgrade request, when `toUpgradeListener` built the env. */
export const UPGRADE = 'node.upgrade';

declare module '../gateway.js' {
  interface GatewayExt {
    /** The socket and head of an upgrade request, when `toUpgradeListener` built the env (`UPGRADE`). */
    'node.upgrade'?: { socket: Duplex; head: Buffer };
  }
}

export interface UpgradeListenerOptions {
  /**
   * Called when the app throws or returns something that cannot be written; the client gets a 500.
   * @default writes the error's stack to `process.stderr`
   */
  onError?: (error: unknown, env: GatewayEnv) => void;
}

function ignore(): void {}


/**
 * Answer an upgrade request with a plain HTTP response (a middleware refused it: a host not
 * allowed, say) and close the connection. Header names and values are checked as node checks them.
 */
async function refuse(socket: Duplex, response: GatewayResponse): Promise<void> {
  const body = response.body;
  let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}\r\nConnection: close\r\n`;
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    if (name.toLowerCase() === 'connection') continue;
    validateHeaderName(name);
    for (const item of Array.isArray(value) ? value : [value]) {
      validateHeaderValue(name, item);
      head += `${name}: ${item}\r\n`;
    }
  }
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    socket.write(`${head}Content-Length: ${bytes.byteLength}\r\n\r\n`);
    socket.end(bytes);
    return;
  }
  socket.write(`${head}\r\n`);
  try {
    if (body !== undefined) {
      for await (const chunk of body) {
        // Back-pressure: a client that does not read must not make the whole body wait in memory.
        if (!socket.write(chunk) && !socket.destroyed) {
          await new Promise((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); });
        }
      }
    }
  } catch (error) {
    // The head is out: a 500 written now would land inside this body. Cutting the connection is
    // the only way left to say it failed.
    socket.destroy();
    throw error;
  }
  socket.end();
}

/**
 * An upgrade listener (for node's `server.on('upgrade', …)`) that runs a gateway app. The app
 * either hands the connection on (`fromUpgradeListener`) or answers with a response, which is
 * written and the connection closed.
 *
 * @example
 * server.on('upgrade', toUpgradeListener(proxyFix(fromUpgradeListener(upgrade), { xFor: 1, xProto: 1 })));
 */
export function toUpgradeListener(app: GatewayApp, options: UpgradeListenerOptions = {}): UpgradeListener {
  const seen = recognize(app);
  if (seen.kind === 'node') {
    // An upgrade listener (req, socket, head) looks like a request listener, the usual mistake
    // here; the advice for request listeners (fromNodeListener) would be wrong for it.
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'app', `must be a gateway app (a function), got ${seen.what}: ` +
      'wrap an upgrade listener with fromUpgradeListener(listener), or use proxyFixUpgrade(listener, options) from "proxyfix/node"');
  }
  checkGatewayApp('app', app);
  const onError = options.onError ?? writeStack;
  return function gatewayUpgrade(req, socket, head) {
    const env = toGatewayEnv(req, { [NODE_REQUEST]: req, [UPGRADE]: { socket, head } });
    env.scheme = env.scheme === 'https' ? 'wss' : 'ws';
    // node takes its own error listener off an upgraded socket, and an 'error' with no listener
    // is an uncaught exception: a client resetting the connection while the app runs (or while a
    // refusal is written) would take the whole server down. The socket closes itself on error.
    socket.on('error', ignore);
    (async () => {
      // Two Host lines are refused here as toNodeListener refuses them: two readers, two hosts.
      const response = refusalOf(req) ?? await app(env);
      checkResponse(response);
      // Handed over: the upgrade handler owns the socket and its errors now (ws adds its own listener).
      if (wasWritten(response)) socket.off('error', ignore);
      else await refuse(socket, response);
    })().catch((error: unknown) => {
      onError(error, env);
      if (socket.writable) socket.end('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  };
}

/**
 * A gateway app that hands an upgrade request to `listener` after making the request say what the
 * env says: `req.socket.remoteAddress` is the client's, `req.headers.host` the fixed host, and the
 * socket view reports encryption for `wss`. It serves requests from `toUpgradeListener`.
 *
 * @example
 * const wss = new WebSocketServer({ noServer: true });
 * const upgrade = (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
 */
export function fromUpgradeListener(listener: UpgradeListener): GatewayApp {
  if (typeof listener !== 'function') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'listener', `must be an upgrade listener (req, socket, head), got ${describe(listener)}`);
  }
  return tagKind(function upgradeListenerApp(env: GatewayEnv): GatewayResponse {
    const upgrade = env.ext[UPGRADE];
    if (upgrade === undefined) {
      throw new TypeError('fromUpgradeListener serves upgrade requests only: give it to toUpgradeListener (or use proxyFixUpgrade) ' +
        'on the server\'s upgrade event');
    }
    const req = env.ext[NODE_REQUEST]!;
    presentToNode(req, env);
    listener(req, upgrade.socket, upgrade.head);
    return written(101);
  }, 'gateway');
}
