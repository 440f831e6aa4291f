/**
 * The node:http adapter against a real node:http server: the env it builds from what actually
 * arrives on the socket, and the responses it writes as a real client reads them.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headersOf, splitTarget, toGatewayEnv, toNodeListener, writeGatewayResponse, type NodeResponseInfo } from '../src/adapters/node.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { lintEnv, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../src/gateway.js';
import { rawExchange, request, statusLine, type Target } from './fixtures/http-client.js';

/** Start `listener` on `listen` (port 0 by default); closed when the test ends. */
async function start(t: Test, listener: http.RequestListener, listen: { host?: string; path?: string } = {}): Promise<Target> {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => {
    if (listen.path !== undefined) server.listen(listen.path, resolve);
    else server.listen(0, listen.host ?? '127.0.0.1', resolve);
  });
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return listen.path !== undefined ? { socketPath: listen.path } : { port: (server.address() as AddressInfo).port, host: listen.host };
}

/** A server whose every request is turned into an env and kept; answers 204. */
async function capture(t: Test, listen?: { host?: string; path?: string }) {
  const envs: GatewayEnv[] = [];
  const bodies: string[] = [];
  const target = await start(t, async (req, res) => {
    const env = toGatewayEnv(req, { server: 'capture' });
    envs.push(env);
    let body = '';
    for await (const chunk of env.body) body += Buffer.from(chunk).toString();
    bodies.push(body);
    res.writeHead(204).end();
  }, listen);
  return { target, envs, bodies };
}

t.test('toGatewayEnv: what arrives on the socket, field by field', async (t) => {
  const { target, envs } = await capture(t);
  const port = (target as { port: number }).port;
  interface Case { name: string; raw: string; expect: Partial<GatewayEnv>; headers?: Record<string, string> }
  const cases: Case[] = [
    { name: 'a plain GET', raw: 'GET /users/1?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n',
      expect: { method: 'GET', scheme: 'http', host: 'example.com:8080', serverName: 'example.com', serverPort: '8080',
        scriptName: '', pathInfo: '/users/1', queryString: 'x=1&y', remoteAddr: '127.0.0.1' } },
    { name: 'a Host without a port gives the scheme\'s port', raw: 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n',
      expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
    { name: 'an IPv6 Host keeps its brackets', raw: 'GET / HTTP/1.1\r\nHost: [2001:db8::1]:9000\r\n\r\n',
      expect: { host: '[2001:db8::1]:9000', serverName: '[2001:db8::1]', serverPort: '9000' } },
    { name: 'no Host (HTTP/1.0): the local address and port', raw: 'GET / HTTP/1.0\r\n\r\n',
      expect: { host: '', serverName: '127.0.0.1', serverPort: String(port) } },
    { name: 'repeated lines are joined in order, names in lower case',
      raw: 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6, 1.1.1.1\r\nx-forwarded-FOR: 10.0.0.3\r\n\r\n',
      expect: {}, headers: { host: 'a', 'x-forwarded-for': '6.6.6.6, 1.1.1.1, 10.0.0.3' } },
    { name: 'repeated lines node would drop are kept', raw: 'GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: one\r\nUser-Agent: two\r\n\r\n',
      expect: {}, headers: { host: 'a', 'user-agent': 'one, two' } },
    { name: 'two Host lines are both reported', raw: 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      expect: { host: 'a, b' } },
    { name: 'a header named __proto__ is a header like any other',
      raw: 'GET / HTTP/1.1\r\nHost: a\r\n__proto__: x\r\nConstructor: y\r\n\r\n',
      expect: {}, headers: { host: 'a', ['__proto__']: 'x', constructor: 'y' } },
    { name: 'the absolute form: its path, and its host over the Host header (RFC 9112 3.2.2)',
      raw: 'GET http://other.example:81/p?q=1 HTTP/1.1\r\nHost: a\r\n\r\n',
      expect: { pathInfo: '/p', queryString: 'q=1', host: 'other.example:81', serverName: 'other.example', serverPort: '81', scheme: 'http' },
      headers: { host: 'a' } },
    { name: 'the absolute form with userinfo: the host without it', raw: 'GET http://user:pw@other.example/p HTTP/1.1\r\nHost: a\r\n\r\n',
      expect: { pathInfo: '/p', host: 'other.example', serverName: 'other.example' } },
    { name: 'the absolute form without a host: the Host header', raw: 'GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n',
      expect: { pathInfo: '/p', host: 'a', serverName: 'a' } },
    { name: 'the absolute form with https on a plain connection: the host, not the scheme',
      raw: 'GET https://other.example/p HTTP/1.1\r\nHost: a\r\n\r\n',
      expect: { pathInfo: '/p', host: 'other.example', serverName: 'other.example', serverPort: '80', scheme: 'http' } },
    { name: 'OPTIONS * has no path', raw: 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
      expect: { method: 'OPTIONS', pathInfo: '', queryString: '' } },
    { name: 'a method as sent', raw: 'PATCH /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
      expect: { method: 'PATCH', pathInfo: '/x' } },
  ];
  for (const c of cases) {
    const before = envs.length;
    const answer = await rawExchange(target, [c.raw.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')]);
    t.equal(statusLine(answer.data), 'HTTP/1.1 204 No Content', `${c.name}: answered`);
    const env = envs[before]!;
    t.match(env, c.expect, c.name);
    t.match(env.remotePort, /^\d+$/, `${c.name}: the peer's port`);
    t.same(lintEnv(env), [], `${c.name}: the env keeps the contract`);
    t.same(env.ext, { server: 'capture' }, `${c.name}: ext is the one given`);
    if (c.headers) t.same({ ...env.headers, connection: undefined }, { ...c.headers, connection: undefined }, `${c.name}: headers`);
  }
  t.equal(Object.getPrototypeOf(envs[7]!.headers), null, 'headers have no prototype to reach');
});

t.test('toGatewayEnv: the request body is the env body', async (t) => {
  const { target, bodies } = await capture(t);
  await request(target, { method: 'POST', path: '/upload', body: 'hello body' });
  t.same(bodies, ['hello body']);
});

t.test('toGatewayEnv: a dual-stack server reports an IPv4 peer as ::ffff:, untouched', async (t) => {
  const { target, envs } = await capture(t, { host: '::' });
  await request({ port: (target as { port: number }).port, host: '127.0.0.1' }, { headers: { host: 'a' } });
  t.equal(envs[0]!.remoteAddr, '::ffff:127.0.0.1');
  await rawExchange({ port: (target as { port: number }).port, host: '::1' }, ['GET / HTTP/1.0\r\n\r\n']);
  t.match(envs[1], { remoteAddr: '::1', serverName: '[::1]' }, 'an IPv6 local address is bracketed like a Host');
});

t.test('toGatewayEnv: a Unix socket peer has no address and no port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-adapter-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { target, envs } = await capture(t, { path: join(dir, 'app.sock') });
  await rawExchange(target, ['GET /x HTTP/1.0\r\n\r\n']);
  t.match(envs[0], { remoteAddr: '', remotePort: '', host: '', serverName: 'localhost', serverPort: '80', pathInfo: '/x' });
  t.same(lintEnv(envs[0]), []);
});

t.test('toGatewayEnv: a TLS connection is https', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const envs: GatewayEnv[] = [];
  const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    toNodeListener((env) => {
      envs.push(env);
      return { status: 200, body: env.scheme };
    }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/', rejectUnauthorized: false,
      agent: false, headers: { host: 'secure.example' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  t.equal(body, 'https');
  t.match(envs[0], { scheme: 'https', serverName: 'secure.example', serverPort: '443' });
});

t.test('splitTarget: path and query from every request-target form', async (t) => {
  const cases: [string, string, string][] = [
    ['/a/b?x=1', '/a/b', 'x=1'],
    ['/', '/', ''],
    ['/p?', '/p', ''],
    ['/p?a?b', '/p', 'a?b'],
    ['http://h:1/p?q', '/p', 'q'],
    ['HTTPS://h?q', '/', 'q'],
    ['http://h', '/', ''],
    ['*', '', ''],
    ['', '', ''],
  ];
  for (const [target, pathInfo, queryString] of cases) {
    t.same(splitTarget(target), { pathInfo, queryString }, JSON.stringify(target));
  }
});

/** A server running `app` through toNodeListener, recording errors and finished requests. */
async function serveApp(t: Test, app: GatewayApp | { gatewayApp: GatewayApp }) {
  const errors: unknown[] = [];
  const finished: NodeResponseInfo[] = [];
  const target = await start(t, toNodeListener(app, {
    onError: (error) => errors.push(error),
    onResponse: (info) => finished.push(info),
  }));
  return { target, errors, finished };
}

t.test('writeGatewayResponse: bodies, statuses and headers as a client reads them', async (t) => {
  let returned = 0;
  const responses: Record<string, GatewayResponse> = {
    '/string': { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'héllo' },
    '/bytes': { status: 201, body: new Uint8Array([104, 105]) },
    '/stream': {
      status: 200,
      body: (async function* () { yield Buffer.from('one '); yield new Uint8Array([116, 119, 111]); })(),
    },
    '/headers': { status: 200, headers: { 'X-Custom-Case': 'kept', 'Set-Cookie': ['a=1', 'b=2'] }, body: '' },
    '/nobody': { status: 200 },
    '/204': { status: 204, body: 'dropped' },
    '/304': { status: 304, headers: { ETag: '"x"' }, body: 'dropped' },
    '/length': { status: 200, headers: { 'Content-Length': '2' }, body: 'ok' },
    '/head-stream': {
      status: 200,
      body: { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true as const, value: undefined }), return: async () => { returned++; return { done: true as const, value: undefined }; } }) },
    },
    '/head-iterator-without-return': {
      status: 200,
      body: { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true as const, value: undefined }) }) },
    },
  };
  const { target, errors, finished } = await serveApp(t, (env) => responses[env.pathInfo]!);

  const string = await request(target, { path: '/string' });
  t.match(string, { status: 200, body: 'héllo', headers: { 'content-type': 'text/plain', 'content-length': '6' } });
  t.match(await request(target, { path: '/bytes' }), { status: 201, body: 'hi', headers: { 'content-length': '2' } });
  const stream = await request(target, { path: '/stream' });
  t.match(stream, { status: 200, body: 'one two', headers: { 'transfer-encoding': 'chunked' } });
  const headers = await request(target, { path: '/headers' });
  t.ok(headers.rawHeaders.includes('X-Custom-Case'), 'a header name is written in the case given');
  t.same(headers.headers['set-cookie'], ['a=1', 'b=2'], 'an array value is written as repeated lines');
  t.match(await request(target, { path: '/nobody' }), { status: 200, body: '' });
  t.match(await request(target, { path: '/204' }), { status: 204, body: '' });
  t.match(await request(target, { path: '/304' }), { status: 304, body: '', headers: { etag: '"x"' } });
  t.match(await request(target, { path: '/length' }), { status: 200, body: 'ok', headers: { 'content-length': '2' } });

  const head = await request(target, { path: '/string', method: 'HEAD' });
  t.match(head, { status: 200, body: '', headers: { 'content-length': '6' } }, 'HEAD states the length GET would send');
  t.match(await request(target, { path: '/head-stream', method: 'HEAD' }), { status: 200, body: '' });
  t.equal(returned, 1, 'HEAD closes a streamed body it does not read');
  t.match(await request(target, { path: '/head-iterator-without-return', method: 'HEAD' }), { status: 200, body: '' });

  t.same(errors, []);
  t.same(finished.map((f) => [f.env.pathInfo, f.res.statusCode, f.bytes]), [
    ['/string', 200, 6], ['/bytes', 201, 2], ['/stream', 200, 7], ['/headers', 200, 0], ['/nobody', 200, 0],
    ['/204', 204, 0], ['/304', 304, 0], ['/length', 200, 2],
    ['/string', 200, 0], ['/head-stream', 200, 0], ['/head-iterator-without-return', 200, 0],
  ], 'onResponse gets every request with the body bytes written');
  t.ok(finished.every((f) => typeof f.startedAt === 'number' && f.req.url === f.env.pathInfo));
});

t.test('writeGatewayResponse can be used on its own', async (t) => {
  const target = await start(t, (req, res) => {
    void writeGatewayResponse(res, { status: 202, body: 'accepted' }).then((bytes) => t.equal(bytes, 8));
  });
  t.match(await request(target), { status: 202, body: 'accepted' });
});

/** An app's answers for each path, some broken: the same whether the app answers at once or later. */
function brokenAnswers(env: GatewayEnv): GatewayResponse {
  switch (env.pathInfo) {
    case '/throw': throw new Error('app failed');
    case '/bad-header': return { status: 200, headers: { 'X-Fine': 'y', 'X-Bad': 'a\r\nInjected: 1' }, body: 'x' };
    case '/bad-status': return { status: 42 };
    case '/not-a-response': return undefined as unknown as GatewayResponse;
    case '/a-function': return (() => ({ status: 200 })) as unknown as GatewayResponse;
    case '/fails-midway':
      return { status: 200, body: (async function* () { yield Buffer.from('partial'); throw new Error('stream broke'); })() };
    case '/string-chunk':
      return { status: 200, body: (async function* () { yield 'text' as unknown as Uint8Array; })() };
    default: return { status: 200, body: 'fine' };
  }
}

// An app that answers at once takes the listener's path without promises; one that returns a
// promise, the other. Each must fail the same way.
for (const [kind, app] of [['at once', brokenAnswers], ['through a promise', async (env: GatewayEnv) => brokenAnswers(env)]] as const) {
  t.test(`toNodeListener: what goes wrong in an app that answers ${kind} becomes a 500 or a cut connection`, async (t) => {
    const { target, errors, finished } = await serveApp(t, app);
    for (const path of ['/throw', '/bad-header', '/bad-status', '/not-a-response', '/a-function']) {
      const answer = await request(target, { path });
      t.match(answer, { status: 500, body: 'Internal Server Error\n', headers: { connection: 'close' } }, `${path}: 500`);
      t.notOk(answer.headers['x-fine'], `${path}: nothing the app set is left on the 500`);
    }
    await t.rejects(request(target, { path: '/fails-midway' }), 'a body that fails after the headers cuts the connection');
    await t.rejects(request(target, { path: '/string-chunk' }), 'a chunk that is not a Uint8Array cuts the connection');
    t.match(await request(target, { path: '/after' }), { status: 200, body: 'fine' }, 'the server carries on');
    t.match(errors.map((e) => (e as Error).message), [
      'app failed', /Invalid character in header content \["X-Bad"\]/, /Invalid status code: 42/,
      'the app returned undefined, not a response { status, headers?, body? }',
      'the app returned a function, not a response { status, headers?, body? }; is it a factory that should have been called?',
      'stream broke', 'a response body chunk must be a Uint8Array, got "text"',
    ]);
    // onResponse hears of each once its response is over, so its order may differ from the requests'.
    t.same(finished.map((f) => [f.env.pathInfo, f.bytes]).sort(), [
      ['/throw', undefined], ['/bad-header', undefined], ['/bad-status', undefined], ['/not-a-response', undefined], ['/a-function', undefined],
      ['/fails-midway', undefined], ['/string-chunk', undefined], ['/after', 4],
    ].sort());
  });
}

t.test('toNodeListener: two Host lines get a 400 and never reach the app', async (t) => {
  let called = false;
  const { target } = await serveApp(t, () => { called = true; return { status: 200 }; });
  const answer = await rawExchange(target, ['GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n']);
  t.equal(statusLine(answer.data), 'HTTP/1.1 400 Bad Request');
  t.match(answer.data, /more than one Host header/);
  t.notOk(called);
});

t.test('toNodeListener: a client that leaves mid-response is not an app error', async (t) => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => { release = resolve; });
  let closedBody = false;
  const { target, errors, finished } = await serveApp(t, () => ({
    status: 200,
    body: (async function* () {
      try {
        yield Buffer.from('first');
        await released;
        for (let i = 0; i < 1000; i++) yield Buffer.alloc(65536);
      } finally {
        closedBody = true;
      }
    })(),
  }));
  await new Promise<void>((resolve) => {
    const req = http.get({ ...target, host: '127.0.0.1', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        setImmediate(release);
        resolve();
      });
    });
    req.on('error', () => {});
  });
  while (finished.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(errors, [], 'not reported as an error');
  t.equal(finished[0]!.bytes, undefined, 'the response did not complete');
  t.ok(closedBody, 'the body was closed');
});

t.test('toNodeListener: a holder is read on every request', async (t) => {
  const holder: { gatewayApp: GatewayApp } = { gatewayApp: () => ({ status: 200, body: 'first' }) };
  const { target, errors } = await serveApp(t, holder);
  t.equal((await request(target)).body, 'first');
  holder.gatewayApp = () => ({ status: 200, body: 'second' });
  t.equal((await request(target)).body, 'second');
  (holder as { gatewayApp: unknown }).gatewayApp = 'gone';
  t.equal((await request(target)).status, 500);
  t.match((errors[0] as Error).message, 'the holder\'s gatewayApp is "gone", not a gateway app');
});

t.test('toNodeListener: refuses what is not an app', async (t) => {
  for (const bad of [undefined, null, 42, {}, { gatewayApp: 'x' }]) {
    t.throws(() => toNodeListener(bad as unknown as GatewayApp), {
      name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'app',
      message: /^`app` must be a gateway app \(a function\) or an object with a gatewayApp function/,
    });
  }
});

t.test('toNodeListener: without onError, app errors go to stderr; a throwing hook cuts the connection', async (t) => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof process.stderr.write;
  t.teardown(() => { process.stderr.write = write; });

  const target = await start(t, toNodeListener((env) => {
    if (env.pathInfo === '/error') throw new Error('to stderr');
    if (env.pathInfo === '/string') throw 'a thrown string';
    if (env.pathInfo === '/later-hook') return Promise.resolve({ status: 200, body: 'later' });
    return { status: 200, body: 'ok' };
  }, {
    onResponse: (info) => { if (info.env.pathInfo.endsWith('hook')) throw new Error(`${info.env.pathInfo} failed`); },
  }));
  t.equal((await request(target, { path: '/error' })).status, 500);
  t.equal((await request(target, { path: '/string' })).status, 500);
  t.equal((await request(target, { path: '/hook' })).body, 'ok', 'the response was complete before the hook ran');
  t.equal((await request(target, { path: '/later-hook' })).body, 'later', 'so was a later one');
  t.equal((await request(target, { path: '/fine' })).status, 200);
  process.stderr.write = write;
  t.match(written.join(''), /Error: to stderr\n\s+at /);
  t.match(written.join(''), /a thrown string\n/);
  t.match(written.join(''), /Error: \/hook failed/);
  t.match(written.join(''), /Error: \/later-hook failed/);
});

t.test('a TCP peer that reset before node accepted it is not taken for a Unix socket peer', async (t) => {
  const seen: string[] = [];
  const app = proxyFix((env) => {
    seen.push(env.remoteAddr);
    return { status: 200 };
  }, { xFor: 1, trusted: ['10.0.0.0/8'], trustUnixSocket: true });
  const target = await start(t, toNodeListener(app));
  // This process's event loop is blocked while a child connects, sends a request with a forged
  // X-Forwarded-For and resets: node accepts the connection afterwards, with no peer address left.
  const script = `const s = require('net').connect(${(target as { port: number }).port}, '127.0.0.1', () => {` +
    "s.write('GET / HTTP/1.1\\r\\nHost: a\\r\\nX-Forwarded-For: 6.6.6.6\\r\\n\\r\\n'); s.resetAndDestroy(); });" +
    "s.on('error', () => {}); s.on('close', () => process.exit(0));";
  t.equal(spawnSync(process.execPath, ['-e', script]).status, 0);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.notOk(seen.includes('6.6.6.6'), `the forged address was not taken (the app saw ${JSON.stringify(seen)})`);
  t.ok(seen.every((address) => address === 'unknown'), 'the peer is unknown');
});

t.test('headersOf: every line, joined in order, without HTTP/2 pseudo-headers', async (t) => {
  t.same({ ...headersOf([':method', 'GET', ':path', '/', 'Host', 'a', 'Cookie', 'a=1', 'X-A', '1', 'cookie', 'b=2', 'x-a', '2']) },
    { host: 'a', cookie: 'a=1; b=2', 'x-a': '1, 2' });
});

t.test('toNodeListener: an onError that throws cuts the connection, and the server carries on', async (t) => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof process.stderr.write;
  t.teardown(() => { process.stderr.write = write; });
  const target = await start(t, toNodeListener((env) => (env.pathInfo === '/bad'
    ? { status: 200, headers: { 'X-Bad': 'a\nb' }, body: 'x' }
    : { status: 200, body: 'ok' }), {
    onError: () => { throw new Error('onError failed'); },
  }));
  await t.rejects(request(target, { path: '/bad' }), 'the connection is cut');
  t.equal((await request(target, { path: '/fine' })).body, 'ok');
  process.stderr.write = write;
  t.match(written.join(''), /Error: onError failed/);
});

/** A head with `lines` header lines in all (Host and Connection: close among them). */
function headWithLines(lines: number): string {
  const extra = Array.from({ length: lines - 2 }, () => 'A: \r\n').join('');
  return `GET / HTTP/1.1\r\nHost: a\r\n${extra}Connection: close\r\n\r\n`;
}

t.test('toNodeListener: a request with as many lines as node keeps gets a 431, never an env with lines missing', async (t) => {
  const seen: number[] = [];
  const app: GatewayApp = (env) => {
    seen.push(env.headers.a!.split(',').length);
    return { status: 200, body: 'ok' };
  };
  // node keeps 1,000 lines unless told otherwise, and drops the rest without a word.
  const { target, finished } = await serveApp(t, app);
  t.equal(statusLine((await rawExchange(target, [headWithLines(999)])).data), 'HTTP/1.1 200 OK', '999 lines: all kept');
  const many = await rawExchange(target, [headWithLines(1100)]);
  t.equal(statusLine(many.data), 'HTTP/1.1 431 Request Header Fields Too Large', '1,100 lines: refused');
  t.match(many.data, /\r\nConnection: close\r\n[^]*\r\n\r\nRequest Header Fields Too Large: more header lines than this server reads\n$/);
  t.equal(finished.at(-1)?.res.statusCode, 431, 'onResponse hears of it');

  for (const [count, sent, status] of [[10, 9, 'HTTP/1.1 200 OK'], [10, 10, 'HTTP/1.1 431 Request Header Fields Too Large'],
    [0, 1100, 'HTTP/1.1 200 OK']] as const) {
    const server = http.createServer(toNodeListener(app));
    server.maxHeadersCount = count;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const answer = await rawExchange({ port: (server.address() as AddressInfo).port }, [headWithLines(sent)]);
    server.close();
    t.equal(statusLine(answer.data), status, `maxHeadersCount ${count}, ${sent} lines`);
  }
  t.same(seen, [997, 7, 1098], 'the app saw every line of each request it got');
});

t.test('toNodeListener: a client that leaves mid-body is answered 400 if it still reads, and is no app error', async (t) => {
  const { target, errors, finished } = await serveApp(t, async (env) => {
    let size = 0;
    for await (const chunk of env.body) size += chunk.byteLength;
    return { status: 200, body: `read ${size}` };
  });
  const reset = net.connect((target as { port: number }).port, '127.0.0.1');
  reset.on('error', () => {});
  reset.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345');
  await new Promise((resolve) => setTimeout(resolve, 50));
  reset.resetAndDestroy();
  while (finished.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(errors, [], 'not reported as an app error');
  t.equal(finished[0]!.res.statusCode, 400, 'recorded as a bad request');
  t.equal(finished[0]!.bytes, undefined);
});

t.test('toNodeListener: responseTimeout answers 503 for an app that has not started its answer', async (t) => {
  for (const bad of [-1, 1.5, 2 ** 31, '5']) {
    t.throws(() => toNodeListener(() => ({ status: 200 }), { responseTimeout: bad as number }), {
      code: typeof bad === 'number' && Number.isInteger(bad) ? 'ERR_PROXYFIX_OPTION_RANGE' : 'ERR_PROXYFIX_OPTION_TYPE',
      message: /^`responseTimeout` must be /,
    }, String(bad));
  }
  let releaseBody: () => void = () => {};
  let returned = false;
  const errors: unknown[] = [];
  const finished: NodeResponseInfo[] = [];
  const lateAnswers: Record<string, GatewayResponse> = {
    '/late': {
      status: 200,
      body: { [Symbol.asyncIterator]: () => ({
        next: async () => ({ done: true as const, value: undefined }),
        return: async () => { returned = true; return { done: true as const, value: undefined }; },
      }) },
    },
    '/late-without-return': { status: 200, body: { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true as const, value: undefined }) }) } },
    '/late-string': { status: 200, body: 'late' },
    '/late-nothing': undefined as unknown as GatewayResponse,
  };
  const target = await start(t, toNodeListener(async (env) => {
    if (env.pathInfo in lateAnswers) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return lateAnswers[env.pathInfo]!;
    }
    return {
      status: 200,
      body: (async function* () {
        yield Buffer.from('body');
        await new Promise<void>((resolve) => { releaseBody = resolve; });
      })(),
    };
  }, { responseTimeout: 50, onError: (error) => errors.push(error), onResponse: (info) => finished.push(info) }));
  const late = await request(target, { path: '/late' });
  t.match(late, { status: 503, body: 'Service Unavailable\n', headers: { connection: 'close' } });
  t.match(errors, [{ code: 'ERR_PROXYFIX_RESPONSE_TIMEOUT', message: 'the app did not answer within responseTimeout (50 ms); answered 503' }]);
  for (const path of ['/late-without-return', '/late-string', '/late-nothing']) t.equal((await request(target, { path })).status, 503, path);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.ok(returned, 'the late answer\'s body was closed unread');
  t.equal(finished.length, 4, 'one onResponse each');
  const streamed = request(target, { path: '/quick' });
  await new Promise((resolve) => setTimeout(resolve, 150));
  releaseBody();
  t.match(await streamed, { status: 200, body: 'body' }, 'a body that takes longer than the timeout is not cut');
});

t.test('toNodeListener: responseTimeout for a request whose client left mid-body, on a server of its own', async (t) => {
  const errors: unknown[] = [];
  const finished: NodeResponseInfo[] = [];
  const target = await start(t, toNodeListener(() => new Promise(() => {}), {
    responseTimeout: 50, onError: (error) => errors.push(error), onResponse: (info) => finished.push(info),
  }));
  const reset = net.connect((target as { port: number }).port, '127.0.0.1');
  reset.on('error', () => {});
  reset.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345');
  await new Promise((resolve) => setTimeout(resolve, 20));
  reset.resetAndDestroy();
  while (finished.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  t.match(errors, [{ code: 'ERR_PROXYFIX_RESPONSE_TIMEOUT' }], 'the app still did not answer in time');
  t.equal(finished[0]!.res.statusCode, 503);
});
