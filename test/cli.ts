/**
 * The `proxyfix` command. Most of its decisions are checked by calling the command line function
 * (runCommand) here, which is fast; the program itself runs as a child process, the way a user
 * runs it, for what only a process shows: exit statuses, stdout and stderr, signals and workers.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import type { RunningServer } from '../src/server/serve.js';
import { cli, root, run, Running } from './fixtures/child.js';
import { command } from './fixtures/command.js';
import { request, sleep } from './fixtures/http-client.js';

// Every child process loads the TypeScript loader anew, 1-2 s each.
t.setTimeout(240_000);

const apps = 'test/fixtures/apps.ts';



function portOf(server: RunningServer | undefined, index = 0): number {
  return Number(server!.addresses[index]!.split(':').pop());
}

/** Start the program; killed when the test ends if it is still running. */
function startCli(t: Test, args: string[], env: Record<string, string> = {}): Running {
  const child = new Running(cli, ['serve', ...args], env);
  t.teardown(() => {
    if (child.child.exitCode === null && child.child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** What proxyFix itself says about `options`: the command must print exactly that. */
function proxyFixMessage(options: ProxyFixOptions): string {
  try {
    proxyFix(() => ({ status: 200 }), options);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`proxyFix accepts ${JSON.stringify(options)}`);
}

/** A port on 127.0.0.1 that is free now, for a test that must name its port. */
function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function occupiedPort(t: Test): Promise<number> {
  const holder = http.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  return (holder.address() as AddressInfo).port;
}

t.test('--help and --version', async (t) => {
  const helped = await command(t, ['--help']);
  t.equal(helped.server, undefined);
  t.match(helped.stdout, /^usage: proxyfix serve \[options\] MODULE\[:EXPORT\]\n/);
  for (const flag of ['--bind', '--workers', '--x-for', '--x-proto', '--x-host', '--x-port', '--x-prefix', '--forwarded',
    '--trusted', '--inspect', '--no-access-log', 'PROXYFIX_TRUSTED', 'PROXYFIX_BIND']) {
    t.match(helped.stdout, flag, `help names ${flag}`);
  }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  t.equal((await command(t, ['serve', '-h'])).stdout, helped.stdout);
  t.equal((await command(t, ['serve', '--version'])).stdout, `proxyfix ${version}\n`);
});

t.test('whatever is wrong with the command: one line, exit status 2', async (t) => {
  const usage = 'usage: proxyfix serve [options] MODULE[:EXPORT]';
  const exportsList = 'app, brokenFactory, createApp, createLater, createPidApp, default, holder, justAnObject, nested, notAnApp, ' +
    'nothing, pid, slow, throwsString';
  const cases: [string, string[], Record<string, string>, string | RegExp][] = [
    ['no command', [], {}, `no command given; ${usage}`],
    ['unknown command', ['run', 'x'], {}, `unknown command "run"; ${usage}`],
    ['unknown option', ['serve', '--nope'], {}, /^Unknown option '--nope'.* \(see proxyfix --help\)$/],
    ['option without its value', ['serve', '--inspect', '--x-for'], {}, /^Option '--x-for <value>' argument missing \(see proxyfix --help\)$/],
    ['a count that is not a number', ['serve', '--inspect', '--x-for', 'two'], {}, '--x-for must be a whole number or inf, got "two"'],
    ['a count from the environment', ['serve', '--inspect'], { PROXYFIX_X_PROTO: '-1' }, 'PROXYFIX_X_PROTO must be a whole number or inf, got "-1"'],
    ['workers that are not a number', ['serve', '--inspect', '-w', 'inf'], {}, '--workers must be a whole number, got "inf"'],
    ['inf without --trusted', ['serve', '--inspect', '--x-for', 'inf'], {}, proxyFixMessage({ xFor: Infinity })],
    ['--trust-unix-socket without --trusted', ['serve', '--inspect', '--trust-unix-socket'], {}, proxyFixMessage({ trustUnixSocket: true })],
    ['seconds that are not a number', ['serve', '--inspect', '--drain-timeout', '5s'], {}, '--drain-timeout must be a number of seconds, got "5s"'],
    ['a flag from the environment', ['serve'], { PROXYFIX_INSPECT: 'maybe' }, 'PROXYFIX_INSPECT must be 1 or 0 (true or false), got "maybe"'],
    ['two apps', ['serve', `${apps}:app`, `${apps}:pid`], {}, `serve takes one MODULE:EXPORT, got 2: ${apps}:app ${apps}:pid`],
    ['no app', ['serve'], {}, `serve needs MODULE:EXPORT, or --inspect for the inspection app; ${usage}`],
    ['an app and --inspect', ['serve', `${apps}:app`], { PROXYFIX_INSPECT: 'yes' }, 'give either MODULE:EXPORT or --inspect, not both'],
    ['a module that does not exist', ['serve', 'nope/app:app'], {},
      `cannot find module "nope/app": no file ${join(root, 'nope/app')} (nor with .js, .mjs or .cjs)`],
    ['a directory', ['serve', 'test/fixtures:app'], {}, /^cannot find module "test\/fixtures": no file /],
    ['a module that throws while loading', ['serve', 'test/fixtures/broken-app.ts'], {},
      'cannot load module "test/fixtures/broken-app.ts": DATABASE_URL is not set'],
    ['a module without exports', ['serve', 'test/fixtures/no-exports.ts'], {},
      'module "test/fixtures/no-exports.ts" has no export "default" (it exports: nothing)'],
    ['a missing export', ['serve', `${apps}:nope`], {}, `module "${apps}" has no export "nope" (it exports: ${exportsList})`],
    ['a path through a string', ['serve', `${apps}:notAnApp.length`], {}, `module "${apps}" has no export "notAnApp.length" (it exports: ${exportsList})`],
    ['a path through null', ['serve', `${apps}:nothing.app`], {}, /has no export "nothing\.app"/],
    ['a path to nothing', ['serve', `${apps}:nested.missing`], {}, /has no export "nested\.missing"/],
    ['an export expression that is not one', ['serve', `${apps}:create-app()`], {},
      `"create-app()" in "${apps}:create-app()" is not an export name, a dotted path or a call like createApp()`],
    ['an empty export', ['serve', `${apps}:`], {}, /^"" in ".*:" is not an export name/],
    ['an export that is not an app', ['serve', `${apps}:notAnApp`], {},
      `notAnApp in "${apps}" gave "a string", not an app: a gateway app, a node:http request listener, a fetch handler, or an object with gatewayApp or fetch`],
    ['an object that is not a holder', ['serve', `${apps}:justAnObject`], {}, /^justAnObject in .* gave an object, not an app: /],
    ['a call of something that is not a function', ['serve', `${apps}:notAnApp()`], {},
      `notAnApp in "${apps}" is "a string", not a function, so notAnApp() cannot call it`],
    ['a factory that throws', ['serve', `${apps}:brokenFactory()`], {}, `brokenFactory() in "${apps}" threw: no database`],
    ['a factory that throws a string', ['serve', `${apps}:throwsString()`], {}, `throwsString() in "${apps}" threw: config.json not found`],
    ['a bad address', ['serve', '--inspect', '-b', 'localhost'], {},
      '`bind[0]` must be "host:port" (port 0-65535, IPv6 in brackets) or "unix:/path", got "localhost"'],
    ['timeouts that contradict', ['serve', '--inspect', '--headers-timeout', '100', '--request-timeout', '10'], {},
      /^`headersTimeout` \(100000\) must not exceed `requestTimeout` \(10000\)/],
    ['proxyFix refuses the options', ['serve', '--inspect', '--forwarded', '1', '--x-for', '1'], {},
      proxyFixMessage({ forwarded: 1, xFor: 1 })],
    ['proxyFix refuses a trusted entry', ['serve', `${apps}:app`], { PROXYFIX_TRUSTED: 'loopback, not-an-address' },
      proxyFixMessage({ trusted: ['loopback', 'not-an-address'] })],
  ];
  for (const [name, argv, env, message] of cases) {
    const { error, server, stdout } = await command(t, argv, env);
    t.equal(server, undefined, `${name}: nothing listens`);
    t.equal(stdout, '', `${name}: nothing on stdout`);
    t.equal(error?.exitCode, 2, `${name}: exit status 2`);
    t.notMatch(error?.message, /\n/, `${name}: one line`);
    if (typeof message === 'string') t.equal(error?.message, message, name);
    else t.match(error?.message, message, name);
  }
});

t.test('an address in use is not the command\'s fault: exit status 1', async (t) => {
  const port = await occupiedPort(t);
  const { error } = await command(t, ['serve', '--inspect', '-b', `127.0.0.1:${port}`]);
  t.equal(error?.exitCode, 1);
  t.equal(error?.message, `listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
});

t.test('the program: one line on stderr and its exit status; --help on stdout', async (t) => {
  const port = await occupiedPort(t);
  const [usage, missing, config, inUse, help] = await Promise.all([
    run(cli, []),
    run(cli, ['serve', `${apps}:nope`]),
    run(cli, ['serve', '--inspect', '--x-for', '1'], { PROXYFIX_FORWARDED: '1' }),
    run(cli, ['serve', '--inspect', '-b', `127.0.0.1:${port}`]),
    run(cli, ['--help']),
  ]);
  t.same(usage, { code: 2, signal: null, stdout: '', stderr: 'proxyfix: no command given; usage: proxyfix serve [options] MODULE[:EXPORT]\n' });
  t.match(missing, { code: 2, stdout: '', stderr: /^proxyfix: module "test\/fixtures\/apps\.ts" has no export "nope" \(it exports: [^\n]*\)\n$/ });
  t.same(config, { code: 2, signal: null, stdout: '', stderr: `proxyfix: ${proxyFixMessage({ forwarded: 1, xFor: 1 })}\n` });
  t.same(inUse, { code: 1, signal: null, stdout: '', stderr: `proxyfix: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n` });
  t.match(help, { code: 0, stderr: '', stdout: /^usage: proxyfix serve/ });
});

t.test('MODULE:EXPORT forms, served', async (t) => {
  const forms: [string, string][] = [
    [`${apps}:createApp()`, 'made by createApp /x'],
    [`${apps}:createLater()`, 'made by createLater /x'],
    [`${apps}:nested.create()`, 'made by nested.create'],
    ['test/fixtures/plain-app', 'plain /x'],
  ];
  for (const [spec, body] of forms) {
    const { server } = await command(t, ['serve', spec, '-b', '127.0.0.1:0']);
    t.equal((await request({ port: portOf(server) }, { path: '/x' })).body, body, spec);
  }
  const { server, stdout } = await command(t, ['serve', `${apps}:nested.inner.app`, '-b', '127.0.0.1:0', '--no-access-log']);
  t.match(JSON.parse((await request({ port: portOf(server) })).body), { from: 'app' }, 'a dotted path');
  t.equal(stdout, '', '--no-access-log: no access log');
});

t.test('the proxy options: from flags and the environment, the flag winning', async (t) => {
  const outcome = await command(t, ['serve', `${apps}:app`, '-b', '127.0.0.1:0', '--x-for', '1', '--x-proto', '1',
    '--keep-alive-timeout', '0.5', '--headers-timeout', '10', '--request-timeout', '20', '--drain-timeout', '2',
    '--max-header-size', '4096', '--max-connections', '50'], { PROXYFIX_X_FOR: '2', PROXYFIX_X_HOST: '1' });
  const port = portOf(outcome.server);
  const answer = await request({ port }, {
    path: '/p', headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com' },
  });
  t.same(JSON.parse(answer.body), { from: 'app', remoteAddr: '203.0.113.7', scheme: 'https', host: 'example.com', path: '/p' });
  // The line is written once the response is complete, a moment after the client has it.
  while (outcome.stdout === '') await sleep(10);
  t.match(outcome.stdout, /^203\.0\.113\.7 - - \[[^\]]+\] "GET \/p HTTP\/1\.1" 200 \d+ "-" "-"\n$/, 'the access log shows the fixed client');
  t.match(outcome.stderr, /listening on http:\/\/127\.0\.0\.1:\d+\n$/);
  t.equal((await request({ port }, { headers: { 'X-Big': 'a'.repeat(5000) } })).status, 431, '--max-header-size is applied');
});

t.test('a holder: served as it is without proxy options, under proxyFix with them, read per request', async (t) => {
  const headers = { 'X-Forwarded-For': '203.0.113.7' };
  const plain = await command(t, ['serve', `${apps}:holder`, '-b', '127.0.0.1:0']);
  t.equal((await request({ port: portOf(plain.server) }, { headers })).body, 'holder 127.0.0.1', 'no options: no proxyFix');
  const fixed = await command(t, ['serve', `${apps}:holder`, '-b', '127.0.0.1:0'], { PROXYFIX_X_FOR: '1' });
  const port = portOf(fixed.server);
  t.equal((await request({ port }, { headers })).body, 'holder 203.0.113.7', 'PROXYFIX_X_FOR applies proxyFix');
  await request({ port }, { path: '/swap' });
  t.equal((await request({ port }, { headers })).body, 'swapped', 'the holder\'s new gatewayApp is used');
});

t.test('--inspect from the environment, on several addresses from PROXYFIX_BIND', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'inspect.sock');
  const outcome = await command(t, ['serve'], {
    PROXYFIX_INSPECT: '1', PROXYFIX_X_FOR: '2', PROXYFIX_NO_ACCESS_LOG: 'false', PROXYFIX_BIND: `127.0.0.1:0, unix:${socketPath}`,
  });
  const server = outcome.server;
  t.equal(server!.addresses[1], `unix:${socketPath}`);
  const answer = JSON.parse((await request({ port: portOf(server) }, { headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7' } })).body);
  t.match(answer.verdict[0], /^2 proxies seen in x-forwarded-for; your xFor is 2, the client address used is 6\.6\.6\.6/);
  t.equal(JSON.parse((await request({ socketPath })).body).before.remoteAddr, '', 'a Unix socket peer');
  while (outcome.stdout === '') await sleep(10);
  t.match(outcome.stdout, /"GET \/ HTTP\/1\.1" 200/, 'PROXYFIX_NO_ACCESS_LOG=false keeps the access log');
});

t.test('-b or PROXYFIX_BIND replaces the default address, 127.0.0.1:8000, rather than adding to it', async (t) => {
  // `npm start -- -b ADDR` runs `proxyfix serve --inspect -b ADDR`: the server must move there.
  const port = await freePort();
  const moved = await command(t, ['serve', '--inspect', '--no-access-log', '-b', `127.0.0.1:${port}`]);
  t.strictSame(moved.server?.addresses, [`127.0.0.1:${port}`], '-b: only the address given');
  t.match(moved.stderr, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\n$`));
  const envPort = await freePort();
  const fromEnv = await command(t, ['serve', '--inspect', '--no-access-log'], { PROXYFIX_BIND: `127.0.0.1:${envPort}` });
  t.strictSame(fromEnv.server?.addresses, [`127.0.0.1:${envPort}`], 'PROXYFIX_BIND: only the address given');
  const both = await command(t, ['serve', '--inspect', '--no-access-log', '-b', '127.0.0.1:0'], { PROXYFIX_BIND: '[::1]:0' });
  t.equal(both.server?.addresses.length, 1, '-b wins over PROXYFIX_BIND, without adding to it');
  t.match(both.server?.addresses[0], /^127\.0\.0\.1:\d+$/);

  // Without either, the default: held here (or by whoever else holds it), so the command must
  // report it in use, which names the address it tried.
  const holder = http.createServer();
  const held = await new Promise<boolean>((resolve) => {
    holder.once('error', () => resolve(false));
    holder.listen(8000, '127.0.0.1', () => resolve(true));
  });
  t.teardown(() => { if (held) holder.close(); });
  const { error } = await command(t, ['serve', '--inspect', '--no-access-log']);
  t.equal(error?.message, 'listen EADDRINUSE: address already in use 127.0.0.1:8000', 'no -b: 127.0.0.1:8000');
});

t.test('--trusted with --x-for inf and --trust-unix-socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'trusted.sock');
  const outcome = await command(t, ['serve', '--inspect', '--no-access-log', '-b', `unix:${socketPath}`, '-b', '127.0.0.1:0',
    '--x-for', 'INF', '--trusted', 'loopback', '--trust-unix-socket']);
  const headers = { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7, 127.0.0.9' };
  const viaSocket = JSON.parse((await request({ socketPath }, { headers })).body);
  t.equal(viaSocket.after.remoteAddr, '203.0.113.7', 'the socket peer is trusted and the walk stops at the client');
  const viaTcp = JSON.parse((await request({ port: portOf(outcome.server, 1) }, { headers })).body);
  t.equal(viaTcp.after.remoteAddr, '203.0.113.7', 'a loopback peer too');
});

t.test('the program serves module:app, logs to stdout, and SIGTERM under load loses no request', async (t) => {
  const child = startCli(t, [`${apps}:slow`, '-b', '127.0.0.1:0', '--x-for', '1']);
  const port = await child.port();
  const answers = Array.from({ length: 20 }, (_, i) =>
    request({ port }, { path: `/?ms=300&n=${i}`, headers: { 'X-Forwarded-For': `203.0.113.${i}` } }));
  await child.waitForCount(/slow request arrived/g, 20);
  child.kill('SIGTERM');
  const done = await Promise.all(answers);
  t.same(done.map((a) => a.status), Array(20).fill(200), 'every request already in got its answer');
  t.same(done.map((a) => a.body).sort(), Array.from({ length: 20 }, (_, i) => `slow ms=300&n=${i}`).sort());
  const exit = await child.exited;
  t.equal(exit.code, 0);
  t.match(exit.stderr, /SIGTERM: finishing in-flight requests, then exiting/);
  t.equal(exit.stdout.split('\n').filter((line) => /^203\.0\.113\.\d+ - - .* 200 /.test(line)).length, 20,
    'an access log line per request, with the fixed client address');
});

t.test('the program: a second signal exits at once; drainTimeout bounds the wait', async (t) => {
  const impatient = startCli(t, [`${apps}:slow`, '-b', '127.0.0.1:0']);
  const bounded = startCli(t, [`${apps}:slow`, '-b', '127.0.0.1:0', '--drain-timeout', '0.3']);
  const [port1, port2] = [await impatient.port(), await bounded.port()];
  const stuck1 = request({ port: port1 }, { path: '/?ms=60000' }).catch((error: NodeJS.ErrnoException) => error.code);
  const stuck2 = request({ port: port2 }, { path: '/?ms=60000' }).catch((error: NodeJS.ErrnoException) => error.code);
  await impatient.waitFor(/slow request arrived/);
  await bounded.waitFor(/slow request arrived/);

  impatient.kill('SIGINT');
  await impatient.waitFor(/SIGINT: finishing/);
  impatient.kill('SIGINT');
  t.equal((await impatient.exited).code, 1, 'the second signal: exit 1 at once');
  t.match(impatient.stderr, /SIGINT again: exiting now/);

  bounded.kill('SIGTERM');
  t.equal((await bounded.exited).code, 0, 'after drainTimeout: exit 0');
  t.match(bounded.stderr, /drainTimeout \(300 ms\) reached: closing 1 unfinished request/);
  t.equal(await stuck1, 'ECONNRESET');
  t.equal(await stuck2, 'ECONNRESET');
});

t.test('the program with -w 2 and module:factory(): workers on TCP, IPv6 and Unix addresses; SIGTERM stops them all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'workers.sock');
  // A given, non-zero port: free now, for the workers to bind.
  const free = await freePort();
  const child = startCli(t, [`${apps}:createPidApp()`, '-w', '2', '-b', '127.0.0.1:0', '-b', '[::1]:0', '-b', `unix:${socketPath}`,
    '-b', `127.0.0.1:${free}`, '--no-access-log']);
  const listening = await child.waitFor(
    /listening on http:\/\/127\.0\.0\.1:(\d+), http:\/\/\[::1\]:(\d+), unix:(\S+), http:\/\/127\.0\.0\.1:(\d+) with 2 worker\(s\)/);
  const pids = [...child.stderr.matchAll(/worker (\d+) is listening/g)].map((m) => Number(m[1]));
  t.equal(pids.length, 2);
  t.equal(listening[3], socketPath);
  t.equal(Number(listening[4]), free);
  const seen = new Set<string>();
  for (let i = 0; i < 100 && seen.size < 2; i++) seen.add((await request({ port: Number(listening[1]) })).body);
  t.same([...seen].map(Number).sort(), [...pids].sort(), 'both workers answer');
  t.ok(pids.includes(Number((await request({ port: Number(listening[2]), host: '::1' })).body)), 'over IPv6');
  t.ok(pids.includes(Number((await request({ socketPath })).body)), 'over the Unix socket');
  t.ok(pids.includes(Number((await request({ port: free })).body)), 'on the given port');
  child.kill('SIGTERM');
  t.equal((await child.exited).code, 0);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`);
});

t.test('-b takes its value as it is: a socket path with a space and a comma', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'my app, v2.sock');
  const { server, error } = await command(t, ['serve', '--inspect', '--no-access-log', '-b', `unix:${socketPath}`, '-b', '127.0.0.1:0']);
  t.equal(error, undefined);
  t.equal(server?.addresses[0], `unix:${socketPath}`);
  t.equal(JSON.parse((await request({ socketPath })).body).before.remoteAddr, '', 'served on that path');
  const listed = await command(t, ['serve', '--inspect', '--no-access-log', '-b', '127.0.0.1:0, [::1]:0']);
  t.match(listed.error?.message, /^`bind\[0\]` must be "host:port"/, 'a list in one -b is one (bad) address, not two');
});

t.test('PROXYFIX_TRUSTED="" is the empty list, as --trusted "" is; other empty variables count as unset', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const headers = { 'X-Forwarded-For': '203.0.113.7' };
  for (const [how, flags, env] of [
    ['flags', ['--trusted', '', '--trust-unix-socket', '--x-for', '1'], {}],
    ['environment', [], { PROXYFIX_TRUSTED: '', PROXYFIX_TRUST_UNIX_SOCKET: '1', PROXYFIX_X_FOR: '1', PROXYFIX_X_PROTO: '' }],
  ] as const) {
    const socketPath = join(dir, `${how}.sock`);
    const { server, error } = await command(t, ['serve', '--inspect', '--no-access-log', '-b', `unix:${socketPath}`, '-b', '127.0.0.1:0', ...flags], env);
    t.equal(error, undefined, `${how}: accepted`);
    t.equal(JSON.parse((await request({ socketPath }, { headers })).body).after.remoteAddr, '203.0.113.7', `${how}: a Unix socket peer is trusted`);
    t.equal(JSON.parse((await request({ port: portOf(server, 1) }, { headers })).body).after.remoteAddr, '127.0.0.1', `${how}: no address is`);
  }
});

t.test('seconds: a positive value never rounds to 0 (none); --keep-alive-timeout 0 turns keep-alive off', async (t) => {
  const tiny = await command(t, ['serve', '--inspect', '--no-access-log', '-b', '127.0.0.1:0', '--keep-alive-timeout', '0.0001']);
  t.equal(tiny.server?.servers[0]?.keepAliveTimeout, 1, '0.0001 s is 1 ms, not "never close"');
  const off = await command(t, ['serve', '--inspect', '--no-access-log', '-b', '127.0.0.1:0', '--keep-alive-timeout', '0']);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  t.equal((await request({ port: portOf(off.server) }, { agent })).headers.connection, 'close');
});

t.test('--max-header-lines and --response-timeout', async (t) => {
  const outcome = await command(t, ['serve', `${apps}:app`, '-b', '127.0.0.1:0', '--no-access-log', '--max-header-lines', '10'],
    { PROXYFIX_RESPONSE_TIMEOUT: '0.2' });
  const port = portOf(outcome.server);
  // node's client adds Host and Connection.
  const lines = (n: number) => Object.fromEntries(Array.from({ length: n - 2 }, (_, i) => [`x-line-${i}`, String(i)]));
  t.equal((await request({ port }, { headers: lines(10) })).status, 200);
  t.equal((await request({ port }, { headers: lines(11) })).status, 431);
  const never = await command(t, ['serve', 'test/fixtures/apps-never.ts', '-b', '127.0.0.1:0', '--no-access-log', '--response-timeout', '0.2']);
  t.equal((await request({ port: portOf(never.server) })).status, 503);
  t.match(never.stderr, /error in GET \/: the app did not answer within responseTimeout \(200 ms\); answered 503\n/);
  const { stdout } = await command(t, ['--help']);
  t.match(stdout, /--max-header-lines N[^\n]*\n[^\n]*PROXYFIX_MAX_HEADER_LINES/);
  t.match(stdout, /--response-timeout S[^\n]*\n[^\n]*PROXYFIX_RESPONSE_TIMEOUT/);
});

t.test('--inspect-redact and --inspect-reveal configure the inspection app\'s redaction', async (t) => {
  const { server } = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', '--no-access-log',
    '--inspect-redact', 'x-tenant', '--inspect-reveal', 'x-author']);
  const port = Number(server!.addresses[0]!.split(':').at(-1));
  const answer = JSON.parse((await request({ port }, { path: '/', headers: { 'x-tenant': 'acme', 'x-author': 'ada', authorization: 'Bearer abc' } })).body) as
    { request: { headers: Record<string, string> } };
  t.match(answer.request.headers, { 'x-tenant': '(redacted)', 'x-author': 'ada', authorization: '(redacted)' });
  const fromEnv = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', '--no-access-log'], { PROXYFIX_INSPECT_REDACT: 'x-tenant' });
  const envPort = Number(fromEnv.server!.addresses[0]!.split(':').at(-1));
  const second = JSON.parse((await request({ port: envPort }, { path: '/', headers: { 'x-tenant': 'acme' } })).body) as { request: { headers: Record<string, string> } };
  t.equal(second.request.headers['x-tenant'], '(redacted)', 'PROXYFIX_INSPECT_REDACT');
  const notInspect = await command(t, ['serve', `${apps}:app`, '--inspect-redact', 'x-tenant']);
  t.match(notInspect.error, { exitCode: 2, message: /apply to --inspect/ });
  const both = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', '--inspect-redact', 'x-a', '--inspect-reveal', 'x-a']);
  t.match(both.error, { exitCode: 2, message: /is also in `redact`/ });
});
