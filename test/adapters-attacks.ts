/**
 * The adapters attacked as an outside reviewer would: every attempt to make a framework behind
 * proxyfix read a value a client chose, or to make the adapters crash, hang, leak or route one
 * request as another. Real Express 5, Koa 3, Fastify 5, Connect, Hono 4 (@hono/node-server and
 * toNodeListener), ws, over real sockets.
 *
 * Each hole these found was fixed with its test (absolute-form targets, a Host that is not a host on
 * the fetch adapter, Cookie lines, a second adapter on a fixed request, next() called twice, a
 * fetch handler served as a listener, refusals without back-pressure); the rest pin what held.
 */
import t from 'tap';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express, { type NextFunction, type Request as ExpressRequest, type Response as ExpressResponse } from 'express';
import Koa from 'koa';
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { serve as honoServe } from '@hono/node-server';
import { fixedOf } from '../src/adapters/fixed.js';
import { fromFetchHandler } from '../src/adapters/fetch.js';
import { fromNodeListener, toNodeListener, toNodeMiddleware } from '../src/adapters/node.js';
import { fromUpgradeListener, toUpgradeListener, UPGRADE } from '../src/adapters/upgrade.js';
import { proxyFixFetch } from '../src/fetch.js';
import type { GatewayApp, GatewayEnv, GatewayResponse, Middleware } from '../src/gateway.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { trustGate } from '../src/middleware/trust-gate.js';
import { proxyFixExpress, proxyFixNode } from '../src/node.js';
import { serve } from '../src/server/serve.js';
import { frameworks, ORIGIN, PATH, type View } from './fixtures/frameworks.js';
import { listen, rawExchange, request } from './fixtures/http-client.js';
import { certificate } from './fixtures/certificates.js';
import { tempDir } from './fixtures/teardown.js';
import { getWithLines, parseResponses, type RawResponse } from './fixtures/raw-http.js';

const UPSTREAM_HOST = 'upstream.local:8080';
/** What a client forges carries one of these; no answer may contain one. */
const MARKERS = ['6.6.6.6', 'evil.example', '/forged'];

const trustedProxy: ProxyFixOptions = { trusted: ['127.0.0.1'], xFor: 1, xProto: 1, xHost: 1, xPrefix: 1 };
/** The same counts with the proxies elsewhere: 127.0.0.1 is a client that reached the app directly. */
const proxyElsewhere: ProxyFixOptions = { ...trustedProxy, trusted: ['10.0.0.0/8'], warnings: false };
const loopbackProxy: ProxyFixOptions = { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] };

const fixedView: View = { ip: '203.0.113.7', scheme: 'https', host: 'api.shop.example.com:8443', prefix: '/app', subdomains: ['shop', 'api'] };
const socketView: View = { ip: '127.0.0.1', scheme: 'http', host: UPSTREAM_HOST, prefix: '', subdomains: [] };

const PROXY_LINES: [string, string][] = [
  ['X-Forwarded-For', '203.0.113.7'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'api.shop.example.com:8443'], ['X-Forwarded-Prefix', '/app'],
];


/** Send `head` (one or more requests, the last saying Connection: close) and read every response. */
async function exchange(port: number, head: string): Promise<RawResponse[]> {
  return parseResponses((await rawExchange({ port }, [head])).data);
}

function json(response: RawResponse | { body: string }): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

function upgradeHead(path: string, lines: string): string {
  return `GET ${path} HTTP/1.1\r\n${lines}Connection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
}

// ---------------------------------------------------------------------------------------------
// Header names proxyfix does not hide

/**
 * Names that carry a client address, scheme or host in some stack (request-ip, Rack, IIS, CDNs,
 * CGI-style underscore aliases), each holding a forged value. proxyfix hides only the six it reads;
 * none of these may change what a framework reports.
 */
const ALIASES: [string, string][] = [
  ['X-Real-IP', '6.6.6.6'], ['X-Client-IP', '6.6.6.6'], ['CF-Connecting-IP', '6.6.6.6'], ['True-Client-IP', '6.6.6.6'],
  ['Fastly-Client-IP', '6.6.6.6'], ['X-Cluster-Client-IP', '6.6.6.6'], ['X_Forwarded_For', '6.6.6.6'],
  ['X_Forwarded_Host', 'evil.example'], ['X_Forwarded_Proto', 'https'], ['X-Forwarded-Ssl', 'on'], ['Front-End-Https', 'on'],
  ['X-Url-Scheme', 'https'], ['X-Forwarded-Scheme', 'https'], ['X-Original-Host', 'evil.example'], ['X-Host', 'evil.example'],
  ['X-Forwarded-Server', 'evil.example'], ['X-Original-URL', '/forged'], ['X-Rewrite-URL', '/forged'],
];

t.test('header names proxyfix does not hide: no framework reads them for its address, scheme or host', async (t) => {
  interface Case { name: string; options: ProxyFixOptions; ownTrust: boolean; lines: [string, string][]; view: View }
  const cases: Case[] = [
    { name: 'an untrusted peer, the framework\'s trust off', options: proxyElsewhere, ownTrust: false, lines: ALIASES, view: socketView },
    { name: 'an untrusted peer, the framework\'s trust on', options: proxyElsewhere, ownTrust: true, lines: ALIASES, view: socketView },
    { name: 'the trusted proxy: its headers win, the aliases change nothing', options: trustedProxy, ownTrust: true,
      // After the proxy's lines, where nginx puts a client's headers: an alias read as its real name would win.
      lines: [...PROXY_LINES, ...ALIASES], view: fixedView },
    {
      name: 'X-Forwarded-For twice in different case (and the rest in odd case): joined, read from the right, then hidden',
      options: trustedProxy, ownTrust: true,
      lines: [['X-Forwarded-For', '6.6.6.6'], ['x-forwarded-FOR', '203.0.113.7'], ['X-FORWARDED-PROTO', 'https'],
        ['x-Forwarded-Host', 'api.shop.example.com:8443'], ['X-Forwarded-PREFIX', '/app']],
      view: fixedView,
    },
  ];
  for (const framework of frameworks) {
    for (const c of cases) {
      await t.test(`${framework.name}: ${c.name}`, async (t) => {
        const running = await framework.start(c.options, c.ownTrust);
        t.teardown(() => running.close());
        const answer = await getWithLines(running.port, PATH, [['Host', UPSTREAM_HOST], ['Origin', ORIGIN], ...c.lines]);
        t.equal(answer.status, 200, 'answered');
        t.strictSame(JSON.parse(answer.body), framework.expect(c.view, c.ownTrust));
        for (const marker of MARKERS) t.notOk(answer.body.includes(marker), `no ${marker}`);
      });
    }
  }
});

t.test('a node request keeps the spent headers in rawHeaders and headersDistinct; the Request a fetch handler gets has none', async (t) => {
  // Facts for the README: no framework here reads rawHeaders or headersDistinct for an address, a
  // scheme or a host, but an app's own code could.
  const port = await listen(t, http.createServer(proxyFixNode((req, res) => {
    res.end(JSON.stringify({
      headers: req.headers['x-forwarded-for'] ?? null,
      distinct: req.headersDistinct['x-forwarded-for'] ?? null,
      raw: req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]!.toLowerCase() === 'x-forwarded-for'),
    }));
  }, loopbackProxy)));
  const answer = await getWithLines(port, '/', [['X-Forwarded-For', '6.6.6.6, 203.0.113.7']]);
  t.strictSame(json(answer), { headers: null, distinct: ['6.6.6.6, 203.0.113.7'], raw: ['6.6.6.6, 203.0.113.7'] });

  const hono = new Hono<{ Bindings: { incoming: IncomingMessage } }>();
  hono.get('*', (c) => {
    const names: string[] = [];
    c.req.raw.headers.forEach((_, name) => names.push(name));
    return c.json({ names: names.sort(), incoming: Object.keys(c.env.incoming.headers).sort() });
  });
  const forwarding = [['Forwarded', 'for=6.6.6.6'], ['X-Forwarded-For', '6.6.6.6, 203.0.113.7'], ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Port', '1'], ['X-Forwarded-Prefix', '/forged'], ['X-Real-IP', '6.6.6.6']] as const;
  const served = honoServe({ fetch: proxyFixFetch(hono.fetch, loopbackProxy), port: 0, hostname: '127.0.0.1' });
  t.teardown(() => { served.close(); });
  await new Promise((resolve) => served.once('listening', resolve));
  const seen = json(await getWithLines((served.address() as AddressInfo).port, '/', forwarding));
  t.strictSame(seen, { names: ['connection', 'host', 'x-real-ip'], incoming: ['connection', 'host', 'x-real-ip'] },
    'only X-Real-IP is left, in the Request and in node\'s request alike');
});

t.test('Koa\'s proxyIpHeader reads a header proxyfix does not hide; trustGate in front strips it', async (t) => {
  // Koa documents `proxyIpHeader` (default X-Forwarded-For). Set to X-Real-IP with `proxy: true`, Koa
  // reads whatever a client wrote there: proxyfix hides only the six headers it reads itself. The
  // README's "app.proxy = true as well changes nothing" holds only for the default header.
  const koa = new Koa({ proxy: true, proxyIpHeader: 'X-Real-IP' });
  koa.use((ctx) => { ctx.body = { ip: ctx.ip }; });
  const direct = proxyElsewhere;
  const cases = [
    { name: 'proxyFixNode alone: Koa reads the client\'s X-Real-IP', listener: proxyFixNode(koa.callback(), direct), ip: '6.6.6.6' },
    {
      name: 'trustGate in front: the header is gone before Koa looks',
      listener: toNodeListener(compose(trustGate({ trusted: ['10.0.0.0/8'] }), proxyFix(direct))(fromNodeListener(koa.callback()))),
      ip: '127.0.0.1',
    },
  ];
  for (const c of cases) {
    const port = await listen(t, http.createServer(c.listener));
    t.strictSame(json(await getWithLines(port, '/', [['X-Real-IP', '6.6.6.6']])), { ip: c.ip }, c.name);
  }
});

// ---------------------------------------------------------------------------------------------
// Request targets and Host values

t.test('an absolute-form target names the host (RFC 9112 3.2.2), never the scheme: every framework reports the same', async (t) => {
  // The target's authority wins over the Host header, as RFC 9112 3.2.2 says; its scheme is not the
  // connection's, so it is never taken.
  const targetView: View = { ...socketView, host: 'evil.example', subdomains: [] };
  const cases = [
    // Express, Koa, Connect and node:http would report the target as written (url, originalUrl, href).
    { name: 'http://evil.example', target: `http://evil.example${PATH}` },
    // @hono/node-server builds the Request URL from the target: its scheme must not become the env's.
    { name: 'https://evil.example on a plain connection', target: `https://evil.example${PATH}` },
  ];
  for (const framework of frameworks) {
    for (const c of cases) {
      await t.test(`${framework.name}: ${c.name}`, async (t) => {
        const running = await framework.start(proxyElsewhere, false);
        t.teardown(() => running.close());
        const [answer] = await exchange(running.port, `GET ${c.target} HTTP/1.1\r\nHost: ${UPSTREAM_HOST}\r\nOrigin: ${ORIGIN}\r\nConnection: close\r\n\r\n`);
        t.strictSame(json(answer!), framework.expect(targetView, false));
      });
    }
  }
});

t.test('request lines and Host values an app seldom sees: what Express reports, nothing forged', async (t) => {
  const app = express();
  app.all('*splat', (req, res) => {
    const fixed = fixedOf(req)!;
    res.json({ hostname: req.hostname ?? null, host: req.host ?? null, url: req.url, ip: req.ip, serverPort: fixed.serverPort, fixedUrl: fixed.url });
  });
  const port = await listen(t, http.createServer(proxyFixNode(app, loopbackProxy)));
  const cases = [
    { name: 'HTTP/1.0 without Host, a forwarded host', head: 'GET /p HTTP/1.0\r\nX-Forwarded-Host: fwd.example\r\n\r\n',
      expect: { status: 200, body: { hostname: 'fwd.example', host: 'fwd.example', url: '/p', ip: '127.0.0.1', serverPort: '80', fixedUrl: 'http://fwd.example/p' } } },
    { name: 'HTTP/1.0 without Host, nothing forwarded: no host at all, the local address for URLs',
      head: 'GET /p HTTP/1.0\r\n\r\n',
      expect: { status: 200, body: { hostname: null, host: null, url: '/p', ip: '127.0.0.1', serverPort: String(port), fixedUrl: `http://127.0.0.1:${port}/p` } } },
    { name: 'a Host with a port, a forwarded host without: the forwarded host and its scheme\'s port',
      head: 'GET /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Forwarded-Host: fwd.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n',
      expect: { status: 200, body: { hostname: 'fwd.example', host: 'fwd.example', url: '/p', ip: '127.0.0.1', serverPort: '443', fixedUrl: 'https://fwd.example/p' } } },
    { name: 'OPTIONS *', head: 'OPTIONS * HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n',
      expect: { status: 200, body: { hostname: 'good.example', host: 'good.example', url: '*', ip: '127.0.0.1', serverPort: '80', fixedUrl: 'http://good.example' } } },
    { name: 'a space before the colon: node refuses the line, no app runs',
      head: 'GET /p HTTP/1.1\r\nHost: a\r\nX-Forwarded-For : 6.6.6.6\r\nConnection: close\r\n\r\n', expect: { status: 400 } },
    { name: 'a forwarded host with a space: not taken', head: 'GET /p HTTP/1.1\r\nHost: good.example\r\nX-Forwarded-Host: evil.example good.example\r\nConnection: close\r\n\r\n',
      expect: { status: 200, body: { hostname: 'good.example', host: 'good.example', url: '/p', ip: '127.0.0.1', serverPort: '80', fixedUrl: 'http://good.example/p' } } },
  ];
  for (const c of cases) {
    const [answer] = await exchange(port, c.head);
    t.strictSame({ status: answer!.status, ...(c.expect.body === undefined ? {} : { body: json(answer!) }) }, c.expect, c.name);
  }
});

t.test('a Host that is not a host, on a fetch handler served by toNodeListener: routed by its request line or refused', async (t) => {
  // @hono/node-server answers these with a 400. toNodeListener -> fromFetchHandler (what `proxyfix
  // serve` does with a Hono app) builds the Request URL by pasting the Host in front of the path, so
  // a `/`, `?` or `#` in the Host moves the path, and a URL that does not parse is a 500 and a stack.
  const hono = new Hono();
  hono.all('*', (c) => c.json({ path: c.req.path }));
  const errors: unknown[] = [];
  const plain = await listen(t, http.createServer(toNodeListener(proxyFix(fromFetchHandler(hono.fetch), loopbackProxy), { onError: (error) => errors.push(error) })));
  const guarded = await listen(t, http.createServer(toNodeListener(
    compose(proxyFix(loopbackProxy), allowedHosts(['x.example', 'good.example']))(fromFetchHandler(hono.fetch)), { onError: (error) => errors.push(error) })));
  const hosts = [
    { name: 'a slash and a question mark move the path', host: 'x.example/admin?', path: '/public' },
    { name: 'a hash hides the path', host: 'x.example#', path: '/admin' },
    { name: 'user info', host: 'good.example@evil.example', path: '/p' },
    { name: 'an unclosed bracket', host: '[::1', path: '/p' },
  ];
  for (const [server, port] of [['the fetch adapter', plain], ['with allowedHosts', guarded]] as const) {
    for (const h of hosts) {
      await t.test(`${server}: ${h.name}`, async (t) => {
        errors.length = 0;
        const [answer] = await exchange(port, `GET ${h.path} HTTP/1.1\r\nHost: ${h.host}\r\nConnection: close\r\n\r\n`);
        if (answer!.status === 400) t.pass('refused');
        else t.strictSame({ status: answer!.status, body: answer!.body }, { status: 200, body: JSON.stringify({ path: h.path }) }, 'routed by the request line');
        t.strictSame(errors, [], 'no app error for what a client sent');
      });
    }
  }
});

t.test('repeated Cookie lines reach a fetch handler joined as cookies are', async (t) => {
  const hono = new Hono();
  hono.get('*', (c) => c.json(getCookie(c)));
  const port = await listen(t, http.createServer(toNodeListener(proxyFix(fromFetchHandler(hono.fetch), loopbackProxy))));
  t.strictSame(json(await getWithLines(port, '/', [['Cookie', 'a=1'], ['Cookie', 'b=2']])), { a: '1', b: '2' });
});

// ---------------------------------------------------------------------------------------------
// One connection, many requests

t.test('pipelined requests on one connection: each sees its own client, host and socket view', async (t) => {
  let secondArrived!: () => void;
  const second = new Promise<void>((resolve) => { secondArrived = resolve; });
  const views: Socket[] = [];
  const port = await listen(t, http.createServer(proxyFixNode(async (req, res) => {
    views.push(req.socket);
    // The first answer waits until the second request is in the app: both run at once.
    if (req.url === '/1') await second;
    else secondArrived();
    res.end(JSON.stringify({ url: req.url, ip: req.socket.remoteAddress, host: req.headers.host, fixed: fixedOf(req)!.remoteAddr }));
  }, loopbackProxy)));
  const answers = await exchange(port,
    'GET /1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-Host: one.example\r\n\r\n' +
    'GET /2 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.2\r\nX-Forwarded-Host: two.example\r\nConnection: close\r\n\r\n');
  t.strictSame(answers.map(json), [
    { url: '/1', ip: '203.0.113.1', host: 'one.example', fixed: '203.0.113.1' },
    { url: '/2', ip: '203.0.113.2', host: 'two.example', fixed: '203.0.113.2' },
  ]);
  t.not(views[0], views[1], 'one view per request');

  for (const framework of frameworks) {
    await t.test(`${framework.name}: two clients pipelined`, async (t) => {
      const running = await framework.start(trustedProxy, false);
      t.teardown(() => running.close());
      const one = `GET ${PATH} HTTP/1.1\r\nHost: ${UPSTREAM_HOST}\r\nOrigin: ${ORIGIN}\r\nX-Forwarded-For: 6.6.6.6, 198.51.100.1\r\nX-Forwarded-Proto: https\r\n\r\n`;
      const two = `GET ${PATH} HTTP/1.1\r\nHost: ${UPSTREAM_HOST}\r\nOrigin: ${ORIGIN}\r\nX-Forwarded-For: 198.51.100.2\r\nConnection: close\r\n\r\n`;
      const answers = await exchange(running.port, one + two);
      t.strictSame(answers.map(json), [
        framework.expect({ ...socketView, ip: '198.51.100.1', scheme: 'https' }, false),
        framework.expect({ ...socketView, ip: '198.51.100.2' }, false),
      ]);
      t.equal(running.connections.length, 1, 'over one connection');
    });
  }
});

t.test('header names that are Object.prototype members, through presentToNode and requestToEnv', async (t) => {
  const lines: [string, string][] = [['__proto__', '{"polluted":1}'], ['constructor', 'c'], ['hasOwnProperty', 'h'], ['toString', 's'], ['X-Forwarded-For', '203.0.113.7']];
  const port = await listen(t, http.createServer(proxyFixNode((req, res) => {
    const env = fixedOf(req)!.env;
    res.end(JSON.stringify({
      node: { constructor: req.headers.constructor, hasownproperty: req.headers.hasownproperty, tostring: req.headers.tostring },
      env: ['__proto__', 'constructor', 'hasownproperty', 'tostring'].map((name) => Object.hasOwn(env.headers, name) ? env.headers[name] : null),
      ip: req.socket.remoteAddress,
    }));
  }, loopbackProxy)));
  t.strictSame(json(await getWithLines(port, '/', lines)), {
    node: { constructor: 'c', hasownproperty: 'h', tostring: 's' },
    env: ['{"polluted":1}', 'c', 'h', 's'],
    ip: '203.0.113.7',
  }, 'node listener: stored as headers, nothing deleted that the env has');

  const hono = new Hono();
  hono.get('*', (c) => c.json({ proto: c.req.header('__proto__') ?? null, ctor: c.req.header('constructor') ?? null, ip: fixedOf(c.req.raw)!.remoteAddr }));
  const served = honoServe({ fetch: proxyFixFetch(hono.fetch, loopbackProxy), port: 0, hostname: '127.0.0.1' });
  t.teardown(() => { served.close(); });
  await new Promise((resolve) => served.once('listening', resolve));
  t.strictSame(json(await getWithLines((served.address() as AddressInfo).port, '/', lines)), { proto: '{"polluted":1}', ctor: 'c', ip: '203.0.113.7' },
    'fetch handler: the same');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
});

// ---------------------------------------------------------------------------------------------
// The socket view

t.test('the socket view: what node, the frameworks and an app can do with req.socket', async (t) => {
  const errors: unknown[] = [];
  let real: Socket | undefined;
  const port = await listen(t, http.createServer(toNodeListener(proxyFix(fromNodeListener((req, res) => {
    const view = req.socket;
    real = res.socket!;
    if (req.url === '/destroy') {
      // Once the first bytes are out, as finalhandler does on an error after the headers.
      res.write('partial', () => view.destroy());
      return;
    }
    const probe = () => {};
    view.on('close', probe);
    const added = real.listeners('close').includes(probe);
    view.removeListener('close', probe);
    req.setTimeout(7000);
    view.setKeepAlive(true, 1000);
    view.setNoDelay(true);
    res.end(JSON.stringify({
      instanceOfSocket: view instanceof net.Socket,
      connection: (req as IncomingMessage & { connection: Socket }).connection === view,
      // A fact for the README: res.socket is the socket itself, never the view.
      sameAsRes: res.socket === view,
      remote: [view.remoteAddress, view.remotePort, view.remoteFamily],
      local: view.address(),
      timeout: [view.timeout, real.timeout],
      listener: [added, real.listeners('close').includes(probe)],
      readable: view.readable,
    }));
  }), loopbackProxy), { onError: (error) => errors.push(error) })));

  const [answer] = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7:4711\r\nConnection: close\r\n\r\n');
  t.strictSame(json(answer!), {
    instanceOfSocket: true, connection: true, sameAsRes: false, remote: ['203.0.113.7', 4711, 'IPv4'],
    local: { address: '127.0.0.1', family: 'IPv4', port }, timeout: [7000, 7000], listener: [true, false], readable: true,
  }, 'methods called through the view act on the socket; reads of the peer are the client\'s');

  const cut = await rawExchange({ port }, ['GET /destroy HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n']);
  t.match(cut.data, /^HTTP\/1\.1 200 OK\r\n[^]*partial\r\n$/, 'destroying the view closes the real connection mid-body');
  const [after] = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.equal(after!.status, 200, 'and the server goes on serving');
  t.strictSame(errors, [], 'an app that cuts its own connection is not an error');
});

t.test('the socket view over TLS: certificate and protocol read through, encryption follows the fixed scheme', async (t) => {
  const dir = tempDir(t);
  const cert = certificate(dir);
  const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert });
  server.on('request', proxyFixNode((req, res) => {
    const view = req.socket as TLSSocket;
    res.end(JSON.stringify({
      encrypted: view.encrypted ?? null, protocol: view.getProtocol(), certificate: typeof view.getPeerCertificate(), authorized: view.authorized,
      ip: view.remoteAddress, expressLike: view.encrypted ? 'https' : 'http',
    }));
  }, { xFor: 1, xProto: 1, trusted: ['loopback'] }));
  const port = await listen(t, server);
  const ask = (headers: Record<string, string>) => new Promise<Record<string, unknown>>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, ca: cert, servername: 'localhost', agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk; });
      res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
    }).on('error', reject);
  });
  t.strictSame(await ask({}), { encrypted: true, protocol: 'TLSv1.3', certificate: 'object', authorized: false, ip: '127.0.0.1', expressLike: 'https' });
  t.strictSame(await ask({ 'X-Forwarded-Proto': 'http', 'X-Forwarded-For': '203.0.113.7' }),
    { encrypted: null, protocol: 'TLSv1.3', certificate: 'object', authorized: false, ip: '203.0.113.7', expressLike: 'http' },
    'a TLS hop that forwards http: not encrypted, the rest of TLS still readable');
});

t.test('many requests on one keep-alive connection leave nothing behind on the socket', async (t) => {
  /** Listener counts on the real socket as each request starts. */
  const counts: Record<string, number>[] = [];
  const port = await listen(t, http.createServer(proxyFixNode((req, res) => {
    // res.socket is null while a pipelined response waits its turn: count through the view.
    const socket = req.socket;
    counts.push(Object.fromEntries(socket.eventNames().map((event) => [String(event), socket.listenerCount(event)])));
    // What on-finished (Express, Koa) does with req.socket on every request.
    const onClose = () => {};
    req.socket.on('close', onClose);
    req.socket.on('error', onClose);
    res.on('finish', () => {
      req.socket.removeListener('close', onClose);
      req.socket.removeListener('error', onClose);
    });
    req.setTimeout(60_000);
    res.end(String(req.socket.remoteAddress));
  }, loopbackProxy)));
  // One after another over one connection, as a proxy's upstream keep-alive sends them.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const seen: string[] = [];
  for (let i = 0; i < 25; i++) seen.push((await request({ port }, { agent, headers: { 'X-Forwarded-For': `198.51.100.${i}` } })).body);
  t.strictSame(seen, Array.from({ length: 25 }, (_, i) => `198.51.100.${i}`));
  // The first request finds node's own set-up still in progress; from the second on, nothing grows.
  t.strictSame(counts.slice(2), counts.slice(2).map(() => counts[1]), 'every listener added through a view is gone with its request');
});

// ---------------------------------------------------------------------------------------------
// Two adapters on one request

t.test('a second adapter on a request already fixed changes nothing', async (t) => {
  // THREATS 18: proxyFixNode around an Express app that also registers proxyFixExpress (a sub-app
  // or a shared middleware stack). The second env is built from rawHeaders and the socket view, so it
  // starts from the raw Host again and presentToNode writes it back over the fixed one.
  const headers: [string, string][] = [['Host', UPSTREAM_HOST], ['X-Forwarded-For', '203.0.113.7'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'api.example.com']];
  const report = (req: ExpressRequest, res: ExpressResponse) => {
    res.json({ ip: req.ip, protocol: req.protocol, hostname: req.hostname, fixedHost: fixedOf(req)?.host });
  };
  const cases = [
    { name: 'proxyFixNode outside, proxyFixExpress({ xFor: 1 }) inside', outer: true, inner: [{ xFor: 1 }] },
    { name: 'proxyFixExpress twice', outer: false, inner: [loopbackProxy, loopbackProxy] },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const app = express();
      for (const options of c.inner) app.use(proxyFixExpress(options));
      app.get('/', report);
      const port = await listen(t, http.createServer(c.outer ? proxyFixNode(app, loopbackProxy) : app));
      t.strictSame(json(await getWithLines(port, '/', headers)),
        { ip: '203.0.113.7', protocol: 'https', hostname: 'api.example.com', fixedHost: 'api.example.com' });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// toNodeMiddleware

t.test('toNodeMiddleware: a gateway middleware that fails before or after the rest', async (t) => {
  interface Case { name: string; middleware: Middleware; expect: { status: number; handler: number; errors: string[] } }
  const cases: Case[] = [
    { name: 'throws before the rest: one error to next, the route never runs',
      middleware: () => () => { throw new Error('before'); }, expect: { status: 500, handler: 0, errors: ['before'] } },
    { name: 'refuses the request itself: written, next never called',
      middleware: allowedHosts(['elsewhere.example']), expect: { status: 400, handler: 0, errors: [] } },
    { name: 'throws after the rest has run: the answer stands, next is not called a second time',
      middleware: (app) => async (env) => { await app(env); throw new Error('after'); }, expect: { status: 200, handler: 1, errors: [] } },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const seen = { handler: 0, errors: [] as string[] };
      const app = express();
      app.use(toNodeMiddleware(compose(c.middleware, proxyFix(loopbackProxy))));
      app.get('/', (req, res) => {
        seen.handler++;
        res.json({ ip: req.ip });
      });
      app.use((error: Error, _req: ExpressRequest, res: ExpressResponse, _next: NextFunction) => {
        seen.errors.push(error.message);
        if (!res.headersSent) res.status(500).end();
      });
      const port = await listen(t, http.createServer(app));
      const [answer] = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n');
      // Let a late next(error) land before counting.
      await new Promise((resolve) => setImmediate(resolve));
      t.strictSame({ status: answer!.status, ...seen }, c.expect);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Telling app kinds apart

t.test('app kinds the shape test gets wrong', async (t) => {
  const twoParamGateway = function gatewayApp(env: GatewayEnv, _unused?: unknown): GatewayResponse {
    return { status: 200, body: env.remoteAddr };
  };
  const withHelpers = Object.assign((env: GatewayEnv): GatewayResponse => ({ status: 200, body: env.remoteAddr }), { handle() {}, use() {} });

  t.throws(() => proxyFix(twoParamGateway as GatewayApp, { xFor: 1 }), {
    name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE',
    message: /got a node:http request listener \(it takes req and res\): wrap it with fromNodeListener/,
  }, 'a gateway app declared with two parameters is taken for a node listener, and the message says what was seen');

  await t.test('serve with interface gateway takes a gateway app with two parameters', async (t) => {
    const running = await serve(twoParamGateway, { interface: 'gateway', bind: '127.0.0.1:0', accessLog: false, log: false });
    t.teardown(() => running.close());
    const [answer] = await exchange(Number(running.addresses[0]!.split(':').pop()), 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    t.strictSame({ status: answer?.status, body: answer?.body }, { status: 200, body: '127.0.0.1' });
  });

  // A function with handle and use is what a Connect app is; refusing one is the price of refusing
  // Express apps even under interface "gateway". The way out is a one-parameter wrapper.
  await t.rejects(serve(withHelpers, { interface: 'gateway', bind: '127.0.0.1:0', accessLog: false, log: false }), {
    name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', message: /got a Connect app: wrap it with fromNodeListener/,
  }, 'a gateway app with handle and use helpers is taken for a Connect app, even under interface gateway');
  const wrapped = await serve((env: GatewayEnv) => withHelpers(env), { interface: 'gateway', bind: '127.0.0.1:0', accessLog: false, log: false });
  t.teardown(() => wrapped.close());
  const [answer] = await exchange(Number(wrapped.addresses[0]!.split(':').pop()), 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.equal(answer?.body, '127.0.0.1', 'wrapped in a one-parameter function, it is served');

  await t.test('a two-argument fetch handler served with interface auto is answered, not left hanging', async (t) => {
    // One that reads request.url gets node's "/x" and throws (a 500 saying "Invalid URL"); this one
    // returns its Response, which nothing writes.
    const handler = async (_request: Request, _info: unknown) => new Response('hello');
    const running = await serve(handler, { bind: '127.0.0.1:0', accessLog: false, log: false });
    t.teardown(() => running.close());
    const port = Number(running.addresses[0]!.split(':').pop());
    const socket = net.connect(port, '127.0.0.1');
    t.teardown(() => socket.destroy());
    let data = '';
    socket.on('data', (chunk: Buffer) => { data += chunk; });
    socket.write('GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    // Bounded: a hang is what is being caught.
    await new Promise((resolve) => { socket.once('close', resolve); setTimeout(resolve, 1000).unref(); });
    t.match(data, /^HTTP\/1\.1 (200|500) /, 'some answer');
  });
});

// ---------------------------------------------------------------------------------------------
// Upgrades

t.test('Upgrade: websocket sent to a server with no upgrade handler is an ordinary, fixed request', async (t) => {
  const port = await listen(t, http.createServer(proxyFixNode((req, res) => {
    res.end(JSON.stringify({ upgrade: (req as IncomingMessage & { upgrade: boolean }).upgrade, ip: req.socket.remoteAddress, forwarded: req.headers['x-forwarded-for'] ?? null }));
  }, loopbackProxy)));
  const [answer] = await exchange(port, upgradeHead('/', 'Host: a\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n').replace('Connection: Upgrade', 'Connection: Upgrade, close'));
  t.strictSame({ status: answer!.status, body: json(answer!) }, { status: 200, body: { upgrade: false, ip: '203.0.113.7', forwarded: null } });
});

t.test('upgrades refused by allowedHosts: huge hosts, and clients that leave mid-refusal', async (t) => {
  const errors: unknown[] = [];
  let upgraded = 0;
  let yielded = 0;
  let maxQueued = 0;
  const refuseSlowly: Middleware = (app) => (env) => {
    if (env.pathInfo !== '/stream') return app(env);
    const { socket } = env.ext[UPGRADE]!;
    async function* body() {
      for (let i = 0; i < 256; i++) {
        yielded++;
        maxQueued = Math.max(maxQueued, socket.writableLength);
        yield new Uint8Array(64 * 1024);
      }
    }
    return { status: 403, body: body() };
  };
  const server = http.createServer();
  server.on('upgrade', toUpgradeListener(compose(refuseSlowly, proxyFix(loopbackProxy), allowedHosts(['example.com']))(
    // Counted and closed at once: a test that lets an upgrade through must not wait on it.
    fromUpgradeListener((_req, socket) => { upgraded++; socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n'); })),
  { onError: (error) => errors.push(error) }));
  const port = await listen(t, server);

  const huge = `${'a'.repeat(15_000)}.example`;
  const cases = [
    { name: 'a huge Host', lines: `Host: ${huge}\r\n` },
    { name: 'a huge forwarded host', lines: `Host: elsewhere.example\r\nX-Forwarded-Host: ${huge}\r\n` },
    { name: 'a forged allowed host left of the proxy\'s', lines: 'Host: example.com\r\nX-Forwarded-Host: example.com, evil.example\r\n' },
  ];
  for (const c of cases) {
    const answer = await rawExchange({ port }, [upgradeHead('/', c.lines)]);
    t.match(answer.data, /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n/, `${c.name}: refused, and closed`);
    t.notOk(answer.data.includes('aaaa') || answer.data.includes('evil'), `${c.name}: the answer does not repeat the host`);
  }
  const tooBig = await rawExchange({ port }, [upgradeHead('/', `Host: ${'a'.repeat(20_000)}\r\n`)]);
  t.match(tooBig.data, /^HTTP\/1\.1 431 /, 'a head over node\'s limit: 431 from node, no app');

  // A client that resets while a refusal streams: the server must neither crash nor report it.
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  client.write(upgradeHead('/stream', 'Host: example.com\r\n'));
  await new Promise((resolve) => client.once('data', resolve));
  client.resetAndDestroy();
  const next = await rawExchange({ port }, [upgradeHead('/', 'Host: elsewhere.example\r\n')]);
  t.match(next.data, /^HTTP\/1\.1 400 /, 'the next upgrade is answered');
  t.strictSame(errors, [], 'a client leaving is not an app error');
  t.equal(upgraded, 0, 'nothing was upgraded');

  await t.test('a streamed refusal is written with back-pressure', async (t) => {
    yielded = 0;
    maxQueued = 0;
    const answer = await rawExchange({ port }, [upgradeHead('/stream', 'Host: example.com\r\n')]);
    t.equal(answer.data.length > 16 * 1024 * 1024, true, 'the whole body arrived');
    t.equal(yielded, 256);
    t.ok(maxQueued < 4 * 1024 * 1024, `at most a few chunks queued in memory (saw ${maxQueued} bytes)`);
  });
});
