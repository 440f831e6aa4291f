/**
 * A plain node:http request listener behind one nginx on the same machine (Connect is the same).
 *
 * Any client can send X-Forwarded-For, -Proto and -Host. Behind nginx, `req.socket.remoteAddress`
 * is nginx's address, and code that reads the headers itself takes whatever a client forged. This
 * assumes one nginx on this machine that sets X-Forwarded-For $remote_addr, X-Forwarded-Proto
 * $scheme and X-Forwarded-Host $host (replacing what the client sent), and this server on
 * 127.0.0.1 only, so that nginx is the only way in.
 *
 * The lines you add: the `proxyfix/node` import, and `proxyFixNode(listener, options)` given to
 * http.createServer. `req.socket.remoteAddress` and `req.headers.host` are then the client's, and
 * `fixedOf(req)` has every fixed field, with `url` the URL the client asked for.
 *
 * Run: npm run example -- node-http
 */
import http from 'node:http';
import { fixedOf, proxyFixNode } from 'proxyfix/node';

const port = Number(process.env.PORT ?? 3000);
// One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
// request that reached this port some other way unable to pose as nginx.
const fixed = proxyFixNode((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ address: req.socket.remoteAddress, url: fixedOf(req)?.url }));
}, { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] });
http.createServer(fixed).listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
