/**
 * Express 5 behind one nginx on the same machine.
 *
 * Any client can send X-Forwarded-For, -Proto and -Host. Behind nginx, Express on its own reports
 * nginx's address and `http`; with `trust proxy` turned on it believes whatever those headers say,
 * forged or not. This assumes one nginx on this machine that sets X-Forwarded-For $remote_addr,
 * X-Forwarded-Proto $scheme and X-Forwarded-Host $host (replacing what the client sent), and this
 * server on 127.0.0.1 only, so that nginx is the only way in.
 *
 * The lines you add: the `proxyfix/node` import, and `proxyFixNode(app, options)` given to
 * http.createServer in place of `app.listen(port)`. Leave `trust proxy` at its default.
 *
 * Run: npm run example -- express
 */
import http from 'node:http';
import express from 'express';
import { proxyFixNode } from 'proxyfix/node';

const app = express();
app.get('/', (req, res) => {
  res.json({ ip: req.ip, protocol: req.protocol, hostname: req.hostname });
});

const port = Number(process.env.PORT ?? 3000);
// One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
// request that reached this port some other way unable to pose as nginx.
const fixed = proxyFixNode(app, { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] });
http.createServer(fixed).listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
