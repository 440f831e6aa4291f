/**
 * Fastify 5 behind one nginx on the same machine.
 *
 * Any client can send X-Forwarded-For, -Proto and -Host. Behind nginx, Fastify on its own reports
 * nginx's address and `http`; with `trustProxy: true` it believes whatever those headers say,
 * forged or not. This assumes one nginx on this machine that sets X-Forwarded-For $remote_addr,
 * X-Forwarded-Proto $scheme and X-Forwarded-Host $host (replacing what the client sent), and this
 * server on 127.0.0.1 only, so that nginx is the only way in.
 *
 * The lines you add: the `proxyfix/node` import, and a `serverFactory` that wraps the handler
 * Fastify gives it with `proxyFixNode(handler, options)`. It runs before routing and every hook, so
 * every request is fixed before any plugin reads it. Leave `trustProxy` at its default.
 *
 * Run: npm run example -- fastify
 */
import http from 'node:http';
import Fastify from 'fastify';
import { proxyFixNode } from 'proxyfix/node';

const app = Fastify({
  // One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
  // request that reached this port some other way unable to pose as nginx.
  serverFactory: (handler) => http.createServer(proxyFixNode(handler, { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] })),
});
app.get('/', async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host }));

const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
console.log(`listening on http://127.0.0.1:${port}`);
