/**
 * Koa 3 behind one nginx on the same machine.
 *
 * Any client can send X-Forwarded-For, -Proto and -Host. Behind nginx, Koa on its own reports
 * nginx's address and `http`; with `app.proxy = true` it believes whatever those headers say,
 * forged or not. This assumes one nginx on this machine that sets X-Forwarded-For $remote_addr,
 * X-Forwarded-Proto $scheme and X-Forwarded-Host $host (replacing what the client sent), and this
 * server on 127.0.0.1 only, so that nginx is the only way in.
 *
 * The lines you add: the `proxyfix/node` import, and `proxyFixNode(app.callback(), options)`
 * given to http.createServer in place of `app.listen(port)`. Leave `app.proxy` at its default.
 *
 * Run: npm run example -- koa
 */
import http from 'node:http';
import Koa from 'koa';
import { proxyFixNode } from 'proxyfix/node';

const app = new Koa();
app.use((ctx) => {
  ctx.body = { ip: ctx.ip, protocol: ctx.protocol, host: ctx.host };
});

const port = Number(process.env.PORT ?? 3000);
// One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
// request that reached this port some other way unable to pose as nginx.
const fixed = proxyFixNode(app.callback(), { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] });
http.createServer(fixed).listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
