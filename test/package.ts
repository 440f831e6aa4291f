/**
 * The package as users install it: `npm pack` (which builds through prepack), installed from the
 * tarball into an empty folder beside Express and Hono, then used with plain node — ESM, CommonJS,
 * TypeScript type-checking and the `proxyfix` command. Nothing here sees src/ or the TS loader.
 */
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { root } from './fixtures/child.js';
import { request } from './fixtures/http-client.js';

t.setTimeout(90_000);

const VERSION = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const FIXTURES = join(root, 'test', 'fixtures', 'package');
const TSC = join(root, 'node_modules', '.bin', 'tsc');
/** What the consumer scripts send; the address every fixed view must report. */
const CLIENT = '203.0.113.7';

/**
 * This process's environment without what tap and npm put in it: no TS loader or coverage hook in
 * NODE_OPTIONS, no lifecycle variables of the `npm test` running us. What a user's shell has.
 */
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) =>
  !/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS|PROXYFIX_|npm_(?!config_)|npm_config_local_prefix)/.test(name)));

interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run `command args` in `cwd` to its end, with the clean environment. */
function exec(command: string, args: string[], cwd: string): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `node -v` as [major, minor]. */
function nodeVersion(): [number, number] {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return [major!, minor!];
}

const work = mkdtempSync(join(tmpdir(), 'proxyfix-package-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const checkout = join(work, 'checkout');
const packDir = join(work, 'pack');
const app = join(work, 'app');
let tarball = '';
/** Paths in the tarball, without tar's `package/` folder. */
let contents: string[] = [];
/** The package.json as packed. */
let manifest: { exports?: Record<string, string | Record<string, string>>; bin?: Record<string, string> } = {};
/** Whether the tarball got packed, and installed: the tests after this one need them. */
let packed = false;
let ready = false;

t.test('npm pack builds a tarball that npm install takes', async (t) => {
  // The files a fresh clone has (tracked, or new and not ignored), so that what is packed can only
  // come from the prepack build, never from a dist/ left over. Building in a copy also leaves the
  // repo's dist/ alone while other test files run from it. node_modules is shared, read only.
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  for (const file of listed.split('\0').filter(Boolean)) {
    // Tracked but deleted in the work tree (not in the next commit either), or a node_modules
    // symlink that `node_modules/` in .gitignore does not match.
    if (!lstatSync(join(root, file), { throwIfNoEntry: false })?.isFile()) continue;
    mkdirSync(dirname(join(checkout, file)), { recursive: true });
    copyFileSync(join(root, file), join(checkout, file));
  }
  symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'), 'dir');

  mkdirSync(packDir);
  const pack = await exec('npm', ['pack', '--pack-destination', packDir], checkout);
  if (!t.equal(pack.code, 0, 'npm pack succeeds', { stderr: pack.stderr })) return;
  tarball = join(packDir, `proxyfix-${VERSION}.tgz`);
  t.strictSame(readdirSync(packDir), [`proxyfix-${VERSION}.tgz`], 'one tarball, named after the version');
  contents = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' })
    .split('\n').filter(Boolean).map((path) => path.replace(/^package\//, ''));
  manifest = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as typeof manifest;
  packed = true;

  mkdirSync(app);
  const init = await exec('npm', ['init', '-y'], app);
  if (!t.equal(init.code, 0, 'npm init -y', { stderr: init.stderr })) return;
  // The types packages are what a TypeScript user adds; all of it is in the cache from `npm ci`.
  const installed = await exec('npm', ['install', tarball, 'express@5', 'hono', '@hono/node-server', '@types/node@20', '@types/express@5',
    '--prefer-offline', '--no-audit', '--no-fund'], app);
  if (!t.equal(installed.code, 0, 'npm install of the tarball', { stderr: installed.stderr })) return;
  for (const file of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, file), join(app, file));
  ready = true;
});

t.test('the tarball holds what users need, and nothing else', async (t) => {
  if (!packed) return t.fail('needs the packed tarball');
  const required = [
    'package.json', 'README.md', 'LICENSE',
    ...['index', 'node', 'fetch'].flatMap((entry) => [`dist/src/${entry}.js`, `dist/src/${entry}.d.ts`]),
    'dist/src/server/cli.js',
  ];
  for (const file of required) t.ok(contents.includes(file), `has ${file}`);
  for (const folder of ['nginx', 'haproxy', 'caddy']) {
    t.ok(contents.some((path) => path.startsWith(`${folder}/`)), `has the sample configs in ${folder}/`);
  }
  const forbidden: readonly [string, RegExp][] = [
    ['tests', /^test\//],
    ['examples', /^examples\//],
    ['benchmarks', /^bench\//],
    ['TypeScript sources', /^src\//],
    ['tap output', /^\.tap\//],
    ['a build of the tests', /^dist\/test\//],
    ['a build of the benchmarks', /^dist\/bench\//],
    ['a build of the examples', /^dist\/examples\//],
    ['TypeScript configs', /^tsconfig/],
    ['node_modules', /node_modules\//],
  ];
  for (const [what, pattern] of forbidden) t.strictSame(contents.filter((path) => pattern.test(path)), [], `no ${what}`);

  // Every file package.json points users at is packed, whatever the condition, except the source
  // condition this repo's own tests use.
  const targets = [
    ...Object.values(manifest.exports ?? {}).flatMap((target) => typeof target === 'string'
      ? [target]
      : Object.entries(target).filter(([condition]) => condition !== '@proxyfix/source').map(([, path]) => path)),
    ...Object.values(manifest.bin ?? {}),
  ];
  for (const target of targets) t.ok(contents.includes(target.replace(/^\.\//, '')), `packs ${target}`);
  t.strictSame(Object.keys(manifest.exports ?? {}), ['.', './node', './fetch', './package.json'], 'the entry points');
  t.strictSame(manifest.bin, { proxyfix: 'dist/src/server/cli.js' }, 'the proxyfix command');
});

/** Run a fixture script with plain node in the installed folder; its one line of JSON. */
async function runScript(t: Test, script: string): Promise<Record<string, unknown>> {
  const ran = await exec(process.execPath, [script], app);
  t.equal(ran.code, 0, `node ${script} exits 0`, { stderr: ran.stderr });
  try {
    return JSON.parse(ran.stdout) as Record<string, unknown>;
  } catch {
    t.fail(`node ${script} prints JSON`, { stdout: ran.stdout, stderr: ran.stderr });
    return {};
  }
}

t.test('ESM: the three entry points, Express behind proxyFixNode, Hono behind proxyFixFetch', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  const { fetch: fetchAnswer, ...report } = await runScript(t, 'esm.mjs');
  t.strictSame(report, {
    gateway: { remoteAddr: CLIENT, scheme: 'https' },
    node: { status: 200, body: { ip: CLIENT, protocol: 'https', fixed: CLIENT } },
    oneFixedOf: true,
  }, 'proxyFix over createEnv, Express\'s req.ip and req.protocol, fixedOf(req), one fixedOf for both entries');
  t.match(fetchAnswer, { status: 200, body: { address: CLIENT, url: /^https:\/\/127\.0\.0\.1:\d+\/$/ } },
    'Hono\'s getConnInfo(c).remote.address, and the forwarded scheme in c.req.url');
});

t.test('CommonJS: require() of the ES module', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  const report = await runScript(t, 'cjs.cjs');
  const [major, minor] = nodeVersion();
  t.equal(report.version, VERSION, 'proxyfix/package.json is exported');
  if (major > 20 || (major === 20 && minor >= 19)) {
    for (const entry of ['proxyfix', 'proxyfix/node', 'proxyfix/fetch']) {
      t.ok(Array.isArray(report[entry]) && (report[entry] as string[]).length > 0, `require('${entry}') on node ${process.version}`);
    }
    t.ok(Array.isArray(report['proxyfix/node']) && report['proxyfix/node'].includes('proxyFixNode'), 'proxyfix/node has proxyFixNode');
    t.ok(Array.isArray(report['proxyfix/fetch']) && report['proxyfix/fetch'].includes('proxyFixFetch'), 'proxyfix/fetch has proxyFixFetch');
    t.equal(report.oneFixedOf, true, 'one module instance behind both entries');
    t.equal(report.remoteAddr, CLIENT, 'proxyFix works through require');
  } else {
    // engines says >=20.19; older node refuses require() of an ES module.
    t.strictSame(report.proxyfix, { code: 'ERR_REQUIRE_ESM' }, `node ${process.version} cannot require ESM`);
  }
});

/** tsc's --traceResolution story of one import, from its start to its verdict. */
function resolution(trace: string, specifier: string, from: string): string {
  const start = trace.indexOf(`======== Resolving module '${specifier}' from '${join(app, from)}'. ========`);
  if (start === -1) return '';
  const verdict = trace.indexOf(`======== Module name '${specifier}' was`, start);
  return trace.slice(start, trace.indexOf('\n', verdict));
}

t.test('TypeScript: the installed declarations type-check a user\'s ESM and CommonJS files', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  const checked = await exec(TSC, ['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--strict',
    '--skipLibCheck', 'false', '--types', 'node', '--listFiles', '--traceResolution', 'consumer.mts', 'consumer.cts'], app);
  const lines = checked.stdout.split('\n');
  t.equal(checked.code, 0, 'tsc --strict --skipLibCheck false passes', { errors: lines.filter((line) => / error TS\d+:/.test(line)) });

  // Through the "types" condition to the declaration beside the code, in both module modes; a
  // "types" that points nowhere would let tsc fall back on the "default" target's neighbour.
  const imports: readonly [string, string, string][] = [
    ['consumer.mts', 'proxyfix', 'index'],
    ['consumer.mts', 'proxyfix/node', 'node'],
    ['consumer.mts', 'proxyfix/fetch', 'fetch'],
    ['consumer.cts', 'proxyfix/node', 'node'],
    ['consumer.cts', 'proxyfix/fetch', 'fetch'],
  ];
  for (const [from, specifier, entry] of imports) {
    const story = resolution(checked.stdout, specifier, from);
    t.ok(story.includes(`Resolved under condition 'types'.`) &&
      story.endsWith(`successfully resolved to '${join(app, 'node_modules', 'proxyfix', 'dist', 'src', `${entry}.d.ts`)}' ` +
        `with Package ID 'proxyfix/dist/src/${entry}.d.ts@${VERSION}'. ========`),
    `${from}: '${specifier}' resolves under "types" to dist/src/${entry}.d.ts`, { story });
  }
  // --listFiles names each file read, one path a line.
  const files = lines.filter((line) => /^\/\S+$/.test(line) && line.includes('/node_modules/proxyfix/'))
    .map((line) => line.slice(line.indexOf('/node_modules/proxyfix/') + '/node_modules/proxyfix/'.length));
  t.strictSame(files.filter((file) => !/^dist\/src\/.*\.d\.ts$/.test(file)), [], 'only declarations under dist/src, never a source file');
});

t.test('the proxyfix command', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  // `--` so npx never reads the flags as its own, and --no so it never fetches a package of that name.
  const version = await exec('npx', ['--no', '--', 'proxyfix', '--version'], app);
  t.strictSame({ code: version.code, stdout: version.stdout }, { code: 0, stdout: `proxyfix ${VERSION}\n` }, 'npx proxyfix --version');

  // The installed bin itself, as a process manager runs it: npx runs it under `sh -c`, which does
  // not pass SIGTERM on, so the server would outlive a SIGTERM sent to npx.
  const server = spawn(join(app, 'node_modules', '.bin', 'proxyfix'),
    ['serve', '--interface', 'node', '--x-for', '1', '-b', '127.0.0.1:0', 'app.mjs:default'], { cwd: app, env: cleanEnv });
  t.teardown(() => { if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL'); });
  let stderr = '';
  // 'error' (no such file to run) comes instead of 'close'.
  const exited = new Promise<number | null>((resolve) => {
    server.on('close', (code) => resolve(code));
    server.on('error', (error) => { stderr += String(error); resolve(null); });
  });
  const listening = new Promise<string | undefined>((resolve) => {
    server.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (match !== null) resolve(match[1]);
    });
    void exited.then(() => resolve(undefined));
  });
  server.stdout.resume();
  const port = await listening;
  if (port === undefined) return t.fail('proxyfix serve starts', { stderr });
  const answer = await request({ port: Number(port) }, { path: '/', headers: { 'x-forwarded-for': CLIENT } });
  t.strictSame({ status: answer.status, body: JSON.parse(answer.body) as unknown }, { status: 200, body: { ip: CLIENT, protocol: 'http' } },
    'Express served by the bin reports the forwarded address');
  server.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM exits 0', { stderr });
});
