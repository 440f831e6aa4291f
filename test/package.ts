/**
 * The package as users install it: `npm pack` (which builds through prepack), installed from the
 * tarball into an empty folder beside Express and Hono, then used with plain node — ESM, CommonJS,
 * TypeScript type-checking under each module resolution users pick, and the `proxyfix` command —
 * and linted by publint as a registry would serve it. Nothing here sees src/ or the TS loader.
 */
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
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
/** The tarball unpacked: its `package/` folder, as a registry serves it. */
const unpacked = join(work, 'unpacked', 'package');
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
  mkdirSync(dirname(unpacked), { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', dirname(unpacked)]);
  manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as typeof manifest;
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
    ...['index', 'node', 'fetch', 'server'].flatMap((entry) => [`dist/src/${entry}.js`, `dist/src/${entry}.d.ts`]),
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
  t.strictSame(Object.keys(manifest.exports ?? {}), ['.', './node', './fetch', './server', './package.json'], 'the entry points');
  t.strictSame(manifest.bin, { proxyfix: 'dist/src/server/cli.js' }, 'the proxyfix command');
});

t.test('every source map carries the sources it names, or they are packed beside it', async (t) => {
  if (!packed) return t.fail('needs the packed tarball');
  // A map naming a file the package lacks sends a debugger, or a stack trace mapper, looking for it
  // in vain; tsc's inlineSources puts the TypeScript into the map, since src/ is not shipped.
  const maps = contents.filter((path) => path.endsWith('.map'));
  t.ok(maps.length > 0, 'the build ships source maps');
  const missing: string[] = [];
  for (const path of maps) {
    const map = JSON.parse(readFileSync(join(unpacked, path), 'utf8')) as { sourceRoot?: string; sources?: string[]; sourcesContent?: (string | null)[] };
    if (!Array.isArray(map.sources) || map.sources.length === 0) missing.push(`${path}: names no sources`);
    for (const [i, source] of (map.sources ?? []).entries()) {
      // Package-relative path of the source, as the map resolves it.
      const named = posix.normalize(posix.join(posix.dirname(path), map.sourceRoot ?? '', source));
      const inlined = map.sourcesContent?.[i];
      if (typeof inlined === 'string') {
        // The TypeScript it was built from, not a stale copy.
        const built = existsSync(join(checkout, named)) ? readFileSync(join(checkout, named), 'utf8') : undefined;
        if (inlined !== built) missing.push(`${path}: inlines a ${named} that is not the repo's`);
      } else if (!contents.includes(named)) {
        missing.push(`${path}: names ${named}, neither inlined nor packed`);
      }
    }
  }
  t.strictSame(missing, [], `each of the ${maps.length} maps has every source it names`);

  // And each sourceMappingURL comment points at a packed map.
  const dangling = contents.filter((path) => /\.(?:js|d\.ts)$/.test(path)).flatMap((path) => {
    const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(unpacked, path), 'utf8'))?.[1];
    return url === undefined || contents.includes(posix.join(posix.dirname(path), url)) ? [] : [`${path} -> ${url}`];
  });
  t.strictSame(dangling, [], 'every sourceMappingURL points at a packed map');
});

t.test('publint finds nothing wrong with the tarball', async (t) => {
  if (!packed) return t.fail('needs the packed tarball');
  // The tarball itself, so publint judges the files npm would publish, after prepack.
  const result = await publint({ pack: { tarball: Uint8Array.from(readFileSync(tarball)).buffer } });
  const said = (type: string): string[] => result.messages.filter((message) => message.type === type)
    .map((message) => `${message.code}: ${formatMessage(message, result.pkg, { color: false }) ?? ''}`);
  t.strictSame(said('error'), [], 'no errors');
  t.strictSame(said('warning'), [], 'no warnings');
  const suggestions = said('suggestion');
  t.pass(suggestions.length === 0 ? 'no suggestions' : `suggestions, not required: ${suggestions.join(' | ')}`);
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

/** Names each entry must export, and names that belong to another entry and must stay out of it. */
const ENTRIES: Record<string, { has: string[]; lacks: string[] }> = {
  proxyfix: {
    has: ['proxyFix', 'explain', 'compose', 'rewriteHeaders', 'trustGate', 'allowedHosts', 'compileTrust', 'createEnv', 'isConfigError'],
    lacks: ['proxyFixNode', 'proxyFixFetch', 'fixedOf', 'toNodeListener', 'toFetchHandler', 'serve', 'inspectApp'],
  },
  'proxyfix/node': { has: ['proxyFixNode', 'proxyFixExpress', 'proxyFixUpgrade', 'toNodeListener', 'fromNodeListener', 'fixedOf'], lacks: ['proxyFix', 'serve'] },
  'proxyfix/fetch': { has: ['proxyFixFetch', 'toFetchHandler', 'fromFetchHandler', 'fixedOf'], lacks: ['proxyFix', 'serve'] },
  'proxyfix/server': { has: ['serve', 'inspectApp'], lacks: ['proxyFix', 'proxyFixNode'] },
};

/** Check one entry's sorted export names, as a fixture script reported them, against ENTRIES. */
function checkEntry(t: Test, how: string, entry: string, names: unknown): void {
  if (!Array.isArray(names)) return void t.fail(`${how} '${entry}' loads`, { got: names });
  const { has, lacks } = ENTRIES[entry]!;
  t.strictSame(has.filter((name) => !names.includes(name)), [], `${how} '${entry}' has ${has.join(', ')}`);
  t.strictSame(lacks.filter((name) => names.includes(name)), [], `${how} '${entry}' has none of ${lacks.join(', ')}`);
}

t.test('ESM: the four entry points, Express behind proxyFixNode, Hono behind proxyFixFetch, the built-in server', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  const { fetch: fetchAnswer, exports, ...report } = await runScript(t, 'esm.mjs');
  for (const entry of Object.keys(ENTRIES)) checkEntry(t, 'import', entry, (exports as Record<string, unknown> | undefined)?.[entry]);
  t.strictSame(report, {
    gateway: { remoteAddr: CLIENT, scheme: 'https' },
    configError: 'ERR_PROXYFIX_OPTION_RANGE',
    node: { status: 200, body: { ip: CLIENT, protocol: 'https', fixed: CLIENT } },
    server: { status: 200, after: { remoteAddr: CLIENT, scheme: 'https' } },
    oneFixedOf: true,
  }, 'proxyFix over createEnv, isConfigError on a bad count, Express\'s req.ip and req.protocol, fixedOf(req), ' +
    'serve(proxyFix(inspectApp())), one fixedOf for proxyfix/node and proxyfix/fetch');
  t.match(fetchAnswer, { status: 200, body: { address: CLIENT, url: /^https:\/\/127\.0\.0\.1:\d+\/$/ } },
    'Hono\'s getConnInfo(c).remote.address, and the forwarded scheme in c.req.url');
});

t.test('CommonJS: require() of the ES module', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  const report = await runScript(t, 'cjs.cjs');
  const [major, minor] = nodeVersion();
  t.equal(report.version, VERSION, 'proxyfix/package.json is exported');
  if (major > 20 || (major === 20 && minor >= 19)) {
    for (const entry of Object.keys(ENTRIES)) checkEntry(t, `require() on node ${process.version}:`, entry, report[entry]);
    t.equal(report.oneFixedOf, true, 'one module instance behind proxyfix/node and proxyfix/fetch');
    t.equal(report.remoteAddr, CLIENT, 'proxyFix works through require');
    t.equal(report.inspected, CLIENT, 'inspectApp from proxyfix/server describes the fixed request');
  } else {
    // engines says >=20.19; older node refuses require() of an ES module.
    t.strictSame(report.proxyfix, { code: 'ERR_REQUIRE_ESM' }, `node ${process.version} cannot require ESM`);
  }
});

/** tsc's --traceResolution story of one import, from its start to its verdict; `from` relative to the app. */
function resolution(trace: string, specifier: string, from: string): string {
  const start = trace.indexOf(`======== Resolving module '${specifier}' from '${join(app, from)}'. ========`);
  if (start === -1) return '';
  const verdict = trace.indexOf(`======== Module name '${specifier}' was`, start);
  return trace.slice(start, trace.indexOf('\n', verdict));
}

/**
 * The module settings TypeScript users type-check with. A CommonJS file that `require`s the package
 * compiles only where TypeScript knows node can require() an ES module (nodenext), or where a
 * bundler does the loading (preserve); under node16 TypeScript refuses it (TS1471), as it should.
 * `libCheck` also checks every declaration file (ours, @types/node, Express's, Hono's), which costs
 * three times as much as the rest: once is enough, since what differs between the settings is how
 * the imports resolve, and every run is held to each of those resolving.
 */
const TS_SETTINGS: readonly { name: string; flags: string[]; files: string[]; libCheck: boolean }[] = [
  { name: 'nodenext', flags: ['--module', 'nodenext', '--moduleResolution', 'nodenext'], files: ['consumer.mts', 'consumer.cts'], libCheck: true },
  { name: 'node16', flags: ['--module', 'node16', '--moduleResolution', 'node16'], files: ['consumer.mts'], libCheck: false },
  { name: 'bundler, module esnext', flags: ['--module', 'esnext', '--moduleResolution', 'bundler'], files: ['consumer.mts'], libCheck: false },
  { name: 'bundler, module preserve', flags: ['--module', 'preserve', '--moduleResolution', 'bundler'], files: ['consumer.mts', 'consumer.cts'], libCheck: false },
];

/** What both consumers import, and the declaration file each specifier must resolve to. */
const CONSUMER_IMPORTS: readonly [string, string][] = [
  ['proxyfix', 'index'], ['proxyfix/node', 'node'], ['proxyfix/fetch', 'fetch'], ['proxyfix/server', 'server'],
];

t.test('TypeScript: the installed declarations type-check a user\'s files under node16, nodenext and bundler', async (t) => {
  if (!ready) return t.fail('needs the installed tarball');
  // The runs are independent; side by side they cost about as long as the slowest.
  const runs = await Promise.all(TS_SETTINGS.map(({ flags, files, libCheck }) => exec(TSC, ['--noEmit', ...flags, '--strict',
    '--skipLibCheck', String(!libCheck), '--types', 'node', '--listFiles', '--traceResolution', ...files], app)));
  for (const [i, { name, files, libCheck }] of TS_SETTINGS.entries()) {
    const checked = runs[i]!;
    t.test(name, async (t) => {
      const lines = checked.stdout.split('\n');
      t.equal(checked.code, 0, `tsc --strict --skipLibCheck ${!libCheck} passes on ${files.join(' and ')}`,
        { errors: lines.filter((line) => / error TS\d+:/.test(line)), stderr: checked.stderr });

      // Through the "types" condition to the declaration beside the code; a "types" that points
      // nowhere would let tsc fall back on the "default" target's neighbour.
      for (const from of files) {
        for (const [specifier, entry] of CONSUMER_IMPORTS) {
          const story = resolution(checked.stdout, specifier, from);
          t.ok(story.includes(`Resolved under condition 'types'.`) &&
            story.endsWith(`successfully resolved to '${join(app, 'node_modules', 'proxyfix', 'dist', 'src', `${entry}.d.ts`)}' ` +
              `with Package ID 'proxyfix/dist/src/${entry}.d.ts@${VERSION}'. ========`),
          `${from}: '${specifier}' resolves under "types" to dist/src/${entry}.d.ts`, { story });
        }
      }
      // Imports inside the declarations resolve too: without the lib check, one that did not would
      // quietly make its types `any`. node: builtins are ambient modules that @types/node declares.
      const inner = [...checked.stdout.matchAll(/^======== Resolving module '([^']+)' from '([^']*\/node_modules\/proxyfix\/[^']+)'\. ========$/gm)]
        .filter(([, specifier]) => !specifier!.startsWith('node:'));
      t.ok(inner.length > 0, 'the declarations import each other');
      t.strictSame(inner.map(([, specifier, from]) => [specifier, from]).filter(([specifier, from]) =>
        !resolution(checked.stdout, specifier!, relative(app, from!)).includes(`'${specifier}' was successfully resolved`)), [],
      'every import inside the package\'s declarations resolves');
      // --listFiles names each file read, one path a line.
      const read = lines.filter((line) => /^\/\S+$/.test(line) && line.includes('/node_modules/proxyfix/'))
        .map((line) => line.slice(line.indexOf('/node_modules/proxyfix/') + '/node_modules/proxyfix/'.length));
      t.ok(read.length > 0, 'reads the package\'s declarations');
      t.strictSame(read.filter((file) => !/^dist\/src\/.*\.d\.ts$/.test(file)), [], 'only declarations under dist/src, never a source file');
    });
  }
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
