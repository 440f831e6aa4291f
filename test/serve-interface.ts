/**
 * `serve()` and `proxyfix serve` take any app a node user has: the kind is told from its shape
 * (`interface: 'auto'`) or named (`'gateway' | 'node' | 'fetch'`, `--interface`). Every case is
 * served over real HTTP by the real framework, and reports what it saw through its own API.
 */
import t, { type Test } from 'tap';
import { servedApp } from '../src/adapters/interface.js';
import type { AppInterface } from '../src/adapters/interface.js';
import { serve, type RunningServer, type ServableApp } from '../src/server/serve.js';
import * as kinds from './fixtures/apps-any.js';
import { cli, run, Running } from './fixtures/child.js';
import { command } from './fixtures/command.js';
import { request, sleep } from './fixtures/http-client.js';

// The CLI cases start child processes, which load the TypeScript loader anew (1-2 s each).
t.setTimeout(120_000);

const apps = 'test/fixtures/apps-any.ts';

/** serve() on a free port, its log kept; closed when the test ends. */
async function start(t: Test, app: ServableApp, kind?: AppInterface): Promise<{ port: number; log: string[] }> {
  const log: string[] = [];
  const server = await serve(app, { bind: '127.0.0.1:0', accessLog: false, log: (line) => log.push(line), ...(kind ? { interface: kind } : {}) });
  t.teardown(() => {
    for (const s of server.servers) s.closeAllConnections();
    return server.close();
  });
  return { port: portOf(server), log };
}

function portOf(server: RunningServer | undefined): number {
  return Number(server!.addresses[0]!.split(':').pop());
}

t.test('serve() tells the kind of app from its shape, and serves each', async (t) => {
  const cases: [string, ServableApp, AppInterface | undefined, kinds.Seen][] = [
    ['a gateway app', kinds.gatewayApp, undefined, { app: 'gateway', address: '127.0.0.1', host: 'example.com', url: '/a/b' }],
    ['a holder', { gatewayApp: kinds.gatewayApp }, undefined, { app: 'gateway', address: '127.0.0.1', host: 'example.com', url: '/a/b' }],
    ['a plain listener', kinds.listener, undefined, { app: 'listener', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['an Express app', kinds.expressApp, undefined, { app: 'express', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a Connect app', kinds.connectApp, undefined, { app: 'connect', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a Koa app', kinds.koaApp, undefined, { app: 'koa', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['Koa\'s app.callback()', kinds.koaApp.callback(), undefined, { app: 'koa', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a Fastify instance', kinds.createFastify(), undefined, { app: 'fastify', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a Hono app', kinds.honoApp, undefined, { app: 'hono', address: '127.0.0.1', host: 'example.com', url: 'http://example.com/a/b?q=1' }],
    ['an object with fetch', kinds.fetchObject, undefined,
      { app: 'fetch-object', address: '127.0.0.1', host: 'example.com', url: 'http://example.com/a/b?q=1' }],
    ['a bare fetch handler, interface fetch', kinds.fetchHandler, 'fetch',
      { app: 'fetch', address: '127.0.0.1', host: 'example.com', url: 'http://example.com/a/b?q=1' }],
    ['a Hono app, interface fetch', kinds.honoApp, 'fetch', { app: 'hono', address: '127.0.0.1', host: 'example.com', url: 'http://example.com/a/b?q=1' }],
    ['a listener, interface node', kinds.listener, 'node', { app: 'listener', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a one-argument listener, interface node', (req: import('node:http').IncomingMessage, ...rest: unknown[]) =>
      kinds.listener(req, rest[0] as import('node:http').ServerResponse), 'node',
    { app: 'listener', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a Koa app, interface node', kinds.koaApp, 'node', { app: 'koa', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a Fastify instance, interface node', kinds.createFastify(), 'node',
      { app: 'fastify', address: '127.0.0.1', host: 'example.com', url: '/a/b?q=1' }],
    ['a gateway app, interface gateway', kinds.gatewayApp, 'gateway', { app: 'gateway', address: '127.0.0.1', host: 'example.com', url: '/a/b' }],
  ];
  for (const [name, app, kind, expected] of cases) {
    const { port, log } = await start(t, app, kind);
    const answer = await request({ port }, { path: '/a/b?q=1', headers: { Host: 'example.com' } });
    t.equal(answer.status, 200, `${name}: answered`);
    t.same(JSON.parse(answer.body), expected, `${name}: through its own API`);
    t.same(log.filter((line) => !/listening on/.test(line)), [], `${name}: nothing logged`);
  }
});

t.test('a bare one-argument fetch handler looks like a gateway app: its 500 says what it is', async (t) => {
  // It reads only what an env has too, so it gets as far as returning its Response.
  const hello = (request: Request) => new Response(`hello ${request.method}`);
  const { port, log } = await start(t, hello);
  t.equal((await request({ port })).status, 500);
  while (!log.some((line) => /error in GET/.test(line))) await sleep(5);
  const error = log.find((line) => /error in GET/.test(line))!;
  t.match(error, /^\[proxyfix \d+\] error in GET \/: TypeError: the app returned a fetch Response: it is a fetch handler, not a gateway app; /);
  t.match(error, 'wrap it with fromFetchHandler(handler), or serve it with --interface fetch');
  const named = await start(t, hello, 'fetch');
  t.equal((await request({ port: named.port })).body, 'hello GET', 'named, it is served');
});

t.test('a kind that does not fit the app, or no kind at all: a configuration error before listening', async (t) => {
  const cases: [string, unknown, unknown, string][] = [
    ['interface node, a Hono app', kinds.honoApp, 'node',
      '`app` must be a node:http request listener, a Koa app or a Fastify instance (interface is node), got an object with a fetch method (a Hono app?)'],
    ['interface node, a string', 'app', 'node',
      '`app` must be a node:http request listener, a Koa app or a Fastify instance (interface is node), got "app"'],
    ['interface fetch, a Koa app', kinds.koaApp, 'fetch',
      '`app` must be a fetch handler or an object with a fetch method (interface is fetch), got a Koa app'],
    ['interface fetch, a holder', { gatewayApp: kinds.gatewayApp }, 'fetch',
      '`app` must be a fetch handler or an object with a fetch method (interface is fetch), got a holder of a gateway app'],
    ['an interface that is none', kinds.gatewayApp, 'bogus', '`interface` must be one of auto, gateway, node, fetch, got bogus'],
    ['an interface that is not a string', kinds.gatewayApp, 42, '`interface` must be one of auto, gateway, node, fetch, got 42'],
  ];
  for (const [name, app, kind, message] of cases) {
    await t.rejects(serve(app as ServableApp, { interface: kind as AppInterface, bind: '127.0.0.1:0', log: false }), {
      name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', message,
    }, name);
  }
  await t.rejects(servedApp(kinds.honoApp, 'node', 'module:app'), { name: 'TypeError', option: 'module:app' }, 'the option named is the caller\'s');
  t.equal(await servedApp(kinds.gatewayApp), kinds.gatewayApp, 'a gateway app is served as it is');
  const holder = { gatewayApp: kinds.gatewayApp };
  t.equal(await servedApp(holder), holder, 'so is a holder, read per request');
});


const forwardedFor = { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', Host: 'example.com' };

t.test('proxyfix serve: each kind of export behind --x-for 1, reporting the forwarded client', async (t) => {
  const cases: [string, string[], Record<string, string>, kinds.Seen][] = [
    ['an Express app (auto)', [`${apps}:expressApp`], {}, { app: 'express', address: '203.0.113.7', host: 'example.com', url: '/p?q=1' }],
    ['a Koa app (auto)', [`${apps}:koaApp`], {}, { app: 'koa', address: '203.0.113.7', host: 'example.com', url: '/p?q=1' }],
    ['a Fastify instance (auto)', [`${apps}:fastifyApp`], {}, { app: 'fastify', address: '203.0.113.7', host: 'example.com', url: '/p?q=1' }],
    ['a factory of one (auto)', [`${apps}:createFastify()`], {}, { app: 'fastify', address: '203.0.113.7', host: 'example.com', url: '/p?q=1' }],
    ['a Hono app, the default export (auto)', [apps], {}, { app: 'hono', address: '203.0.113.7', host: 'example.com', url: 'http://example.com/p?q=1' }],
    ['a fetch handler, --interface fetch', ['--interface', 'fetch', `${apps}:fetchHandler`], {},
      { app: 'fetch', address: '203.0.113.7', host: 'example.com', url: 'http://example.com/p?q=1' }],
    ['a fetch handler, PROXYFIX_INTERFACE=fetch', [`${apps}:fetchHandler`], { PROXYFIX_INTERFACE: 'fetch' },
      { app: 'fetch', address: '203.0.113.7', host: 'example.com', url: 'http://example.com/p?q=1' }],
    ['a listener, --interface node', ['--interface', 'node', `${apps}:listener`], {},
      { app: 'listener', address: '203.0.113.7', host: 'example.com', url: '/p?q=1' }],
  ];
  for (const [name, args, env, expected] of cases) {
    const outcome = await command(t, ['serve', ...args, '-b', '127.0.0.1:0', '--x-for', '1'], env);
    t.equal(outcome.error, undefined, `${name}: started`);
    const answer = await request({ port: portOf(outcome.server) }, { path: '/p?q=1', headers: forwardedFor });
    t.same(JSON.parse(answer.body), expected, name);
    while (outcome.stdout === '') await sleep(5);
    t.match(outcome.stdout, /^203\.0\.113\.7 - - \[[^\]]+\] "GET \/p\?q=1 HTTP\/1\.1" 200 /, `${name}: the access log shows the client`);
  }
});

t.test('proxyfix serve: an --interface that does not fit is the command\'s fault, on one line', async (t) => {
  const cases: [string, string[], Record<string, string>, string][] = [
    ['--interface bogus', ['--interface', 'bogus', `${apps}:expressApp`], {}, '--interface must be one of auto, gateway, node, fetch, got "bogus"'],
    ['PROXYFIX_INTERFACE=wsgi', [`${apps}:expressApp`], { PROXYFIX_INTERFACE: 'wsgi' }, 'PROXYFIX_INTERFACE must be one of auto, gateway, node, fetch, got "wsgi"'],
    ['--interface node for a Hono app', ['--interface', 'node', apps], {},
      '`app` must be a node:http request listener, a Koa app or a Fastify instance (interface is node), got an object with a fetch method (a Hono app?)'],
    ['--interface gateway for an Express app', ['--interface', 'gateway', `${apps}:expressApp`], {},
      '`app` must be a gateway app (a function) or an object with a gatewayApp function, got an Express app: wrap it with fromNodeListener(listener), or use proxyFixNode(listener, options) from "proxyfix/node"'],
  ];
  for (const [name, args, env, message] of cases) {
    const { error, server, stdout } = await command(t, ['serve', ...args, '-b', '127.0.0.1:0'], env);
    t.equal(server, undefined, `${name}: nothing listens`);
    t.equal(stdout, '', `${name}: nothing on stdout`);
    t.equal(error?.exitCode, 2, `${name}: exit status 2`);
    t.equal(error?.message, message, name);
  }
});

t.test('the program: --interface fetch serves a fetch handler; --interface bogus exits 2 with one line', async (t) => {
  const child = new Running(cli, ['serve', '--interface', 'fetch', `${apps}:fetchHandler`, '-b', '127.0.0.1:0', '--x-for', '1']);
  t.teardown(() => {
    if (child.child.exitCode === null && child.child.signalCode === null) child.kill('SIGKILL');
  });
  const [bogus, port] = await Promise.all([
    run(cli, ['serve', '--interface', 'bogus', `${apps}:fetchHandler`]),
    child.port(),
  ]);
  t.same(bogus, { code: 2, signal: null, stdout: '', stderr: 'proxyfix: --interface must be one of auto, gateway, node, fetch, got "bogus"\n' });
  const answer = await request({ port }, { path: '/p', headers: forwardedFor });
  t.same(JSON.parse(answer.body), { app: 'fetch', address: '203.0.113.7', host: 'example.com', url: 'http://example.com/p' });
  child.kill('SIGTERM');
  t.equal((await child.exited).code, 0);
});
