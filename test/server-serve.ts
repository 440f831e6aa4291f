/**
 * serve() in this process, against real clients: addresses, limits, broken requests, the access
 * log and graceful shutdown. (Workers and signals run in child processes: test/server-workers.ts,
 * test/cli.ts.)
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { GatewayApp } from '../src/gateway.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { combinedLogLine, logQuoted, logTime } from '../src/server/access-log.js';
import { serve, type RunningServer, type ServeOptions } from '../src/server/serve.js';
import { checkServeOptions, parseBind } from '../src/server/settings.js';
import { connect, rawExchange, request, sleep, statusLine, type Target } from './fixtures/http-client.js';

/** Log lines a server wrote, by sink. */
interface Logs { access: string[]; log: string[] }

/** serve() on an ephemeral port with logs captured; closed (at once) when the test ends. */
async function start(t: Test, app: GatewayApp, options: ServeOptions = {}): Promise<{ server: RunningServer; target: Target; logs: Logs }> {
  const logs: Logs = { access: [], log: [] };
  const server = await serve(app, {
    bind: '127.0.0.1:0',
    accessLog: (line) => logs.access.push(line),
    log: (line) => logs.log.push(line),
    ...options,
  });
  t.teardown(() => {
    for (const s of server.servers) s.closeAllConnections();
    return server.close();
  });
  const first = server.addresses[0]!;
  const target: Target = first.startsWith('unix:') ? { socketPath: first.slice(5) } : { port: Number(first.split(':').pop()) };
  return { server, target, logs };
}

/** Wait until `ready()`: an access log line is written once the response is complete, a moment after the client has it. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await sleep(5);
}

const hello: GatewayApp = (env) => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: `hello ${env.remoteAddr}` });

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-serve-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('options are checked before anything listens', async (t) => {
  const cases: [string, unknown, RegExp | string, string][] = [
    ['not an object', 'x', /^`options` must be an object, got "x"$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['unknown option', { port: 80 }, '`port` is not a serve option', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['an array', [], /^`options` must be an object, got an array$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['bind of the wrong type', { bind: 8000 }, /^`bind` must be an address or a non-empty array/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['empty bind list', { bind: [] }, /^`bind` must be an address or a non-empty array/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['bind entry not a string', { bind: ['127.0.0.1:0', 1] }, /^`bind\[1\]` must be "host:port" or "unix:\/path", got 1$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['bind without a port', { bind: 'localhost' }, /^`bind` must be "host:port" \(port 0-65535, IPv6 in brackets\)/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['workers not an integer', { workers: 1.5 }, '`workers` must be an integer, got 1.5', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['workers negative', { workers: -1 }, '`workers` must be from 0 to 2147483647, got -1', 'ERR_PROXYFIX_OPTION_RANGE'],
    ['timeout as a string', { headersTimeout: '5' }, '`headersTimeout` must be an integer, got "5"', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['timeout too long for a timer', { drainTimeout: 2 ** 31 }, /^`drainTimeout` must be from 0 to 2147483647/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['maxHeaderSize 0', { maxHeaderSize: 0 }, /^`maxHeaderSize` must be from 1/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['maxConnections 0', { maxConnections: 0 }, /^`maxConnections` must be from 1/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['headersTimeout above requestTimeout', { headersTimeout: 2000, requestTimeout: 1000 },
      /^`headersTimeout` \(2000\) must not exceed `requestTimeout` \(1000\)/, 'ERR_PROXYFIX_OPTION_CONFLICT'],
    ['maxRestartDelay below restartDelay', { restartDelay: 500, maxRestartDelay: 100 },
      /^`maxRestartDelay` \(100\) must not be below `restartDelay` \(500\)/, 'ERR_PROXYFIX_OPTION_CONFLICT'],
    ['accessLog not a sink', { accessLog: 'stdout' }, /^`accessLog` must be false, a function or a writable stream, got "stdout"$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['log not a sink', { log: { write: 1 } }, /^`log` must be false, a function or a writable stream, got an object$/, 'ERR_PROXYFIX_OPTION_TYPE'],
  ];
  for (const [name, options, message, code] of cases) {
    await t.rejects(serve(hello, options as ServeOptions), { message, code }, name);
  }
  await t.rejects(serve('app' as unknown as GatewayApp), { code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'app' }, 'not an app');
  t.match(checkServeOptions({}), {
    binds: [{ host: '127.0.0.1', port: 8000 }], workers: 0, keepAliveTimeout: 5000, headersTimeout: 60_000,
    requestTimeout: 300_000, maxHeaderSize: 16_384, maxConnections: Infinity, drainTimeout: 30_000,
  }, 'the defaults');
  t.equal(checkServeOptions({ maxConnections: Infinity, requestTimeout: 0, headersTimeout: 999_999 }).maxConnections, Infinity,
    'maxConnections may be Infinity; requestTimeout 0 puts no bound on headersTimeout');
});

t.test('parseBind: the address forms', async (t) => {
  const valid: [string, object][] = [
    ['127.0.0.1:8000', { host: '127.0.0.1', port: 8000 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
    ['[::1]:8000', { host: '::1', port: 8000 }],
    ['[::]:80', { host: '::', port: 80 }],
    ['unix:/run/app.sock', { path: '/run/app.sock' }],
    ['unix:relative.sock', { path: 'relative.sock' }],
  ];
  for (const [text, expected] of valid) t.same(parseBind('bind', text), { ...expected, text }, text);
  for (const text of ['8000', ':8000', '127.0.0.1', '127.0.0.1:65536', '::1:8000', '[::1]', '[nope]:80', 'a b:80', 'unix:', 'http://x:80', '127.0.0.1:-1']) {
    t.throws(() => parseBind('bind', text), { name: 'RangeError', code: 'ERR_PROXYFIX_OPTION_RANGE' }, text);
  }
});

t.test('combined log format: fields, time and escaping', async (t) => {
  const time = new Date(2026, 0, 5, 7, 8, 9);
  t.match(logTime(time), /^05\/Jan\/2026:07:08:09 [+-]\d{4}$/);
  t.equal(logQuoted(undefined), '"-"');
  t.equal(logQuoted('curl/8.0 "quoted" \\ back'), '"curl/8.0 \\"quoted\\" \\\\ back"');
  t.equal(logQuoted('line\nbreak\ttab\u00e9'), '"line\\x0abreak\\x09tab\\xe9"', 'a client cannot start a new log line');
  t.match(combinedLogLine({ remoteAddr: '203.0.113.7', time, requestLine: 'GET / HTTP/1.1', status: 200, bytes: 5, referer: 'http://r/', userAgent: 'ua' }),
    /^203\.0\.113\.7 - - \[05\/Jan\/2026:07:08:09 [+-]\d{4}\] "GET \/ HTTP\/1\.1" 200 5 "http:\/\/r\/" "ua"$/);
  t.match(combinedLogLine({ remoteAddr: '', time, requestLine: undefined, status: 400, bytes: 0, referer: undefined, userAgent: undefined }),
    /^- - - \[.*\] "-" 400 - "-" "-"$/);
});

t.test('logTime writes the offset of the local time zone', async (t) => {
  // node reads TZ again when it changes, so each zone can be tried here.
  const saved = process.env.TZ;
  t.teardown(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
  const cases = [['UTC', '12:00', '+0000'], ['Asia/Kolkata', '17:30', '+0530'], ['America/St_Johns', '08:30', '-0330']] as const;
  for (const [zone, clock, offset] of cases) {
    process.env.TZ = zone;
    t.equal(logTime(new Date(Date.UTC(2026, 0, 15, 12))), `15/Jan/2026:${clock}:00 ${offset}`, zone);
  }
});

t.test('serves on several addresses at once, TCP and Unix', async (t) => {
  const dir = tempDir(t);
  const socketPath = join(dir, 'app.sock');
  const { server, logs } = await start(t, hello, { bind: ['127.0.0.1:0', '[::1]:0', `unix:${socketPath}`] });
  t.equal(server.addresses.length, 3);
  t.match(server.addresses[0], /^127\.0\.0\.1:\d+$/);
  t.match(server.addresses[1], /^\[::1\]:\d+$/);
  t.equal(server.addresses[2], `unix:${socketPath}`);
  t.equal(server.servers.length, 3);
  t.same(server.workers, []);
  t.equal((await request({ port: Number(server.addresses[0]!.split(':')[1]) })).body, 'hello 127.0.0.1');
  t.equal((await request({ port: Number(server.addresses[1]!.split(':').pop()), host: '::1' })).body, 'hello ::1');
  logs.access.length = 0;
  t.equal((await request({ socketPath })).body, 'hello ', 'a Unix socket peer has no address');
  await until(() => logs.access.length === 1);
  t.equal(statusLine((await rawExchange({ socketPath }, ['BROKEN\r\n\r\n'])).data), 'HTTP/1.1 400 Bad Request');
  t.match(logs.access, [/^- - - \[.*\] "GET \/ HTTP\/1\.1" 200 6 /, /^- - - \[.*\] "-" 400 12 /],
    'a Unix socket peer is logged as -');
  t.match(logs.log, [new RegExp(`^\\[proxyfix ${process.pid}\\] listening on http://127\\.0\\.0\\.1:\\d+, http://\\[::1\\]:\\d+, unix:${socketPath}$`)]);
  await server.close();
  t.notOk(existsSync(socketPath), 'the socket file is gone after close');
});

t.test('a Unix socket path: a stale socket is replaced, anything else is not touched', async (t) => {
  const dir = tempDir(t);
  const stale = join(dir, 'stale.sock');
  // A server killed without closing leaves its socket file behind.
  spawnSync(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
  t.ok(existsSync(stale), 'the killed server left its socket file');
  const { server } = await start(t, hello, { bind: `unix:${stale}` });
  t.equal((await request({ socketPath: stale })).body, 'hello ');

  await t.rejects(serve(hello, { bind: `unix:${stale}`, log: false }), { code: 'EADDRINUSE' }, 'a live socket is not taken over');
  t.equal((await request({ socketPath: stale })).body, 'hello ', 'and keeps serving');
  await server.close();

  const file = join(dir, 'file.sock');
  writeFileSync(file, 'data');
  await t.rejects(serve(hello, { bind: `unix:${file}`, log: false }), {
    message: `cannot listen on unix:${file}: the file exists and is not a socket`,
  });
  t.ok(existsSync(file), 'a file that is not a socket is left alone');

  // One address failing closes those already bound.
  const first = await new Promise<number>((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  await t.rejects(serve(hello, { bind: [`127.0.0.1:${first}`, `unix:${file}/below-a-file.sock`], log: false }), { code: 'ENOTDIR' });
  const again = await serve(hello, { bind: `127.0.0.1:${first}`, log: false, accessLog: false });
  t.pass('the first address was released');
  await again.close();
});

t.test('with workers, an address that cannot be bound fails serve() before any worker starts', async (t) => {
  // 192.0.2.1 (TEST-NET-1) is never a local address, so this primary fails before it forks: it
  // must not fork here, where a worker would run this test file again.
  await t.rejects(serve(hello, { bind: '192.0.2.1:0', workers: 2, log: false }), { code: 'EADDRNOTAVAIL' });
});

t.test('an address in use fails serve() with the listen error', async (t) => {
  const { server } = await start(t, hello);
  await t.rejects(serve(hello, { bind: server.addresses[0], log: false }), { code: 'EADDRINUSE' });
});

t.test('keep-alive: several requests on one connection, which is closed once idle for keepAliveTimeout', async (t) => {
  const { target } = await start(t, hello, { keepAliveTimeout: 200 });
  const socket = await connect(target);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
  for (let i = 1; i <= 3; i++) {
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    while (data.split('hello 127.0.0.1').length <= i) await sleep(10);
  }
  t.equal(data.match(/HTTP\/1\.1 200 OK/g)?.length, 3, 'one connection served all three');
  t.match(data, /Connection: keep-alive\r\nKeep-Alive: timeout=0\r\n|Keep-Alive: timeout=/);
  await new Promise((resolve) => socket.on('close', resolve));
  t.pass('the server closed the idle connection');
});

t.test('broken requests get a short 400, 431 or 408 and the server carries on', async (t) => {
  const { target, logs } = await start(t, hello, { maxHeaderSize: 1024, headersTimeout: 300, requestTimeout: 600 });
  const bad = await rawExchange(target, ['GET / HTTP/1.1\r\nHost: a\r\nNo Colon Here\r\n\r\n']);
  t.equal(statusLine(bad.data), 'HTTP/1.1 400 Bad Request');
  t.match(bad.data, /\r\nConnection: close\r\n[^]*\r\n\r\nBad Request\n$/);

  const big = await rawExchange(target, [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`]);
  t.equal(statusLine(big.data), 'HTTP/1.1 431 Request Header Fields Too Large');

  const slowHeaders = await rawExchange(target, ['GET / HTTP/1.1\r\n', 'Host: a\r\n', 'X-Slow: 1\r\n', '\r\n'], 250);
  t.equal(statusLine(slowHeaders.data), 'HTTP/1.1 408 Request Timeout', 'headers sent too slowly are cut off');
  t.notMatch(slowHeaders.data, /hello/, 'the app never saw them');

  const reading: GatewayApp = async (env) => {
    let size = 0;
    for await (const chunk of env.body) size += chunk.byteLength;
    return { status: 200, body: `read ${size}` };
  };
  const { target: bodyTarget } = await start(t, reading, { headersTimeout: 300, requestTimeout: 300 });
  const slowBody = await rawExchange(bodyTarget, ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345', '6', '7', '8'], 200);
  t.equal(statusLine(slowBody.data), 'HTTP/1.1 408 Request Timeout', 'a body sent too slowly is cut off');

  t.match(await request(target), { status: 200, body: 'hello 127.0.0.1' }, 'the server still answers');
  t.match(logs.access.slice(0, 3), [/^127\.0\.0\.1 - - \[.*\] "-" 400 12 "-" "-"$/, /"-" 431 32 /, /"-" 408 16 /],
    'the access log shows the refused requests');
});

t.test('a broken request on a connection whose response is under way gets no second response', async (t) => {
  let release: () => void = () => {};
  const app: GatewayApp = () => ({
    status: 200,
    body: (async function* () {
      yield Buffer.from('started ');
      await new Promise<void>((resolve) => { release = resolve; });
      yield Buffer.from('finished');
    })(),
  });
  const { target } = await start(t, app, { log: false });
  const socket = await connect(target);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    data += chunk;
    if (data.includes('started ')) socket.write('BROKEN\r\n\r\n');
  });
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise((resolve) => socket.on('close', resolve));
  release();
  t.notMatch(data, /400/, 'no 400 inside the running response');
  t.match(data, /^HTTP\/1\.1 200 OK/);
});

t.test('a client that resets the connection mid-request gets nothing, and nothing breaks', async (t) => {
  const { target, logs } = await start(t, hello);
  const socket = await connect(target);
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
  await sleep(50);
  socket.resetAndDestroy();
  await new Promise((resolve) => socket.on('close', resolve));
  t.match(await request(target), { status: 200 });
  await until(() => logs.access.length > 0);
  await sleep(50);
  t.equal(logs.access.length, 1, 'only the good request is logged');
});

t.test('maxConnections: connections beyond it are refused', async (t) => {
  const { target, logs } = await start(t, hello, { maxConnections: 1 });
  const held = await connect(target);
  const refused = await rawExchange(target, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n']);
  t.equal(refused.data, '', 'the second connection is closed without an answer');
  t.match(logs.log.at(-1), /refused a connection on 127\.0\.0\.1:0: maxConnections \(1\) reached$/);
  held.destroy();
  await new Promise((resolve) => held.on('close', resolve));
  // The server counts the closed connection asynchronously; a refused retry is legitimate meanwhile.
  let answer;
  while (!(answer = await request(target).catch(() => undefined))) await sleep(20);
  t.equal(answer.status, 200, 'once the first connection is gone, a new one is served');
});

t.test('the access log: one combined line per request, with the fixed client address', async (t) => {
  const { target, logs } = await start(t, proxyFix(hello, { xFor: 1 }));
  await request(target, {
    path: '/p?q=1',
    headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', Referer: 'https://ref.example/', 'User-Agent': 'test "agent"' },
  });
  await until(() => logs.access.length === 1);
  await request(target, { method: 'HEAD', path: '/head' });
  await until(() => logs.access.length === 2);
  t.match(logs.access, [
    /^203\.0\.113\.7 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/p\?q=1 HTTP\/1\.1" 200 17 "https:\/\/ref\.example\/" "test \\"agent\\""$/,
    /^127\.0\.0\.1 - - \[.*\] "HEAD \/head HTTP\/1\.1" 200 - "-" "-"$/,
  ]);
});

t.test('log sinks: a stream, a function, or nothing', async (t) => {
  const streamed: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { streamed.push(String(chunk)); done(); } });
  const server = await serve(hello, { bind: '127.0.0.1:0', accessLog: stream, log: stream });
  await request({ port: Number(server.addresses[0]!.split(':')[1]) });
  await until(() => streamed.length === 2);
  await server.close();
  t.match(streamed, [/listening on/, /"GET \/ HTTP\/1\.1" 200/]);
  t.ok(streamed.every((line) => line.endsWith('\n')), 'a stream gets whole lines');

  const quiet = await serve(hello, { bind: '127.0.0.1:0', accessLog: false, log: false, requestTimeout: 0 });
  const port = Number(quiet.addresses[0]!.split(':')[1]);
  t.equal((await request({ port })).status, 200, 'serves with both logs off');
  t.equal(statusLine((await rawExchange({ port }, ['BROKEN\r\n\r\n'])).data), 'HTTP/1.1 400 Bad Request');
  await quiet.close();
});

t.test('app errors go to the log; a server error after start-up is logged, not thrown', async (t) => {
  const { server, target, logs } = await start(t, (env) => {
    if (env.pathInfo === '/string') throw 'not an Error';
    throw new Error('boom');
  });
  t.equal((await request(target, { path: '/x' })).status, 500);
  t.equal((await request(target, { path: '/string' })).status, 500);
  t.match(logs.log[1], /^\[proxyfix \d+\] error in GET \/x: Error: boom\n\s+at /);
  t.match(logs.log[2], /error in GET \/string: not an Error$/);
  server.servers[0]!.emit('error', new Error('accept EMFILE'));
  t.match(logs.log[3], /server error on 127\.0\.0\.1:0: accept EMFILE$/);
  t.equal((await request(target)).status, 500, 'still serving');
});

t.test('a holder\'s gatewayApp is read on every request', async (t) => {
  const holder = { gatewayApp: ((): ReturnType<GatewayApp> => ({ status: 200, body: 'one' })) as GatewayApp };
  const { target } = await start(t, holder as unknown as GatewayApp);
  t.equal((await request(target)).body, 'one');
  holder.gatewayApp = proxyFix(() => ({ status: 200, body: 'two' }), { xFor: 1 });
  t.equal((await request(target)).body, 'two');
});

t.test('close(): in-flight requests finish, idle connections close, new ones are refused', async (t) => {
  const arrived: (() => void)[] = [];
  let count = 0;
  const { server, target, logs } = await start(t, async (env) => {
    count++;
    await new Promise<void>((resolve) => arrived.push(resolve));
    return { status: 200, body: `done ${env.pathInfo}` };
  }, { keepAliveTimeout: 60_000 });
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());

  // A connection that has sent nothing, an idle keep-alive one, and three requests in flight.
  const fresh = await connect(target);
  const freshClosed = new Promise((resolve) => fresh.on('close', resolve));
  const used = await connect(target);
  used.write('GET /used HTTP/1.1\r\nHost: a\r\n\r\n');
  while (count < 1) await sleep(10);
  arrived.shift()!();
  await new Promise((resolve) => used.once('data', resolve));
  const usedClosed = new Promise((resolve) => used.on('close', resolve));
  count = 0;
  const answers = ['/a', '/b', '/c'].map((path) => request(target, { path, agent }));
  while (count < 3) await sleep(10);

  const closing = server.close();
  t.equal(server.close(), closing, 'close() twice is the same shutdown');
  await freshClosed;
  await usedClosed;
  t.pass('the idle connections were closed at once');
  await t.rejects(request(target), { code: 'ECONNREFUSED' }, 'nothing new is accepted');
  for (const resolve of arrived) resolve();
  const done = await Promise.all(answers);
  t.same(done.map((a) => [a.status, a.body, a.headers.connection]), [
    [200, 'done /a', 'close'], [200, 'done /b', 'close'], [200, 'done /c', 'close'],
  ], 'every in-flight request got its answer, with Connection: close');
  await closing;
  t.notMatch(logs.log.join('\n'), /drainTimeout/);
});

t.test('close(): a response already streaming finishes, then its keep-alive connection closes', async (t) => {
  let release: () => void = () => {};
  const { server, target } = await start(t, (env) => env.pathInfo === '/stream'
    ? {
      status: 200,
      body: (async function* () {
        yield Buffer.from('head ');
        await new Promise<void>((resolve) => { release = resolve; });
        yield Buffer.from('tail');
      })(),
    }
    : { status: 200, body: 'quick' }, { keepAliveTimeout: 60_000 });
  const socket = await connect(target);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
  socket.write('GET /stream HTTP/1.1\r\nHost: a\r\n\r\n');
  while (!data.includes('head ')) await sleep(10);
  const closing = server.close();
  // A request pipelined behind it, during shutdown: answered, and told the connection closes.
  socket.write('GET /quick HTTP/1.1\r\nHost: a\r\n\r\n');
  await sleep(50);
  release();
  await new Promise((resolve) => socket.on('close', resolve));
  await closing;
  t.match(data, /keep-alive[^]*head [^]*tail[^]*Connection: close[^]*quick$/,
    'both responses arrived, the second saying the connection closes, then it was closed');
});

t.test('close(): a request that takes longer than drainTimeout is cut off', async (t) => {
  let arrived = false;
  const { server, target, logs } = await start(t, () => {
    arrived = true;
    return new Promise(() => {});
  }, { drainTimeout: 100 });
  const pending = request(target).catch((error: NodeJS.ErrnoException) => error.code);
  while (!arrived) await sleep(10);
  await server.close();
  t.equal(await pending, 'ECONNRESET', 'the client sees the connection cut');
  t.match(logs.log.at(-1), /drainTimeout \(100 ms\) reached: closing 1 unfinished request\(s\)$/);
});

t.test('close() with no connections resolves at once', async (t) => {
  const { server } = await start(t, hello);
  await server.close();
  t.pass();
});
