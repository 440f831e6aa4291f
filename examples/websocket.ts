/**
 * A `ws` WebSocket server, and an HTTP route beside it, behind one nginx on the same machine.
 *
 * node hands WebSocket upgrades to the server's `upgrade` event, never to the request listener, so
 * fixing the listener alone leaves every WebSocket with nginx's address. Any client can send
 * X-Forwarded-For, -Proto and -Host. This assumes one nginx on this machine that passes upgrades
 * on and sets X-Forwarded-For $remote_addr, X-Forwarded-Proto $scheme and X-Forwarded-Host $host
 * (replacing what the client sent), and this server on 127.0.0.1 only, so that nginx is the only
 * way in.
 *
 * The lines you add: the `proxyfix/node` import, `proxyFixNode(listener, options)` for plain
 * requests, and `proxyFixUpgrade(upgrade, options)` on the `upgrade` event with the WebSocket
 * server made with `noServer: true`. The upgrade's scheme is `ws`, or `wss` when nginx says https.
 *
 * Run: npm run example -- websocket
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { fixedOf, proxyFixNode, proxyFixUpgrade } from 'proxyfix/node';

// One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
// request that reached this port some other way unable to pose as nginx.
const options = { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] };

const server = http.createServer(proxyFixNode((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ address: req.socket.remoteAddress, url: fixedOf(req)?.url }));
}, options));

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws, req) => {
  ws.send(JSON.stringify({ address: req.socket.remoteAddress, scheme: fixedOf(req)?.scheme }));
});
server.on('upgrade', proxyFixUpgrade((req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
}, options));

const port = Number(process.env.PORT ?? 3000);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
