/**
 * The public export lists, what users import: adding or removing a name is a deliberate change.
 * And what each entry point loads: `proxyfix` itself must work where node:http, node:fs and
 * node:cluster do not exist or cost start-up time (a fetch runtime, a bundle).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import * as proxyfix from '../src/index.js';
import { root } from './fixtures/child.js';

t.same(Object.keys(proxyfix).sort(), [
  'FIXED',
  'HOST_CHECK',
  'ORIGINALS',
  'REWRITE_TRACE',
  'STRIPPED',
  'TRACE',
  'allowedHosts',
  'compileTrust',
  'compose',
  'createEnv',
  'explain',
  'isConfigError',
  'lintEnv',
  'lintResponse',
  'originalValue',
  'probe',
  'proxyFix',
  'requestUrl',
  'rewriteHeaders',
  'trustGate',
], 'proxyfix');

const node = await import('../src/node.js');
t.same(Object.keys(node).sort(), [
  'NODE_NEXT',
  'NODE_REQUEST',
  'NODE_RESPONSE',
  'UPGRADE',
  'fixedOf',
  'fromNodeListener',
  'fromUpgradeListener',
  'presentToNode',
  'proxyFixExpress',
  'proxyFixNode',
  'proxyFixUpgrade',
  'toGatewayEnv',
  'toNodeListener',
  'toNodeMiddleware',
  'toUpgradeListener',
  'writeGatewayResponse',
], 'proxyfix/node');
const fetchEntry = await import('../src/fetch.js');
t.same(Object.keys(fetchEntry).sort(), [
  'FETCH_ARGS',
  'FETCH_REQUEST',
  'fixedOf',
  'fromFetchHandler',
  'proxyFixFetch',
  'requestToEnv',
  'toFetchHandler',
  'toFetchResponse',
], 'proxyfix/fetch');
const server = await import('../src/server.js');
t.same(Object.keys(server).sort(), ['PROXY_PROTOCOL', 'check', 'inspectApp', 'runCheck', 'serve'], 'proxyfix/server');

/**
 * The node built-ins an entry imports, itself or through any of its modules: a child process
 * imports it behind a resolve hook that notes every `node:` import made from src/.
 */
async function builtinsOf(entry: string): Promise<string[]> {
  const dir = t.testdir({});
  const log = join(dir, 'imports.log');
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(hooks, `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('node:') && context.parentURL?.startsWith(${JSON.stringify(pathToFileURL(join(root, 'src')).href)})) {
    appendFileSync(${JSON.stringify(log)}, specifier + '\\n');
  }
  return next(specifier, context);
}`);
  writeFileSync(log, '');
  const register = `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
  const tsLoader = process.execArgv.filter((arg) => arg.includes('@tapjs/typescript'));
  await promisify(execFile)(process.execPath, [
    ...tsLoader, '--import', `data:text/javascript,${encodeURIComponent(register)}`,
    '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(root, entry)).href)});`,
  ], { cwd: root });
  return [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))].sort();
}

t.test('import "proxyfix" loads no server, no node:http, no file system', async (t) => {
  const loaded = await builtinsOf('src/index.ts');
  for (const heavy of ['node:cluster', 'node:fs', 'node:fs/promises', 'node:http', 'node:https', 'node:child_process']) {
    t.notOk(loaded.includes(heavy), `not ${heavy}`);
  }
  // node:crypto for the probe's token digests; Deno, Bun and Workers' node compatibility have all three.
  t.same(loaded, ['node:crypto', 'node:net', 'node:url'], 'only address, IDNA and hashing helpers');
  // The check itself sees imports: the server entry loads what a server needs.
  const serverLoads = await builtinsOf('src/server.ts');
  t.ok(serverLoads.includes('node:cluster') && serverLoads.includes('node:http'), `the server entry loads ${serverLoads.join(', ')}`);
});
