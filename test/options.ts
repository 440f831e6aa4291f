/**
 * The options module: one class per error code wherever the mistake is made, the `isConfigError`
 * guard, `onWarning` for every middleware that warns, and `env.ext` typed by the modules that write it.
 */
import t from 'tap';
import { createEnv, type GatewayApp, type GatewayEnv } from '../src/gateway.js';
import { isConfigError, type ConfigError, type ProxyFixWarning } from '../src/options.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { rewriteHeaders } from '../src/middleware/rewrite.js';
import { trustGate } from '../src/middleware/trust-gate.js';
import { compileTrust } from '../src/net/trust.js';
import { toNodeListener } from '../src/adapters/node.js';
import { proxyFixExpress } from '../src/node.js';
import { checkServeOptions } from '../src/server/settings.js';
import { TRACE } from '../src/trace.js';

const app: GatewayApp = () => ({ status: 204 });

/** Each code with a mistake that throws it, from every kind of place that checks options. */
const MISTAKES: [name: string, code: string, kind: typeof TypeError | typeof RangeError, make: () => unknown][] = [
  ['a count of the wrong type', 'ERR_PROXYFIX_OPTION_TYPE', TypeError, () => proxyFix(app, { xFor: '1' as never })],
  ['an unknown option', 'ERR_PROXYFIX_OPTION_TYPE', TypeError, () => trustGate(app, { trusted: [], nope: 1 } as never)],
  ['not a middleware', 'ERR_PROXYFIX_OPTION_TYPE', TypeError, () => compose(1 as never)],
  ['not an app', 'ERR_PROXYFIX_OPTION_TYPE', TypeError, () => toNodeListener('app' as never)],
  ['a negative count', 'ERR_PROXYFIX_OPTION_RANGE', RangeError, () => proxyFix(app, { xFor: -1 })],
  ['a status outside 4xx', 'ERR_PROXYFIX_OPTION_RANGE', RangeError, () => allowedHosts(app, { hosts: ['a.example'], status: 500 })],
  ['a server option out of range', 'ERR_PROXYFIX_OPTION_RANGE', RangeError, () => checkServeOptions({ workers: -1 })],
  ['forwarded with xFor', 'ERR_PROXYFIX_OPTION_CONFLICT', TypeError, () => proxyFix(app, { forwarded: 1, xFor: 1 })],
  ['a map with one header twice', 'ERR_PROXYFIX_OPTION_CONFLICT', TypeError, () => rewriteHeaders(app, { map: { 'X-A': 'host', 'x-a': 'scheme' } })],
  ['xPrefix through app.use', 'ERR_PROXYFIX_OPTION_CONFLICT', TypeError, () => proxyFixExpress({ xPrefix: 1 })],
  // These two were RangeErrors while every other conflict was a TypeError.
  ['headersTimeout above requestTimeout', 'ERR_PROXYFIX_OPTION_CONFLICT', TypeError, () => checkServeOptions({ headersTimeout: 2, requestTimeout: 1 })],
  ['maxRestartDelay below restartDelay', 'ERR_PROXYFIX_OPTION_CONFLICT', TypeError, () => checkServeOptions({ restartDelay: 5, maxRestartDelay: 1 })],
  ['a trust entry that is no range', 'ERR_PROXYFIX_TRUST_ENTRY', TypeError, () => compileTrust(['10.0.0.0/33'])],
  ['a host pattern with a path', 'ERR_PROXYFIX_HOST_PATTERN', TypeError, () => allowedHosts(app, { hosts: ['a.example/x'] })],
];

t.test('one code, one class, wherever the mistake is made; isConfigError knows them all', async (t) => {
  for (const [name, code, kind, make] of MISTAKES) {
    let thrown: unknown;
    try {
      make();
    } catch (error) {
      thrown = error;
    }
    t.equal((thrown as ConfigError | undefined)?.code, code, `${name}: ${code}`);
    t.equal((thrown as Error).constructor, kind, `${name}: a ${kind.name}`);
    t.ok(isConfigError(thrown), `${name}: isConfigError`);
    t.match((thrown as ConfigError).message, /^`[^`]+` /, `${name}: the message starts with the option`);
  }
});

t.test('isConfigError refuses look-alikes', async (t) => {
  const cases: [string, unknown][] = [
    ['undefined', undefined],
    ['a plain TypeError', new TypeError('x')],
    ['another library\'s code', Object.assign(new TypeError('x'), { code: 'ERR_INVALID_ARG_TYPE', option: 'x' })],
    ['a made-up proxyfix code', Object.assign(new TypeError('x'), { code: 'ERR_PROXYFIX_SOMETHING', option: 'x' })],
    ['a code without an option', Object.assign(new RangeError('x'), { code: 'ERR_PROXYFIX_OPTION_RANGE' })],
    ['a plain object that looks like one', { code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'x', message: 'x' }],
    ['an inherited code', Object.assign(Object.create({ code: 'ERR_PROXYFIX_OPTION_TYPE' }) as object, { option: 'x' })],
  ];
  for (const [name, value] of cases) t.notOk(isConfigError(value), name);
});

/** Run one request through `wrapped` and return what `onWarning` was given. */
async function warningsOf(build: (onWarning: (warning: ProxyFixWarning) => void) => GatewayApp, env: GatewayEnv): Promise<ProxyFixWarning[]> {
  const seen: ProxyFixWarning[] = [];
  await build((warning) => seen.push(warning))(env);
  return seen;
}

t.test('onWarning receives every warning, named and coded alike; warnings: false silences', async (t) => {
  const peer = createEnv({ remoteAddr: '203.0.113.9', headers: { 'x-forwarded-for': '198.51.100.1' } });
  const untrusted = await warningsOf((onWarning) => proxyFix(app, { trusted: ['10.0.0.0/8'], onWarning }), peer);
  t.match(untrusted, [{ name: 'ProxyFixWarning', code: 'PROXYFIX_UNTRUSTED_PEER', message: /^proxyFix: a request from 203\.0\.113\.9/ }]);
  t.type(untrusted[0], Error);

  const tooFew = await warningsOf((onWarning) => proxyFix(app, { xFor: 2, onWarning }), createEnv({ headers: { 'x-forwarded-for': '1.2.3.4' } }));
  t.match(tooFew, [{ name: 'ProxyFixWarning', code: 'PROXYFIX_TOO_FEW_VALUES', message: /xFor is 2/ }]);

  const rewrite = await warningsOf((onWarning) => rewriteHeaders(app, { map: { 'x-fhost': 'host' }, onWarning }), createEnv());
  t.match(rewrite, [{ name: 'ProxyFixWarning', code: 'PROXYFIX_UNTRUSTED_REWRITE', message: /copies x-fhost from every request/ }]);

  const seen: unknown[] = [];
  const listener = (warning: unknown) => seen.push(warning);
  process.on('warning', listener);
  t.teardown(() => { process.off('warning', listener); });
  await rewriteHeaders(app, { map: { 'x-fhost': 'host' }, warnings: false })(createEnv());
  await proxyFix(app, { xFor: 2, warnings: false })(createEnv({ headers: { 'x-forwarded-for': '1.2.3.4' } }));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, [], 'no process warning with warnings: false');

  // A handler that throws must not fail the request the warning is about.
  const failing = proxyFix(app, { xFor: 2, onWarning: () => { throw new Error('logger down'); } });
  t.same(await failing(createEnv({ headers: { 'x-forwarded-for': '1.2.3.4' } })), { status: 204 }, 'the request is answered');
  await new Promise((resolve) => setImmediate(resolve));
  t.match(seen, [{ name: 'ProxyFixWarning', code: 'PROXYFIX_TOO_FEW_VALUES' }], 'and the warning reaches node\'s channel instead');

  t.throws(() => proxyFix(app, { onWarning: 'log' as never }), { code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'onWarning' });
  t.throws(() => rewriteHeaders(app, { map: { a: 'host' }, warnings: 'no' as never }), { code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'warnings' });
  t.throws(() => proxyFix(app, { warnings: false, onWarning: () => {} }), { code: 'ERR_PROXYFIX_OPTION_CONFLICT', option: 'onWarning' });
});

// A module of the app's own, typing its key the way proxyfix's modules type theirs.
declare module '../src/gateway.js' {
  interface GatewayExt {
    'test.user'?: { id: string };
  }
}

t.test('env.ext is typed by the modules that write it, and open to an app\'s own keys', async (t) => {
  const env = createEnv({ headers: { 'x-forwarded-for': '198.51.100.1' } });
  await proxyFix(app, { trace: true })(env);
  // No casts: the trace's type comes from the augmentation in src/trace.ts.
  t.equal(env.ext[TRACE]?.changed.remoteAddr, '198.51.100.1');
  env.ext['test.user'] = { id: 'u1' };
  t.equal(env.ext['test.user'].id, 'u1');
  // @ts-expect-error: an augmented key takes only its type.
  env.ext['test.user'] = 1;
  env.ext['anything.else'] = 1;
  t.pass('unknown keys stay open');
});

t.test('trustUnixSocket: true needs a trust list; false is the default said out loud', async (t) => {
  t.throws(() => proxyFix(app, { trustUnixSocket: true }), { code: 'ERR_PROXYFIX_OPTION_CONFLICT', option: 'trustUnixSocket' });
  t.throws(() => rewriteHeaders(app, { map: { a: 'host' }, trustUnixSocket: true }), { code: 'ERR_PROXYFIX_OPTION_CONFLICT' });
  t.doesNotThrow(() => proxyFix(app, { trustUnixSocket: false }), 'proxyFix');
  t.doesNotThrow(() => rewriteHeaders(app, { map: { a: 'host' }, trustUnixSocket: false, warnings: false }), 'rewriteHeaders');
});
