/**
 * node listeners inside a gateway stack: fromNodeListener and presentToNode field by field, fixedOf,
 * the connect-style middleware (toNodeMiddleware, proxyFixExpress), and what the access-log hook
 * learns about a response a listener wrote itself. Real node:http servers and clients throughout.
 */
import t, { type Test } from 'tap';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import connect from 'connect';
import { fixedOf } from '../src/adapters/fixed.js';
import { fromNodeListener, presentToNode, toNodeListener, toNodeMiddleware, type NodeResponseInfo } from '../src/adapters/node.js';
import { createEnv, type GatewayApp } from '../src/gateway.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { proxyFixExpress } from '../src/node.js';
import { rawExchange, request, type Answer } from './fixtures/http-client.js';

async function start(t: Test, listener: http.RequestListener): Promise<{ port: number }> {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port };
}

/** What a plain listener sees of its request, as JSON. */
function reporter(req: IncomingMessage, res: ServerResponse): void {
  const seen = req as IncomingMessage & { originalUrl?: string; baseUrl?: string };
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    remoteFamily: req.socket.remoteFamily,
    encrypted: (req.socket as Socket & { encrypted?: boolean }).encrypted ?? null,
    host: req.headers.host ?? null,
    url: req.url,
    originalUrl: seen.originalUrl ?? null,
    baseUrl: seen.baseUrl ?? null,
    forwarding: Object.keys(req.headers).filter((name) => name.startsWith('x-forwarded') || name === 'forwarded'),
    other: req.headers['x-other'] ?? null,
    rawHasXff: req.rawHeaders.some((name) => name.toLowerCase() === 'x-forwarded-for'),
    fixedUrl: fixedOf(req)?.url ?? null,
  }));
}

const json = (answer: Answer) => JSON.parse(answer.body) as Record<string, unknown>;

t.test('presentToNode: the request says what the env says, field by field', async (t) => {
  interface Case { name: string; options: ProxyFixOptions; headers: Record<string, string>; path?: string; expect: Record<string, unknown> }
  const cases: Case[] = [
    { name: 'nothing forwarded: the socket\'s own values, nothing hidden but what proxyFix spent',
      options: { xFor: 1 }, headers: { 'x-other': 'kept' },
      expect: { remoteAddress: '127.0.0.1', encrypted: null, host: (port: number) => `127.0.0.1:${port}`, url: '/p?q=1', originalUrl: null, baseUrl: null, forwarding: [], other: 'kept' } },
    { name: 'address, port and family of an IPv4 client with a port',
      options: { xFor: 1 }, headers: { 'x-forwarded-for': '203.0.113.7:4711' },
      expect: { remoteAddress: '203.0.113.7', remotePort: 4711, remoteFamily: 'IPv4', forwarding: [], rawHasXff: true } },
    { name: 'an IPv6 client', options: { xFor: 1 }, headers: { 'x-forwarded-for': '[2001:db8::7]' },
      expect: { remoteAddress: '2001:db8::7', remoteFamily: 'IPv6' } },
    { name: 'https makes the socket read as encrypted', options: { xProto: 1 }, headers: { 'x-forwarded-proto': 'https' },
      expect: { encrypted: true } },
    { name: 'the forwarded host replaces Host', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com:8443' },
      expect: { host: 'example.com:8443', fixedUrl: 'http://example.com:8443/p?q=1' } },
    { name: 'a prefix goes to originalUrl and baseUrl; url stays below it', options: { xPrefix: 1 },
      headers: { 'x-forwarded-prefix': '/app' },
      expect: { url: '/p?q=1', originalUrl: '/app/p?q=1', baseUrl: '/app' } },
    { name: 'every spent forwarding header is hidden, forged or not',
      options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1, xPrefix: 1 },
      headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com',
        'x-forwarded-port': '443', 'x-forwarded-prefix': '/app', forwarded: 'for=6.6.6.6' },
      expect: { remoteAddress: '203.0.113.7', forwarding: [], host: 'example.com:443' } },
    { name: 'an untrusted peer: nothing taken, still nothing left to re-read',
      options: { xFor: 1, xProto: 1, trusted: ['10.0.0.0/8'], warnings: false },
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' },
      expect: { remoteAddress: '127.0.0.1', encrypted: null, forwarding: [] } },
  ];
  for (const c of cases) {
    const target = await start(t, toNodeListener(proxyFix(fromNodeListener(reporter), c.options)));
    const seen = json(await request(target, { path: '/p?q=1', headers: c.headers }));
    const expected = Object.fromEntries(Object.entries(c.expect).map(([k, v]) => [k, typeof v === 'function' ? v(target.port) : v]));
    // Whole values, not tap's subset match: [] must mean no forwarding header at all.
    t.strictSame(Object.fromEntries(Object.keys(expected).map((k) => [k, seen[k] ?? null])), expected, c.name);
  }
});

t.test('presentToNode: headers a middleware removed are gone; the socket is never changed', async (t) => {
  const sockets: Socket[] = [];
  const stripOther: GatewayApp = (env) => {
    delete env.headers['x-other'];
    return fromNodeListener((req, res) => {
      sockets.push(res.socket as Socket);
      reporter(req, res);
    })(env);
  };
  const target = await start(t, toNodeListener(stripOther));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = json(await request(target, { agent, headers: { 'x-other': 'gone' } }));
  t.equal(first.other, null, 'the removed header is not in req.headers');
  for (const client of ['203.0.113.1', '203.0.113.2']) {
    const fixed = toNodeListener(proxyFix(fromNodeListener((req, res) => {
      sockets.push(res.socket as Socket);
      reporter(req, res);
    }), { xFor: 1 }));
    const second = await start(t, fixed);
    const seen = json(await request(second, { agent, headers: { 'x-forwarded-for': client } }));
    t.equal(seen.remoteAddress, client, `the view reports ${client}`);
  }
  for (const socket of sockets) t.equal(socket.remoteAddress, '127.0.0.1', 'the socket itself still reports the peer');
  t.equal(Object.getOwnPropertyDescriptor(sockets[0]!, 'remoteAddress'), undefined, 'no property was set on the socket');
});

t.test('fixedOf: the fixed fields, the originals and the trace; undefined elsewhere', async (t) => {
  let fixed: ReturnType<typeof fixedOf>;
  let plain: ReturnType<typeof fixedOf> = { } as ReturnType<typeof fixedOf>;
  const target = await start(t, toNodeListener(proxyFix(fromNodeListener((req, res) => {
    fixed = fixedOf(req);
    res.end();
  }), { xFor: 1, xProto: 1, xPrefix: 1, trace: true })));
  await request(target, { path: '/users?id=1', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-prefix': '/app' } });
  t.match(fixed!, {
    remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: `127.0.0.1:${target.port}`, serverName: '127.0.0.1',
    serverPort: String(target.port), scriptName: '/app', pathInfo: '/users', queryString: 'id=1',
    url: `https://127.0.0.1:${target.port}/app/users?id=1`,
    originals: { remoteAddr: '127.0.0.1', scheme: 'http', scriptName: '' },
  });
  t.equal(fixed!.trace?.family, 'x-forwarded', 'the trace is there with trace: true');
  t.equal(fixed!.env.headers['x-forwarded-for'], '203.0.113.7', 'the env keeps the headers the framework no longer sees');
  const other = await start(t, (req, res) => {
    plain = fixedOf(req);
    res.end();
  });
  await request(other);
  t.equal(plain, undefined, 'a request that came through no adapter');
});

t.test('fromNodeListener: the response the listener wrote, as the access-log hook learns it', async (t) => {
  const infos: NodeResponseInfo[] = [];
  const listener = express();
  listener.get('/sized', (_req, res) => { res.send('twelve bytes'); });
  listener.get('/streamed', (_req, res) => { res.write('a'); res.end('b'); });
  listener.get('/empty', (_req, res) => { res.status(204).end(); });
  const target = await start(t, toNodeListener(fromNodeListener(listener), { onResponse: (info) => infos.push(info) }));
  const cases: [string, string, string, number, number | undefined][] = [
    ['a body with a Content-Length', 'GET', '/sized', 200, 12],
    ['HEAD of it: no body', 'HEAD', '/sized', 200, undefined],
    ['a chunked body: size unknown', 'GET', '/streamed', 200, undefined],
    ['204: no body', 'GET', '/empty', 204, undefined],
    ['the framework\'s own 404', 'GET', '/missing', 404, undefined],
  ];
  for (const [name, method, path, status, bytes] of cases) {
    const answer = await request(target, { method, path });
    t.equal(answer.status, status, `${name}: status`);
    const info = infos.at(-1)!;
    t.equal(info.res.statusCode, status, `${name}: status logged`);
    if (name.includes('404')) t.ok(info.bytes! > 0, `${name}: Express states its length`);
    else t.equal(info.bytes, bytes, `${name}: bytes logged`);
  }
});

t.test('fromNodeListener: a listener that returns only once the connection is closed', async (t) => {
  const infos: NodeResponseInfo[] = [];
  const errors: unknown[] = [];
  const listener = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/answered') res.end('done');
    else res.write('half');
    await new Promise((resolve) => res.once('close', resolve));
  };
  const target = await start(t, toNodeListener(fromNodeListener(listener), {
    onResponse: (info) => infos.push(info),
    onError: (error) => errors.push(error),
  }));
  t.equal((await request(target, { path: '/answered' })).body, 'done');
  await new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: target.port, path: '/left', agent: false }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('close', resolve);
    req.on('error', () => {});
  });
  while (infos.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(infos[0]!.bytes, undefined, 'an answered response is over (no length declared, so no size)');
  t.equal(infos[1]!.bytes, undefined, 'a client that left is not a completed response');
  t.strictSame(errors, [], 'neither is an app error');
});

t.test('fromNodeListener: errors are loud and precise', async (t) => {
  const app = fromNodeListener(reporter);
  await t.rejects(Promise.resolve().then(() => app(createEnv())), { name: 'TypeError', message: /fromNodeListener can only serve requests that came in through node:http/ },
    'an env built elsewhere has no node request');
  t.throws(() => fromNodeListener('listener' as never), { code: 'ERR_PROXYFIX_OPTION_TYPE', message: /^`listener` must be a node:http request listener/ });
  t.throws(() => fromNodeListener(app as never), { message: /a gateway app needs no adapter/ }, 'a gateway app is not a listener');
  const errors: unknown[] = [];
  const target = await start(t, toNodeListener(fromNodeListener(() => { throw new Error('listener broke'); }), { onError: (e) => errors.push(e) }));
  t.equal((await request(target)).status, 500, 'a listener that throws before answering: 500');
  t.match(errors, [{ message: 'listener broke' }]);
});

t.test('toNodeMiddleware and proxyFixExpress: app.use forms', async (t) => {
  const app = express();
  app.use(proxyFixExpress({ xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] }));
  app.get('/', (req, res) => {
    res.json({ ip: req.ip, ips: req.ips, protocol: req.protocol, secure: req.secure, hostname: req.hostname, host: req.host,
      subdomains: req.subdomains, forwarded: req.get('x-forwarded-for') ?? null });
  });
  const target = await start(t, app);
  const forgedAndReal = { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'a.b.example.com' };
  t.same(json(await request(target, { headers: forgedAndReal })), {
    ip: '203.0.113.7', ips: [], protocol: 'https', secure: true, hostname: 'a.b.example.com', host: 'a.b.example.com',
    subdomains: ['b', 'a'], forwarded: null,
  }, 'every value Express reports is the fixed one');

  app.set('trust proxy', true);
  t.match(json(await request(target, { headers: forgedAndReal })), { ip: '203.0.113.7', protocol: 'https', hostname: 'a.b.example.com' },
    '`trust proxy` set as well finds nothing to undo the fix with');

  const refusing = connect();
  refusing.use(toNodeMiddleware(compose(proxyFix({ xHost: 1 }), allowedHosts(['example.com']))));
  refusing.use((_req: IncomingMessage, res: ServerResponse) => res.end('reached'));
  const gated = await start(t, refusing);
  t.equal((await request(gated, { headers: { 'x-forwarded-host': 'example.com' } })).body, 'reached', 'an allowed host goes on to next()');
  const refused = await request(gated, { headers: { 'x-forwarded-host': 'evil.example' } });
  t.equal(refused.status, 400, 'a refused host is answered by the gateway middleware; next() is never called');
  t.notMatch(refused.body, /reached/);

  const failing = connect();
  failing.use(toNodeMiddleware(() => () => { throw new Error('stack broke'); }));
  failing.use((error: Error, _req: IncomingMessage, res: ServerResponse, _next: unknown) => res.end(`next got: ${error.message}`));
  t.equal((await request(await start(t, failing))).body, 'next got: stack broke', 'an error goes to next(error)');

  t.throws(() => proxyFixExpress({ xFor: 1, xPrefix: 1 }), { code: 'ERR_PROXYFIX_OPTION_CONFLICT', message: /^`xPrefix` cannot reach Express from app.use/ });
  t.throws(() => toNodeMiddleware(() => 'not an app' as never), { code: 'ERR_PROXYFIX_OPTION_TYPE', message: /^`middleware` must be a gateway app/ });
  t.throws(() => proxyFixExpress({ xFor: -1 }), { code: 'ERR_PROXYFIX_OPTION_RANGE' }, 'proxyFix checks the rest');
  t.doesNotThrow(() => proxyFixExpress(), 'defaults');
});

t.test('presentToNode: an absolute-form target becomes origin form, with or without a path', async (t) => {
  const urls: string[] = [];
  const target = await start(t, toNodeListener(proxyFix(fromNodeListener((req, res) => {
    urls.push(`${req.url} ${(req as IncomingMessage & { originalUrl?: string }).originalUrl ?? '-'}`);
    res.end();
  }), { xPrefix: 1 })));
  await rawExchange(target, ['GET http://evil.example/p?q=1 HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n']);
  await rawExchange(target, ['GET https://evil.example?q=1 HTTP/1.1\r\nHost: good.example\r\nX-Forwarded-Prefix: /app\r\nConnection: close\r\n\r\n']);
  t.strictSame(urls, ['/p?q=1 -', '/?q=1 /app/?q=1']);
});

t.test('presentToNode on its own: for adapter authors', async (t) => {
  const target = await start(t, (req, res) => {
    const env = createEnv({ remoteAddr: '198.51.100.1', remotePort: '', scheme: 'http', host: '', headers: {} });
    presentToNode(req, env);
    reporter(req, res);
  });
  const seen = json(await request(target));
  t.match(seen, { remoteAddress: '198.51.100.1', host: null, encrypted: null }, 'an env without a Host removes it');
  t.notOk('remotePort' in seen, 'an unknown port reads as undefined');

  // A peer with no address (a Unix socket) and a wss upgrade scheme; a request with no Host at all.
  let view: { address?: string; family?: string; encrypted?: boolean; host?: string } = {};
  const other = await start(t, (req, res) => {
    presentToNode(req, createEnv({ remoteAddr: '', scheme: 'wss', host: '', headers: {} }));
    const socket = req.socket as Socket & { encrypted?: boolean };
    view = { address: socket.remoteAddress, family: socket.remoteFamily, encrypted: socket.encrypted, host: req.headers.host };
    res.end();
  });
  const answer = await rawExchange(other, ['GET / HTTP/1.0\r\n\r\n']);
  t.match(answer.data, /^HTTP\/1.1 200/);
  t.strictSame(view, { address: undefined, family: undefined, encrypted: true, host: undefined },
    'no address, no family; wss reads as encrypted; no Host stays none');
});
