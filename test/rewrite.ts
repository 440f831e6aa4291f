/** rewriteHeaders: named cases per target field, trust, counts, the trace, the warning and option errors. */
import t from 'tap';
import { createEnv, ORIGINALS, type EnvInit, type GatewayApp } from '../src/gateway.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import {
  REWRITE_TRACE,
  rewriteHeaders,
  type RewriteHeadersOptions,
} from '../src/middleware/rewrite.js';
import { fields, innerApp, run, warningsDuring } from './fixtures/run.js';

// The app server on app.internal:8000, reached by the proxy 10.0.0.2.
const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/' };
const trusted = ['10.0.0.0/8'];

interface Case {
  name: string;
  options: RewriteHeadersOptions;
  headers: Record<string, string | string[]>;
  init?: EnvInit;
  /** The fields that must differ from the starting env; every other one must be unchanged. */
  expect: Partial<ReturnType<typeof fields>>;
}

const cases: Case[] = [
  // Flask's CustomProxyFix, and the example map
  { name: 'x-fhost sets host, serverName and a serverPort from the scheme', options: { map: { 'x-fhost': 'host' }, trusted },
    headers: { 'x-fhost': 'example.com' }, expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
  { name: 'a host with a port keeps it', options: { map: { 'x-fhost': 'host' }, trusted },
    headers: { 'x-fhost': 'example.com:8443' }, expect: { host: 'example.com:8443', serverName: 'example.com', serverPort: '8443' } },
  { name: 'an IPv6 host keeps its brackets', options: { map: { 'x-fhost': 'host' }, trusted },
    headers: { 'x-fhost': '[2001:db8::1]:8443' }, expect: { host: '[2001:db8::1]:8443', serverName: '[2001:db8::1]', serverPort: '8443' } },
  { name: 'the host takes the port of the scheme set in the same pass', options: { map: { 'x-fhost': 'host', 'x-scheme': 'scheme' }, trusted },
    headers: { 'x-fhost': 'example.com', 'x-scheme': 'HTTPS' },
    expect: { host: 'example.com', serverName: 'example.com', serverPort: '443', scheme: 'https' } },
  { name: 'x-real-ip sets remoteAddr and clears the proxy\'s port', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted },
    headers: { 'x-real-ip': '203.0.113.7' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'an address with a port sets remotePort', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted },
    headers: { 'x-real-ip': '[2001:db8::7]:4711' }, expect: { remoteAddr: '2001:db8::7', remotePort: '4711' } },
  { name: 'remotePort from its own header wins over the address\'s', options: { map: { 'x-real-ip': 'remoteAddr', 'x-real-port': 'remotePort' }, trusted },
    headers: { 'x-real-ip': '203.0.113.7:1', 'x-real-port': '4711' }, expect: { remoteAddr: '203.0.113.7', remotePort: '4711' } },
  { name: 'x-scheme sets the scheme in lower case', options: { map: { 'x-scheme': 'scheme' }, trusted },
    headers: { 'x-scheme': 'WSS' }, expect: { scheme: 'wss' } },
  { name: 'x-script-name sets scriptName without its trailing slash', options: { map: { 'x-script-name': 'scriptName' }, trusted },
    headers: { 'x-script-name': '/app/' }, expect: { scriptName: '/app' } },
  { name: 'x-forwarded-server sets serverName only', options: { map: { 'x-forwarded-server': 'serverName' }, trusted },
    headers: { 'x-forwarded-server': 'proxy1.example.com' }, expect: { serverName: 'proxy1.example.com' } },
  { name: 'serverName after host: the explicit name wins', options: { map: { 'x-forwarded-server': 'serverName', 'x-fhost': 'host' }, trusted },
    headers: { 'x-forwarded-server': 'proxy1', 'x-fhost': 'example.com:8443' },
    expect: { host: 'example.com:8443', serverName: 'proxy1', serverPort: '8443' } },
  { name: 'serverPort also rewrites the port in host, as xPort does', options: { map: { 'x-port': 'serverPort' }, trusted },
    headers: { 'x-port': '8443' }, expect: { host: 'app.internal:8443', serverPort: '8443' } },
  { name: 'serverPort after host: the port of the new host is replaced', options: { map: { 'x-port': 'serverPort', 'x-fhost': 'host' }, trusted },
    headers: { 'x-port': '8443', 'x-fhost': 'example.com:1' },
    expect: { host: 'example.com:8443', serverName: 'example.com', serverPort: '8443' } },
  { name: 'serverPort with no Host header leaves host empty', options: { map: { 'x-port': 'serverPort' }, trusted },
    init: { host: '' }, headers: { 'x-port': '8443' }, expect: { serverPort: '8443' } },
  { name: 'header names in the map ignore case', options: { map: { 'X-FHost': 'host' }, trusted },
    headers: { 'x-fhost': 'example.com' }, expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
  { name: 'a custom scheme set', options: { map: { 'x-scheme': 'scheme' }, schemes: ['HTTPS'], trusted },
    headers: { 'x-scheme': 'https' }, expect: { scheme: 'https' } },

  // counting from the right
  { name: 'a comma list: the last value by default', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted },
    headers: { 'x-real-ip': '6.6.6.6, 203.0.113.7' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'repeated header lines: the last one', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted },
    headers: { 'x-real-ip': ['6.6.6.6', '203.0.113.7'] }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'count 2 takes the second from the right', options: { map: { 'x-real-ip': 'remoteAddr' }, count: 2, trusted },
    headers: { 'x-real-ip': '6.6.6.6, 203.0.113.7, 10.0.0.3' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'too few values: ignored', options: { map: { 'x-real-ip': 'remoteAddr' }, count: 2, trusted },
    headers: { 'x-real-ip': '203.0.113.7' }, expect: {} },
  { name: 'a per-entry count overrides count', options: { map: { 'x-real-ip': { field: 'remoteAddr', count: 2 }, 'x-scheme': { field: 'scheme' } }, trusted },
    headers: { 'x-real-ip': '203.0.113.7, 10.0.0.3', 'x-scheme': 'http, https' }, expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' } },

  // invalid values leave the field alone
  { name: 'an invalid host', options: { map: { 'x-fhost': 'host' }, trusted }, headers: { 'x-fhost': 'evil.example/x' }, expect: {} },
  { name: 'a host with an @', options: { map: { 'x-fhost': 'host' }, trusted }, headers: { 'x-fhost': 'a@evil.example' }, expect: {} },
  { name: 'an invalid address', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted }, headers: { 'x-real-ip': 'unknown' }, expect: {} },
  { name: 'an octal-looking address', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted }, headers: { 'x-real-ip': '010.0.0.1' }, expect: {} },
  { name: 'a scheme outside the set', options: { map: { 'x-scheme': 'scheme' }, trusted }, headers: { 'x-scheme': 'javascript' }, expect: {} },
  { name: 'a scheme outside a custom set', options: { map: { 'x-scheme': 'scheme' }, schemes: ['https'], trusted }, headers: { 'x-scheme': 'http' }, expect: {} },
  { name: 'a prefix that climbs out', options: { map: { 'x-script-name': 'scriptName' }, trusted }, headers: { 'x-script-name': '/app/../admin' }, expect: {} },
  { name: 'a prefix naming another host', options: { map: { 'x-script-name': 'scriptName' }, trusted }, headers: { 'x-script-name': '//evil.example' }, expect: {} },
  { name: 'a server name with a port', options: { map: { 'x-forwarded-server': 'serverName' }, trusted }, headers: { 'x-forwarded-server': 'proxy1:80' }, expect: {} },
  { name: 'an invalid server name', options: { map: { 'x-forwarded-server': 'serverName' }, trusted }, headers: { 'x-forwarded-server': 'a b' }, expect: {} },
  { name: 'a port out of range', options: { map: { 'x-port': 'serverPort' }, trusted }, headers: { 'x-port': '65536' }, expect: {} },
  { name: 'a remote port that is not a number', options: { map: { 'x-real-port': 'remotePort' }, trusted }, headers: { 'x-real-port': '-1' }, expect: {} },
  { name: 'an empty value in the list', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted }, headers: { 'x-real-ip': '203.0.113.7, ' }, expect: {} },
  { name: 'a blank header is absent', options: { map: { 'x-real-ip': 'remoteAddr' }, trusted }, headers: { 'x-real-ip': '  ' }, expect: {} },
  { name: 'one invalid header does not stop the others', options: { map: { 'x-fhost': 'host', 'x-scheme': 'scheme' }, trusted },
    headers: { 'x-fhost': 'a b', 'x-scheme': 'https' }, expect: { scheme: 'https' } },

  // trust
  { name: 'an untrusted peer changes nothing', options: { map: { 'x-fhost': 'host', 'x-real-ip': 'remoteAddr', 'x-scheme': 'scheme' }, trusted },
    init: { remoteAddr: '203.0.113.66' }, headers: { 'x-fhost': 'evil.example', 'x-real-ip': '1.2.3.4', 'x-scheme': 'https' }, expect: {} },
  { name: 'an empty trust list trusts no one', options: { map: { 'x-fhost': 'host' }, trusted: [] },
    headers: { 'x-fhost': 'evil.example' }, expect: {} },
  { name: 'an IPv4-mapped peer matches an IPv4 range', options: { map: { 'x-fhost': 'host' }, trusted },
    init: { remoteAddr: '::ffff:10.0.0.2' }, headers: { 'x-fhost': 'example.com' },
    expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
  { name: 'a Unix socket peer is untrusted by default', options: { map: { 'x-fhost': 'host' }, trusted: ['loopback'] },
    init: { remoteAddr: '' }, headers: { 'x-fhost': 'example.com' }, expect: {} },
  { name: 'a Unix socket peer with trustUnixSocket', options: { map: { 'x-fhost': 'host' }, trusted: ['loopback'], trustUnixSocket: true },
    init: { remoteAddr: '' }, headers: { 'x-fhost': 'example.com' },
    expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
  { name: 'a predicate', options: { map: { 'x-fhost': 'host' }, trusted: (addr) => addr === '10.0.0.2' },
    headers: { 'x-fhost': 'example.com' }, expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
];

t.test('named cases', async (t) => {
  for (const c of cases) {
    const init = { ...base, ...c.init, headers: c.headers };
    const { env, reached } = await run((app) => rewriteHeaders(app, c.options), init);
    t.ok(reached, `${c.name}: reached the app`);
    t.same(fields(env), { ...fields(createEnv(init)), ...c.expect }, c.name);
  }
});

t.test('the trust check reads the socket peer, not what a fixer before it wrote', async (t) => {
  // proxyFix (blind, outermost) sets remoteAddr to a trusted-looking address the client wrote.
  const stack = (app: GatewayApp) =>
    proxyFix(rewriteHeaders(app, { map: { 'x-fhost': 'host' }, trusted }), {});
  const { env } = await run(stack, { ...base, remoteAddr: '203.0.113.66', headers: { 'x-forwarded-for': '10.0.0.9', 'x-fhost': 'evil.example' } });
  t.equal(env.remoteAddr, '10.0.0.9', 'the fixer ran');
  t.equal(env.host, 'app.internal:8000', 'but the rewriter saw the real peer');
});

t.test('originals are recorded once, and a second pass changes nothing', async (t) => {
  const options: RewriteHeadersOptions = { map: { 'x-fhost': 'host', 'x-real-ip': 'remoteAddr' }, trusted };
  const { env } = await run((app) => rewriteHeaders(rewriteHeaders(app, options), options),
    { ...base, headers: { 'x-fhost': 'example.com', 'x-real-ip': '203.0.113.7:4711' } });
  t.same(env.ext[ORIGINALS], {
    remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', serverName: 'app.internal', serverPort: '8000',
  });
  t.same(fields(env), {
    remoteAddr: '203.0.113.7', remotePort: '4711', scheme: 'http', host: 'example.com', serverName: 'example.com', serverPort: '80', scriptName: '',
  });
});

t.test('the trace says what each mapped header did', async (t) => {
  const options: RewriteHeadersOptions = {
    map: { 'x-scheme': 'scheme', 'x-fhost': 'host', 'x-real-ip': { field: 'remoteAddr', count: 2 }, 'x-script-name': 'scriptName' },
    trusted, trace: true,
  };
  const { env } = await run((app) => rewriteHeaders(app, options),
    { ...base, headers: { 'x-fhost': 'a b', 'x-real-ip': '203.0.113.7', 'x-scheme': 'https' } });
  const trace = env.ext[REWRITE_TRACE]!;
  t.same(trace.map((f) => [f.field, f.outcome]), [
    ['remoteAddr', 'too-few-values'], ['scheme', 'used'], ['host', 'invalid'], ['scriptName', 'absent'],
  ], 'in application order, not map order');
  t.match(trace[0], { option: 'map["x-real-ip"]', header: 'x-real-ip', count: 2, depth: null, value: null, used: false,
    detail: /counts 2 values from the right, but x-real-ip has fewer/ });
  t.match(trace[1], { depth: 1, value: 'https', used: true, detail: 'scheme https' });
  t.match(trace[2], { depth: 1, value: 'a b', used: false, detail: '"a b" is not a valid host value; left unchanged' });
  t.match(trace[3], { detail: 'no x-script-name header' });

  const direct = await run((app) => rewriteHeaders(app, options), { ...base, remoteAddr: '203.0.113.66', headers: { 'x-fhost': 'example.com' } });
  t.same(direct.env.ext[REWRITE_TRACE]!.map((f) => f.outcome), ['untrusted', 'untrusted', 'untrusted', 'untrusted']);
  t.match(direct.env.ext[REWRITE_TRACE]![0], { detail: /203\.0\.113\.66 is not in the trust list/ });
  const unix = await run((app) => rewriteHeaders(app, options), { ...base, remoteAddr: '', headers: {} });
  t.match(unix.env.ext[REWRITE_TRACE]![0], { outcome: 'untrusted', detail: /Unix socket/ });

  const details = async (map: RewriteHeadersOptions['map'], headers: Record<string, string>) => {
    const { env } = await run((app) => rewriteHeaders(app, { map, trusted, trace: true }), { ...base, headers });
    return env.ext[REWRITE_TRACE]!.map((f) => f.detail);
  };
  t.same(await details({ a: 'remoteAddr', b: 'remotePort', c: 'serverName', d: 'serverPort', e: 'scriptName' },
    { a: '203.0.113.7', b: '4711', c: 'proxy1', d: '8443', e: '/app' }),
  ['client address 203.0.113.7', 'client port 4711', 'server name proxy1', 'port 8443', 'prefix "/app"']);
  t.same(await details({ f: 'host' }, { f: 'example.com' }), ['host example.com']);

  const quiet = await run((app) => rewriteHeaders(app, { map: { 'x-fhost': 'host' }, trusted }), { ...base, headers: { 'x-fhost': 'example.com' } });
  t.equal(quiet.env.ext[REWRITE_TRACE], undefined, 'no trace unless asked');
});

t.test('without trusted: a one-time warning per instance, on its first request', async (t) => {
  let app: ReturnType<typeof rewriteHeaders> | undefined;
  const atConstruction = await warningsDuring(() => {
    app = rewriteHeaders(innerApp(), { map: { 'x-fhost': 'host', 'x-real-ip': 'remoteAddr' } });
  });
  t.same(atConstruction, [], 'building the stack is quiet');
  const first = await warningsDuring(async () => {
    await app!(createEnv({ ...base, headers: { 'x-fhost': 'example.com' } }));
    await app!(createEnv(base));
  });
  t.equal(first.length, 1, 'once for two requests');
  t.match(first[0], { name: 'ProxyFixWarning', code: 'PROXYFIX_UNTRUSTED_REWRITE', message: /copies x-real-ip, x-fhost from every request/ });
  const later = await warningsDuring(() => app!(createEnv(base)));
  t.same(later, [], 'never again');

  const curried = rewriteHeaders({ map: { 'x-fhost': 'host' } });
  const two = await warningsDuring(async () => {
    await curried(innerApp())(createEnv(base));
    await curried(innerApp())(createEnv(base));
  });
  t.equal(two.length, 2, 'each wrapped app warns for itself');

  const trustedApp = rewriteHeaders(innerApp(), { map: { 'x-fhost': 'host' }, trusted });
  t.same(await warningsDuring(() => trustedApp(createEnv(base))), [], 'no warning with a trust list');

  // Blind mode still applies the headers: the warning is the only guard.
  const { env } = await run((inner) => rewriteHeaders(inner, { map: { 'x-fhost': 'host' } }), { ...base, headers: { 'x-fhost': 'example.com' } });
  t.equal(env.host, 'example.com');
});

t.test('both call forms build the same middleware', async (t) => {
  const options: RewriteHeadersOptions = { map: { 'x-fhost': 'host' }, trusted };
  const init = { ...base, headers: { 'x-fhost': 'example.com' } };
  const twoArgs = await run((app) => rewriteHeaders(app, options), init);
  const curried = await run(rewriteHeaders(options), init);
  t.same(fields(curried.env), fields(twoArgs.env));
  t.equal(rewriteHeaders(innerApp(), options).name, 'headersRewritten');
  t.throws(() => rewriteHeaders({ map: { a: 'nope' } } as never), { name: 'TypeError', option: 'map["a"]' }, 'the curried form checks options at once');
  t.throws(() => rewriteHeaders(options)(undefined as never), { name: 'TypeError', option: 'app', code: 'ERR_PROXYFIX_OPTION_TYPE' });
  t.throws(() => rewriteHeaders('app' as never, options), { name: 'TypeError', option: 'app', message: /got "app"/ });
});

t.test('configuration errors name the option', async (t) => {
  const app = innerApp();
  const sym = Symbol('x');
  const bad: [unknown, string, string, string][] = [
    [undefined, 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [null, 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [[], 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, xFor: 1 }, 'xFor', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{}, 'map', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: [['x-fhost', 'host']] }, 'map', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: null }, 'map', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: {} }, 'map', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ map: { [sym]: 'host' } }, 'map[Symbol(x)]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { '': 'host' } }, 'map[""]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x fhost': 'host' } }, 'map["x fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': 'hostname' } }, 'map["x-fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': 'pathInfo' } }, 'map["x-fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': 1 } }, 'map["x-fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': null } }, 'map["x-fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': ['host'] } }, 'map["x-fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': {} } }, 'map["x-fhost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': { field: 'host', depth: 1 } } }, 'map["x-fhost"].depth', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { 'x-fhost': { field: 'host', count: 0 } } }, 'map["x-fhost"].count', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ map: { 'x-fhost': 'host', 'X-FHost': 'host' } }, 'map["X-FHost"]', 'TypeError', 'ERR_PROXYFIX_OPTION_CONFLICT'],
    [{ map: { 'x-real-ip': 'remoteAddr', 'x-client-ip': 'remoteAddr' } }, 'map["x-client-ip"]', 'TypeError', 'ERR_PROXYFIX_OPTION_CONFLICT'],
    [{ map: { a: 'host' }, count: 0 }, 'count', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ map: { a: 'host' }, count: 1.5 }, 'count', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ map: { a: 'host' }, count: Infinity }, 'count', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ map: { a: 'host' }, count: '1' }, 'count', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, count: Number.NaN }, 'count', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, trusted: 5 }, 'trusted', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, trusted: ['10.0.0.0/8', 'nope'] }, 'trusted[1]', 'TypeError', 'ERR_PROXYFIX_TRUST_ENTRY'],
    [{ map: { a: 'host' }, trustUnixSocket: true }, 'trustUnixSocket', 'TypeError', 'ERR_PROXYFIX_OPTION_CONFLICT'],
    [{ map: { a: 'host' }, trusted, trustUnixSocket: 'yes' }, 'trustUnixSocket', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, schemes: [] }, 'schemes', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, schemes: 'https' }, 'schemes', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, schemes: ['https', 'ht tp'] }, 'schemes[1]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, schemes: [1] }, 'schemes[0]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ map: { a: 'host' }, trace: 1 }, 'trace', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
  ];
  for (const [options, option, name, code] of bad) {
    t.throws(() => rewriteHeaders(app, options as RewriteHeadersOptions), {
      name, code, option, message: new RegExp(`^\`${option.replace(/[[\]().]/g, '\\$&')}\` `),
    }, `${String(JSON.stringify(options))} names ${option}`);
  }
  t.throws(() => rewriteHeaders(app, { map: { 'x-a': 'remoteAddr', 'x-b': 'remoteAddr' } }),
    { message: /`map\["x-b"\]` sets remoteAddr, which `map\["x-a"\]` sets already/ });
  t.throws(() => rewriteHeaders(app, { map: { 'x-a': 'hostname' as never } }),
    { message: /must be one of remoteAddr, remotePort, scheme, host, serverName, serverPort, scriptName; got "hostname"/ });
});
