import t from 'tap';
import { createEnv, FIXED, ORIGINALS } from '../src/gateway.js';
import { TRACE } from '../src/trace.js';
import { explain, proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { checkCases, fixed, view, type FieldCase } from './fixtures/run.js';

/** The env every case starts from: a request to the app server on 10.0.0.5:8000 from proxy 10.0.0.2. */
const base = {
  remoteAddr: '10.0.0.2',
  remotePort: '50000',
  host: 'app.internal:8000',
  url: '/users/1?x=1',
};


const cases: FieldCase[] = [
  // X-Forwarded-For
  { name: 'defaults take the last X-Forwarded-For value', options: {},
    headers: { 'x-forwarded-for': '203.0.113.7' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'xFor 1 ignores values a client put to the left', options: { xFor: 1 },
    headers: { 'x-forwarded-for': '1.1.1.1, 2.2.2.2, 203.0.113.7' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'xFor 2 takes the second value from the right', options: { xFor: 2 },
    headers: { 'x-forwarded-for': '1.1.1.1, 203.0.113.7, 10.0.0.3' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'xFor 3 with exactly three values takes the first', options: { xFor: 3 },
    headers: { 'x-forwarded-for': '203.0.113.7,10.0.0.4,10.0.0.3' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'fewer values than xFor: header ignored', options: { xFor: 2 },
    headers: { 'x-forwarded-for': '203.0.113.7' }, expect: {} },
  { name: 'xFor 0 never reads the header', options: { xFor: 0 },
    headers: { 'x-forwarded-for': '203.0.113.7' }, expect: {} },
  { name: 'spaces and tabs around values are trimmed', options: { xFor: 2 },
    headers: { 'x-forwarded-for': ' 203.0.113.7 \t,\t10.0.0.3 ' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'repeated header lines count as one list, in order', options: { xFor: 2 },
    headers: { 'x-forwarded-for': ['6.6.6.6, 203.0.113.7', '10.0.0.3'] }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'an empty value counts as a position and is invalid', options: { xFor: 2 },
    headers: { 'x-forwarded-for': '203.0.113.7, , 10.0.0.3' }, expect: {} },
  { name: 'an empty header is absent', options: {},
    headers: { 'x-forwarded-for': '  ' }, expect: {} },
  { name: 'a trailing comma leaves an empty rightmost value: invalid', options: {},
    headers: { 'x-forwarded-for': '203.0.113.7,' }, expect: {} },
  { name: 'IPv6 for-value', options: {},
    headers: { 'x-forwarded-for': '2001:db8::7' }, expect: { remoteAddr: '2001:db8::7', remotePort: '' } },
  { name: 'IPv4 with a port sets remoteAddr and remotePort apart', options: {},
    headers: { 'x-forwarded-for': '203.0.113.7:4711' }, expect: { remoteAddr: '203.0.113.7', remotePort: '4711' } },
  { name: 'bracketed IPv6 with a port', options: {},
    headers: { 'x-forwarded-for': '[2001:db8::7]:4711' }, expect: { remoteAddr: '2001:db8::7', remotePort: '4711' } },
  { name: 'bracketed IPv6 without a port', options: {},
    headers: { 'x-forwarded-for': '[2001:db8::7]' }, expect: { remoteAddr: '2001:db8::7', remotePort: '' } },
  { name: 'IPv4-mapped IPv6 is an IPv6 address', options: {},
    headers: { 'x-forwarded-for': '::ffff:203.0.113.7' }, expect: { remoteAddr: '::ffff:203.0.113.7', remotePort: '' } },
  { name: 'invalid: a name', options: {}, headers: { 'x-forwarded-for': 'evil.example' }, expect: {} },
  { name: 'invalid: unknown', options: {}, headers: { 'x-forwarded-for': 'unknown' }, expect: {} },
  { name: 'invalid: leading zeros (octal to some parsers)', options: {}, headers: { 'x-forwarded-for': '010.0.0.1' }, expect: {} },
  { name: 'invalid: hex form', options: {}, headers: { 'x-forwarded-for': '0xa000001' }, expect: {} },
  { name: 'invalid: short form', options: {}, headers: { 'x-forwarded-for': '10.1' }, expect: {} },
  { name: 'invalid: zone id', options: {}, headers: { 'x-forwarded-for': 'fe80::1%eth0' }, expect: {} },
  { name: 'invalid: unspecified 0.0.0.0', options: {}, headers: { 'x-forwarded-for': '0.0.0.0' }, expect: {} },
  { name: 'invalid: unspecified ::', options: {}, headers: { 'x-forwarded-for': '::' }, expect: {} },
  { name: 'invalid: port 0', options: {}, headers: { 'x-forwarded-for': '203.0.113.7:0' }, expect: {} },
  { name: 'invalid: port above 65535', options: {}, headers: { 'x-forwarded-for': '203.0.113.7:65536' }, expect: {} },
  { name: 'invalid: IPv6 with a bare port', options: {}, headers: { 'x-forwarded-for': '2001:db8::7:80:' }, expect: {} },
  { name: 'invalid: unclosed bracket', options: {}, headers: { 'x-forwarded-for': '[2001:db8::7' }, expect: {} },
  { name: 'invalid: junk after bracket', options: {}, headers: { 'x-forwarded-for': '[2001:db8::7]x' }, expect: {} },
  { name: 'invalid: bracketed IPv4', options: {}, headers: { 'x-forwarded-for': '[203.0.113.7]' }, expect: {} },
  { name: 'invalid: quoted value', options: {}, headers: { 'x-forwarded-for': '"203.0.113.7"' }, expect: {} },
  { name: 'invalid value at the counted position is not skipped over', options: { xFor: 2 },
    headers: { 'x-forwarded-for': '203.0.113.7, garbage, 10.0.0.3' }, expect: {} },

  // X-Forwarded-Proto
  { name: 'defaults take the last X-Forwarded-Proto value', options: {},
    headers: { 'x-forwarded-proto': 'https' }, expect: { scheme: 'https' } },
  { name: 'xProto 2', options: { xProto: 2 },
    headers: { 'x-forwarded-proto': 'http, https, http' }, expect: { scheme: 'https' } },
  { name: 'scheme case is ignored and lowered', options: {},
    headers: { 'x-forwarded-proto': 'HTTPS' }, expect: { scheme: 'https' } },
  { name: 'ws and wss are allowed', options: {}, headers: { 'x-forwarded-proto': 'wss' }, expect: { scheme: 'wss' } },
  { name: 'invalid: scheme outside the set', options: {}, headers: { 'x-forwarded-proto': 'javascript' }, expect: {} },
  { name: 'invalid: scheme with a colon', options: {}, headers: { 'x-forwarded-proto': 'https:' }, expect: {} },
  { name: 'a custom scheme set', options: { schemes: ['HTTPS'] },
    headers: { 'x-forwarded-proto': 'https' }, expect: { scheme: 'https' } },
  { name: 'a custom scheme set refuses others', options: { schemes: ['https'] },
    headers: { 'x-forwarded-proto': 'http' }, expect: {} },
  { name: 'xProto 0', options: { xProto: 0 }, headers: { 'x-forwarded-proto': 'https' }, expect: {} },

  // X-Forwarded-Host
  { name: 'xHost sets host and serverName; the port follows the scheme', options: { xHost: 1 },
    headers: { 'x-forwarded-host': 'example.com' }, expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
  { name: 'xHost with https: serverPort 443', options: { xHost: 1 },
    headers: { 'x-forwarded-host': 'example.com', 'x-forwarded-proto': 'https' },
    expect: { host: 'example.com', serverName: 'example.com', serverPort: '443', scheme: 'https' } },
  { name: 'xHost with a port', options: { xHost: 1 },
    headers: { 'x-forwarded-host': 'example.com:8443' }, expect: { host: 'example.com:8443', serverName: 'example.com', serverPort: '8443' } },
  { name: 'xHost 2', options: { xHost: 2 },
    headers: { 'x-forwarded-host': 'evil.example, example.com, inner.internal' }, expect: { host: 'example.com', serverName: 'example.com', serverPort: '80' } },
  { name: 'xHost IPv6 literal keeps its brackets', options: { xHost: 1 },
    headers: { 'x-forwarded-host': '[2001:db8::1]' }, expect: { host: '[2001:db8::1]', serverName: '[2001:db8::1]', serverPort: '80' } },
  { name: 'xHost IPv6 literal with a port', options: { xHost: 1 },
    headers: { 'x-forwarded-host': '[2001:db8::1]:8443' }, expect: { host: '[2001:db8::1]:8443', serverName: '[2001:db8::1]', serverPort: '8443' } },
  { name: 'xHost IPv4 literal with a port', options: { xHost: 1 },
    headers: { 'x-forwarded-host': '192.0.2.9:8080' }, expect: { host: '192.0.2.9:8080', serverName: '192.0.2.9', serverPort: '8080' } },
  { name: 'xHost with a trailing dot', options: { xHost: 1 },
    headers: { 'x-forwarded-host': 'example.com.' }, expect: { host: 'example.com.', serverName: 'example.com.', serverPort: '80' } },
  { name: 'invalid host: a slash', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'evil.example/x' }, expect: {} },
  { name: 'invalid host: userinfo', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com@evil.example' }, expect: {} },
  { name: 'invalid host: a space', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com evil' }, expect: {} },
  { name: 'invalid host: a quote', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com"' }, expect: {} },
  { name: 'invalid host: empty port', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com:' }, expect: {} },
  { name: 'invalid host: two ports', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com:80:81' }, expect: {} },
  { name: 'invalid host: bare IPv6', options: { xHost: 1 }, headers: { 'x-forwarded-host': '2001:db8::1' }, expect: {} },
  { name: 'invalid host: junk after IPv6 bracket', options: { xHost: 1 }, headers: { 'x-forwarded-host': '[2001:db8::1]x' }, expect: {} },
  { name: 'invalid host: bad IPv6 literal', options: { xHost: 1 }, headers: { 'x-forwarded-host': '[2001:db8::g]' }, expect: {} },
  { name: 'invalid host: empty label', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example..com' }, expect: {} },
  { name: 'invalid host: too long', options: { xHost: 1 }, headers: { 'x-forwarded-host': `${'a.'.repeat(127)}com` }, expect: {} },
  { name: 'invalid host: control character', options: { xHost: 1 }, headers: { 'x-forwarded-host': 'example.com\u0000' }, expect: {} },

  // X-Forwarded-Port
  { name: 'xPort rewrites the port of the Host header', options: { xPort: 1 },
    headers: { 'x-forwarded-port': '443' }, expect: { host: 'app.internal:443', serverPort: '443' } },
  { name: 'xPort adds a port to a Host without one', options: { xPort: 1 },
    headers: { 'x-forwarded-port': '8443' }, init: { host: 'example.com' }, expect: { host: 'example.com:8443', serverPort: '8443' } },
  { name: 'xPort without any Host header sets serverPort only', options: { xPort: 1 },
    headers: { 'x-forwarded-port': '8443' }, init: { host: '' }, expect: { serverPort: '8443' } },
  { name: 'xPort rewrites an IPv6 Host header', options: { xPort: 1 },
    headers: { 'x-forwarded-port': '8443' }, init: { host: '[::1]:8000' }, expect: { host: '[::1]:8443', serverPort: '8443' } },
  { name: 'xPort with xHost rewrites the forwarded host', options: { xHost: 1, xPort: 1 },
    headers: { 'x-forwarded-host': 'example.com:8080', 'x-forwarded-port': '8443' },
    expect: { host: 'example.com:8443', serverName: 'example.com', serverPort: '8443' } },
  { name: 'xPort with an IPv6 forwarded host', options: { xHost: 1, xPort: 1 },
    headers: { 'x-forwarded-host': '[2001:db8::1]', 'x-forwarded-port': '8443' },
    expect: { host: '[2001:db8::1]:8443', serverName: '[2001:db8::1]', serverPort: '8443' } },
  { name: 'xPort 2', options: { xPort: 2 },
    headers: { 'x-forwarded-port': '1, 443, 80' }, expect: { host: 'app.internal:443', serverPort: '443' } },
  { name: 'invalid port: not a number', options: { xPort: 1 }, headers: { 'x-forwarded-port': 'https' }, expect: {} },
  { name: 'invalid port: 0', options: { xPort: 1 }, headers: { 'x-forwarded-port': '0' }, expect: {} },
  { name: 'invalid port: leading zero', options: { xPort: 1 }, headers: { 'x-forwarded-port': '0443' }, expect: {} },
  { name: 'invalid port: sign', options: { xPort: 1 }, headers: { 'x-forwarded-port': '+443' }, expect: {} },
  { name: 'invalid port: too long', options: { xPort: 1 }, headers: { 'x-forwarded-port': '100000' }, expect: {} },
  { name: 'invalid port: 65536', options: { xPort: 1 }, headers: { 'x-forwarded-port': '65536' }, expect: {} },
  { name: 'invalid port: letters after digits', options: { xPort: 1 }, headers: { 'x-forwarded-port': '44a' }, expect: {} },
  { name: 'invalid forwarded host, valid port: the port still applies to the Host header', options: { xHost: 1, xPort: 1 },
    headers: { 'x-forwarded-host': 'evil/x', 'x-forwarded-port': '443' }, expect: { host: 'app.internal:443', serverPort: '443' } },

  // X-Forwarded-Prefix
  { name: 'xPrefix sets scriptName', options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': '/app' }, expect: { scriptName: '/app' } },
  { name: 'a trailing slash is dropped', options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': '/app/' }, expect: { scriptName: '/app' } },
  { name: 'a nested prefix', options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': '/a/b-c/d_e~f' }, expect: { scriptName: '/a/b-c/d_e~f' } },
  { name: 'the root prefix is the empty prefix', options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': '/' }, expect: {} },
  { name: 'percent escapes other than slash and dot are kept', options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': '/my%20app' }, expect: { scriptName: '/my%20app' } },
  { name: 'xPrefix 2', options: { xPrefix: 2 },
    headers: { 'x-forwarded-prefix': '/evil, /app, /inner' }, expect: { scriptName: '/app' } },
  ...['//evil.example', '/\\evil.example', 'https://evil.example', 'app', '/a/../admin', '/a/./b', '/..',
    '/a//b', '/a%2fb', '/a%2Fb', '/a%5cb', '/%2e%2e/admin', '/a%zz', '/a%', '/a%0d%0aSet-Cookie:x', '/a%7f',
    '/a\r\nx', '/a b', '/a?x', '/a#x', '/ä', '//'].map((prefix): FieldCase => ({
    name: `invalid prefix ${JSON.stringify(prefix)}`, options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': prefix }, expect: {},
  })),

  // Together
  { name: 'every option together, a three-proxy chain', options: { xFor: 3, xProto: 2, xHost: 1, xPort: 1, xPrefix: 1 },
    headers: {
      'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.4, 10.0.0.3',
      'x-forwarded-proto': 'http, https, http',
      'x-forwarded-host': 'evil.example, example.com',
      'x-forwarded-port': '443',
      'x-forwarded-prefix': '/app/',
    },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com:443', serverName: 'example.com', serverPort: '443', scriptName: '/app' } },
  { name: 'fields are independent: one invalid does not stop the others', options: { xFor: 1, xProto: 1, xHost: 1 },
    headers: { 'x-forwarded-for': 'junk', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' },
    expect: { scheme: 'https', host: 'example.com', serverName: 'example.com', serverPort: '443' } },
  { name: 'the path is never changed', options: { xPrefix: 1 },
    headers: { 'x-forwarded-prefix': '/app', 'x-forwarded-uri': '/other' }, expect: { scriptName: '/app' } },
  { name: 'header-name aliases with underscores are not read', options: {},
    headers: { x_forwarded_for: '6.6.6.6', x_forwarded_proto: 'https' }, expect: {} },
];

t.test('named cases', (t) => checkCases(t, base, cases));

t.test('originals are recorded once, for the fields replaced', async (t) => {
  const env = await fixed({ xHost: 1 }, {
    ...base,
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' },
  });
  t.same(env.ext[ORIGINALS], {
    remoteAddr: '10.0.0.2', remotePort: '50000', scheme: 'http', host: 'app.internal:8000',
    serverName: 'app.internal', serverPort: '8000',
  });
  const untouched = await fixed({}, { ...base });
  t.equal(untouched.ext[ORIGINALS], undefined, 'nothing replaced, nothing recorded');
  t.equal(untouched.ext[FIXED], true, 'but the request is marked as fixed');
});

t.test('an earlier recorder wins', async (t) => {
  const env = createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.7' } });
  env.ext[ORIGINALS] = { remoteAddr: '192.0.2.1' };
  await proxyFix(() => ({ status: 204 }), {})(env);
  t.same(env.ext[ORIGINALS], { remoteAddr: '192.0.2.1', remotePort: '50000' });
});

t.test('applying twice gives what applying once gives', async (t) => {
  const options = { xFor: 1, xHost: 1 };
  const headers = { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-host': 'example.com' };
  const once = await fixed(options, { ...base, headers });
  let twice: typeof once | undefined;
  const inner = proxyFix((env) => { twice = env; return { status: 204 }; }, { xFor: 2, xHost: 1, trace: true });
  await proxyFix(inner, options)(createEnv({ ...base, headers }));
  t.same(view(twice!), view(once));
  const trace = twice!.ext[TRACE]!;
  t.equal(trace.fields[0]!.outcome, 'already-fixed');
  t.same(trace.changed, {});
  t.same(twice!.ext[ORIGINALS], once.ext[ORIGINALS]);
});

t.test('the same proxyFix wrapped twice, without a trace', async (t) => {
  const headers = { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.3' };
  let seen: ReturnType<typeof createEnv> | undefined;
  const once = proxyFix((env) => { seen = env; return { status: 204 }; }, { xFor: 2 });
  await proxyFix(once, { xFor: 2 })(createEnv({ ...base, headers }));
  t.equal(seen!.remoteAddr, '203.0.113.7', 'two hops consumed once, not twice');
});

t.test('the trace is kept only when asked for', async (t) => {
  const headers = { 'x-forwarded-for': '203.0.113.7, x' };
  const plain = await fixed({}, { ...base, headers });
  t.equal(plain.ext[TRACE], undefined);
  const traced = await fixed({ trace: true, xHost: 1 }, { ...base, headers });
  const trace = traced.ext[TRACE]!;
  t.equal(trace.family, 'x-forwarded');
  t.equal(trace.peer, '10.0.0.2');
  t.same(trace.fields.map((f) => [f.field, f.outcome, f.depth, f.value]), [
    ['for', 'invalid', 1, 'x'],
    ['proto', 'absent', null, null],
    ['host', 'absent', null, null],
    ['port', 'disabled', null, null],
    ['prefix', 'disabled', null, null],
  ]);
  t.match(trace.fields[0]!.detail, /"x" is not a valid for value/);
});

t.test('given only options, proxyFix returns a middleware', async (t) => {
  const middleware = proxyFix({ xFor: 2, trace: true });
  let seen: ReturnType<typeof createEnv> | undefined;
  const app = middleware((env) => { seen = env; return { status: 204 }; });
  t.equal(app.name, 'proxyFixed');
  await app(createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.3' } }));
  t.equal(seen!.remoteAddr, '203.0.113.7');
  t.ok(seen!.ext[TRACE], 'the trace option carries over');
});

t.test('the wrapped app is called with the same env and its response returned', async (t) => {
  const env = createEnv(base);
  const response = { status: 201, body: 'made' };
  const app = proxyFix((seen) => {
    t.equal(seen, env);
    return Promise.resolve(response);
  });
  t.equal(await app(env), response);
  t.equal(proxyFix.name, 'proxyFix');
  t.equal(proxyFix(() => response).name, 'proxyFixed');
});

t.test('configuration errors name the option', async (t) => {
  const app = () => ({ status: 204 });
  const bad: [unknown, string, string, string][] = [
    [{ xFor: -1 }, 'xFor', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ xProto: 1.5 }, 'xProto', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ xHost: '1' }, 'xHost', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ xPort: Number.NaN }, 'xPort', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ xPrefix: Infinity }, 'xPrefix', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ xFor: null }, 'xFor', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ xFor: true }, 'xFor', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ x_for: 1 }, 'x_for', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ schemes: [] }, 'schemes', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ schemes: 'https' }, 'schemes', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ schemes: ['https', 'ht tp'] }, 'schemes[1]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ schemes: [1] }, 'schemes[0]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trace: 'yes' }, 'trace', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['xFor', 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [() => 1, 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [null, 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
  ];
  for (const [options, option, name, code] of bad) {
    t.throws(() => proxyFix(app, options as ProxyFixOptions), {
      name, code, option, message: new RegExp(`^\`${option.replace(/[[\]]/g, '\\$&')}\` `),
    }, `${JSON.stringify(options)} names ${option}`);
  }
  t.throws(() => proxyFix(undefined as never), { name: 'TypeError', option: 'app', message: /got undefined/ });
  t.throws(() => proxyFix([] as never), { message: /got an array/ });
  t.throws(() => proxyFix({ xFor: -1 }), { option: 'xFor', code: 'ERR_PROXYFIX_OPTION_RANGE' }, 'the curried form validates at once');
  t.throws(() => proxyFix({})(null as never), { option: 'app', code: 'ERR_PROXYFIX_OPTION_TYPE', message: /got null/ });
  t.throws(() => proxyFix(app, { xFor: Infinity }), { message: /only together with `trusted`/ });
});

t.test('explain says what proxyFix would do, without doing it', async (t) => {
  const env = createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'a b' } });
  const snapshot = view(env);
  const trace = explain(env, { xHost: 1 });
  t.same(view(env), snapshot, 'env unchanged');
  t.equal(env.ext[FIXED], undefined, 'and not marked');
  t.same(trace.changed, { remoteAddr: '203.0.113.7', remotePort: '' });
  t.match(trace.fields[2], { field: 'host', outcome: 'invalid', used: false, value: 'a b', depth: 1 });
  t.same(explain(createEnv(base)).fields.map((f) => f.outcome), ['absent', 'absent', 'disabled', 'disabled', 'disabled']);
  t.equal(explain(createEnv({ headers: { 'x-forwarded-for': 'a, b' } }), { xFor: 3 }).fields[0]!.outcome, 'too-few-values');
});

t.test('the trace of a request where every field is used', async (t) => {
  const env = createEnv({ ...base, headers: {
    'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com',
    'x-forwarded-port': '8443', 'x-forwarded-prefix': '/app',
  } });
  const trace = explain(env, { xHost: 1, xPort: 1, xPrefix: 1 });
  t.same(trace.fields.map((f) => [f.outcome, f.detail]), [
    ['used', 'client address 203.0.113.7'],
    ['used', 'scheme https'],
    ['used', 'host example.com'],
    ['used', 'port 8443'],
    ['used', 'prefix "/app"'],
  ]);
  t.same(trace.changed, {
    remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com:8443', serverName: 'example.com',
    serverPort: '8443', scriptName: '/app',
  });
});

t.test('no field is written invalid, whatever the incoming env held', async (t) => {
  // A bare IPv6 address is no Host; a port put after it made `2001:db8::a:8443`, another address.
  for (const host of ['2001:db8::a', 'a b', 'example.com/x', '[::1']) {
    const env = await fixed({ xFor: 0, xProto: 0, xPort: 1 }, { ...base, host, headers: { 'x-forwarded-port': '8443' } });
    t.equal(env.host, host, `${JSON.stringify(host)} is left as it came`);
    t.equal(env.serverPort, '8443', `${JSON.stringify(host)}: the port is still the forwarded one`);
  }
  const rewritten = await fixed({ xFor: 0, xProto: 0, xPort: 1 }, { ...base, host: '[2001:db8::a]', headers: { 'x-forwarded-port': '8443' } });
  t.equal(rewritten.host, '[2001:db8::a]:8443', 'a valid host gets the port');
});
