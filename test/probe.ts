/**
 * The probe: what it answers with the token, that it answers nothing without it (the same nothing
 * whatever was sent), that it never echoes a credential or the token, and that it works mounted in
 * real Express and Hono apps through the adapters.
 */
import * as crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fc from 'fast-check';
import { Hono } from 'hono';
import t from 'tap';
import { compose } from '../src/middleware/compose.js';
import { createEnv, lintResponse, type EnvInit, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../src/gateway.js';
import { isConfigError } from '../src/options.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { probe, type ProbeAnswer, type ProbeOptions } from '../src/middleware/probe.js';
import { fromNodeListener, toNodeListener } from '../src/adapters/node.js';
import { fromFetchHandler, toFetchHandler } from '../src/adapters/fetch.js';
import { listen, request } from './fixtures/http-client.js';

const TOKEN = 'c2VjcmV0LXByb2JlLXRva2VuLTQy';
const PATH = '/.well-known/proxyfix';
const FIX: ProxyFixOptions = { xFor: 1, xProto: 1, xHost: 1, xPrefix: 1, warnings: false };

/** A request from proxy 10.0.0.2 to app.internal:8000, as the app server got it. */
const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000' };

/** An app that says it was reached, and counts how often. */
function reachedApp(): { app: GatewayApp; seen: GatewayEnv[] } {
  const seen: GatewayEnv[] = [];
  return { seen, app: (env) => { seen.push(env); return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'the app\n' }; } };
}

function text(body: GatewayResponse['body']): string {
  if (body === undefined) return '';
  if (typeof body === 'string') return body;
  return new TextDecoder().decode(body as Uint8Array);
}

/** The probe inside proxyFix, as the contract mounts it, in front of an app that counts. */
function stack(options: Partial<ProbeOptions> = {}, fix: ProxyFixOptions = FIX) {
  const { app, seen } = reachedApp();
  const probed = proxyFix(probe(app, { token: TOKEN, ...options }), { ...fix, trace: true });
  const send = async (init: EnvInit) => {
    const response = await probed(createEnv({ ...base, url: PATH, ...init }));
    return { response, body: text(response.body) };
  };
  return { send, seen };
}

const refused = { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }, body: 'Not Found\n' };

t.test('the token, case by case', async (t) => {
  interface Case { name: string; init: EnvInit; answered: 'probe' | 'refused' | 'app' | 405 }
  const cases: Case[] = [
    { name: 'the right token', init: { headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'probe' },
    { name: 'the header name in another case', init: { headers: { 'PROXYFIX-Probe-Token': TOKEN } }, answered: 'probe' },
    { name: 'a query string on the probe path', init: { url: `${PATH}?x=1`, headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'probe' },
    { name: 'HEAD with the right token', init: { method: 'HEAD', headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'probe' },
    { name: 'a wrong token of the same length', init: { headers: { 'proxyfix-probe-token': `${TOKEN.slice(0, -1)}3` } }, answered: 'refused' },
    { name: 'the token in another case', init: { headers: { 'proxyfix-probe-token': TOKEN.toLowerCase() } }, answered: 'refused' },
    { name: 'no token', init: {}, answered: 'refused' },
    { name: 'an empty token', init: { headers: { 'proxyfix-probe-token': '' } }, answered: 'refused' },
    { name: 'a prefix of the token', init: { headers: { 'proxyfix-probe-token': TOKEN.slice(0, 16) } }, answered: 'refused' },
    { name: 'the token and one more character', init: { headers: { 'proxyfix-probe-token': `${TOKEN}x` } }, answered: 'refused' },
    { name: 'the token twice, in two lines', init: { headers: { 'proxyfix-probe-token': [TOKEN, TOKEN] } }, answered: 'refused' },
    { name: 'the token under an underscore alias', init: { headers: { proxyfix_probe_token: TOKEN } }, answered: 'refused' },
    { name: 'the token in another header', init: { headers: { authorization: `Bearer ${TOKEN}` } }, answered: 'refused' },
    { name: 'the token in the query string', init: { url: `${PATH}?proxyfix-probe-token=${TOKEN}` }, answered: 'refused' },
    { name: 'POST with the right token', init: { method: 'POST', headers: { 'proxyfix-probe-token': TOKEN } }, answered: 405 },
    { name: 'POST without the token: refused, not 405, which would say the probe is there', init: { method: 'POST' }, answered: 'refused' },
    { name: 'DELETE with a wrong token', init: { method: 'DELETE', headers: { 'proxyfix-probe-token': 'x' } }, answered: 'refused' },
    { name: 'a path below the probe path', init: { url: `${PATH}/x`, headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'app' },
    { name: 'the probe path with a trailing slash', init: { url: `${PATH}/`, headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'app' },
    { name: 'a longer name', init: { url: `${PATH}x`, headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'app' },
    { name: 'the path in another case', init: { url: PATH.toUpperCase(), headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'app' },
    { name: 'the path percent-encoded', init: { url: '/.well-known/%70roxyfix', headers: { 'proxyfix-probe-token': TOKEN } }, answered: 'app' },
    { name: 'another path, no token', init: { url: '/users' }, answered: 'app' },
  ];
  for (const c of cases) {
    const { send, seen } = stack();
    const { response, body } = await send(c.init);
    if (c.answered === 'probe') {
      t.equal(response.status, 200, c.name);
      t.equal(response.headers!['content-type'], 'application/json; charset=utf-8', `${c.name}: JSON`);
      t.equal(response.headers!['cache-control'], 'no-store', `${c.name}: not stored`);
      if (c.init.method === 'HEAD') {
        t.equal(response.body, undefined, `${c.name}: no body`);
        const get = await send({ ...c.init, method: 'GET' });
        t.equal(response.headers!['content-length'], String(Buffer.byteLength(get.body)), `${c.name}: the length a GET gets`);
      } else {
        t.equal(response.headers!['content-length'], String(Buffer.byteLength(body)), `${c.name}: its length`);
        t.equal((JSON.parse(body) as ProbeAnswer).probe, 1, `${c.name}: a probe answer`);
      }
      t.equal(seen.length, 0, `${c.name}: the app is not called`);
    } else if (c.answered === 'refused') {
      t.same({ status: response.status, headers: response.headers, body }, refused, `${c.name}: a bare 404`);
      t.equal(seen.length, 0, `${c.name}: the app is not called`);
    } else if (c.answered === 405) {
      t.equal(response.status, 405, c.name);
      t.equal(response.headers!.allow, 'GET, HEAD', `${c.name}: says what is allowed`);
      t.equal(response.headers!['cache-control'], 'no-store', `${c.name}: not stored`);
      t.equal(seen.length, 0, `${c.name}: the app is not called`);
    } else {
      t.equal(body, 'the app\n', `${c.name}: the app answers`);
      t.equal(seen.length, 1, `${c.name}: once`);
      t.equal(seen[0]!.headers['proxyfix-probe-token'], c.init.headers?.['proxyfix-probe-token'], `${c.name}: untouched`);
    }
  }
});

t.test('every refusal is the same bytes, whatever the length or content of what was sent', async (t) => {
  const { send } = stack();
  const sent = ['', 'x', TOKEN.slice(0, 1), TOKEN.slice(0, -1), `${TOKEN.slice(0, -1)}?`, `${TOKEN}${TOKEN}`, 'y'.repeat(8000), '\u00e9'.repeat(40)];
  const answers = new Set<string>();
  for (const value of sent) answers.add(JSON.stringify((await send({ headers: { 'proxyfix-probe-token': value } })).response));
  answers.add(JSON.stringify((await send({})).response));
  t.equal(answers.size, 1, 'one answer for all');
  t.same(JSON.parse([...answers][0]!), refused);
});

t.test('the comparison: SHA-256 digests of equal length through timingSafeEqual, once per probe request', async (t) => {
  const calls: { a: number; b: number }[] = [];
  const hashed: string[] = [];
  const { probe: spiedProbe } = await t.mockImport<typeof import('../src/middleware/probe.js')>('../src/middleware/probe.js', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual(a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) {
        calls.push({ a: a.byteLength, b: b.byteLength });
        return crypto.timingSafeEqual(a, b);
      },
      createHash(algorithm: string) {
        hashed.push(algorithm);
        return crypto.createHash(algorithm);
      },
    },
  });
  const app = spiedProbe(reachedApp().app, { token: TOKEN });
  t.same(hashed, ['sha256'], 'the token is hashed once, when the probe is built');
  const sent = [undefined, '', 'x', TOKEN.slice(0, 16), `${TOKEN.slice(0, -1)}3`, TOKEN, `${TOKEN}x`, 'z'.repeat(5000)];
  for (const value of sent) {
    calls.length = 0;
    hashed.length = 0;
    const headers: Record<string, string> = value === undefined ? {} : { 'proxyfix-probe-token': value };
    const response = await app(createEnv({ url: PATH, headers }));
    t.same(calls, [{ a: 32, b: 32 }], `${JSON.stringify(value)?.slice(0, 20) ?? 'no token'}: one comparison of two 32-byte digests`);
    t.same(hashed, ['sha256'], 'what was sent is hashed, whatever its length');
    t.equal(response.status, value === TOKEN ? 200 : 404);
  }
  calls.length = 0;
  hashed.length = 0;
  await app(createEnv({ url: '/elsewhere', headers: { 'proxyfix-probe-token': TOKEN } }));
  t.same([calls, hashed], [[], []], 'a request for another path costs no hashing');
});

t.test('the answer behind proxyFix: before, after, headers, the trace, the options', async (t) => {
  const options = { ...FIX, warnings: undefined, trusted: ['10.0.0.0/8'], xFor: Infinity, onWarning: () => {}, schemes: ['http', 'https'] };
  const { app } = reachedApp();
  const probed = proxyFix(probe(app, { token: TOKEN, options }), { ...options, trace: true });
  const response = await probed(createEnv({
    ...base,
    url: `${PATH}?q=1`,
    headers: {
      'proxyfix-probe-token': TOKEN,
      'X-Forwarded-For': '6.6.6.6, 203.0.113.7',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'example.com',
      'X-Forwarded-Prefix': '/forged',
      Accept: '*/*',
    },
  }));
  const answer = JSON.parse(text(response.body)) as ProbeAnswer;
  t.same(answer.before, {
    remoteAddr: '10.0.0.2', remotePort: '50000', scheme: 'http', host: 'app.internal:8000', serverName: 'app.internal',
    serverPort: '8000', scriptName: '', pathInfo: PATH, queryString: 'q=1',
  }, 'before: as the server made the env');
  t.same(answer.after, {
    remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com', serverName: 'example.com',
    serverPort: '443', scriptName: '/forged', pathInfo: PATH, queryString: 'q=1',
  }, 'after: as the app sees it, the walk stopped at the first address that is not a trusted proxy');
  t.same(answer.headers, {
    'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com',
    'x-forwarded-prefix': '/forged', accept: '*/*',
  }, 'every header but the token\'s');
  t.match(answer.trace, {
    family: 'x-forwarded', peer: '10.0.0.2', peerTrusted: true,
    walk: [{ depth: 1, value: '203.0.113.7', trusted: false }],
    fields: [{ field: 'for', outcome: 'used' }, { field: 'proto', outcome: 'used' }, { field: 'host', outcome: 'used' }, { field: 'port' }, { field: 'prefix', value: '/forged', outcome: 'used' }],
  }, 'the trace');
  t.equal(answer.trace!.fields[0]!.count, null, 'a count of Infinity reads as null in JSON');
  t.same(answer.options, {
    xFor: 'Infinity', xProto: 1, xHost: 1, xPrefix: 1, trusted: ['10.0.0.0/8'], onWarning: '(function)', schemes: ['http', 'https'],
  }, 'the options, JSON-safe');
  t.same(answer.redacted, { headers: [], parameters: [], userinfo: [] }, 'nothing hidden');
  t.same(Object.keys(answer), ['probe', 'before', 'after', 'headers', 'trace', 'options', 'redacted'], 'the fields of the format, in order');
});

t.test('a forged X-Forwarded-Prefix does not move the probe: it matches the path the server got', async (t) => {
  const { send, seen } = stack();
  const { response, body } = await send({ headers: { 'proxyfix-probe-token': TOKEN, 'x-forwarded-prefix': '/elsewhere' } });
  t.equal(response.status, 200);
  t.equal((JSON.parse(body) as ProbeAnswer).after.scriptName, '/elsewhere', 'the forged prefix shows in the answer');
  t.equal(seen.length, 0);
  // The path the server got is its own scriptName and the path below it.
  const mounted = stack({ path: '/app/probe' });
  t.equal((await mounted.send({ scriptName: '/app', url: '/probe', headers: { 'proxyfix-probe-token': TOKEN } })).response.status, 200,
    'a server mount prefix counts');
});

t.test('without a proxyFix in front: before is after, and no trace', async (t) => {
  const response = await probe(reachedApp().app, { token: TOKEN })(createEnv({ ...base, url: PATH, headers: { 'proxyfix-probe-token': TOKEN } }));
  const answer = JSON.parse(text(response.body)) as ProbeAnswer;
  t.same(answer.before, answer.after);
  t.equal(answer.trace, null);
  t.equal(answer.options, null);
});

t.test('credentials and the token are never echoed', async (t) => {
  const { send } = stack({ options: { xFor: 1, note: `copied ${TOKEN} by mistake` } });
  const { body } = await send({
    url: `${PATH}?access_token=abc123&q=${TOKEN}`,
    host: 'user:hunter2@app.internal:8000',
    headers: {
      'proxyfix-probe-token': TOKEN,
      Authorization: 'Basic dXNlcjpodW50ZXIy',
      Cookie: 'sid=s3cr3t',
      'X-Api-Key': 'k-123',
      'X-Whatever': 'Bearer abc.def.ghi',
      'X-Forwarded-For': `203.0.113.7, ${TOKEN}`,
      'X-Forwarded-Host': `${TOKEN}.example.com`,
      Referer: 'https://bob:pw@example.com/page?session=xyz',
      'X-Copy': `a${TOKEN}b`,
    },
  });
  for (const secret of [TOKEN, 'hunter2', 'dXNlcjpodW50ZXIy', 's3cr3t', 'k-123', 'abc.def.ghi', 'abc123', 'bob:pw', 'xyz']) {
    t.notOk(body.includes(secret), `${secret} is not in the answer`);
  }
  const answer = JSON.parse(body) as ProbeAnswer;
  t.equal(answer.headers['x-copy'], 'a(redacted)b', 'the token is cut wherever it turns up');
  t.equal(answer.options!.note, 'copied (redacted) by mistake', 'even in the options');
  t.equal(answer.headers['proxyfix-probe-token'], undefined, 'the token header is left out');
  t.same(answer.redacted.headers.sort(), ['authorization', 'cookie', 'x-api-key', 'x-whatever']);
  t.same(answer.redacted.parameters.sort(), ['access_token', 'session']);
  t.ok(answer.redacted.userinfo.includes('host'), 'userinfo in the Host');
  t.ok(answer.trace!.fields.some((field) => field.value === '(redacted)'), 'the trace shows the cut value');
});

t.test('a header called __proto__ or constructor is shown like any other', async (t) => {
  const env = createEnv({ url: PATH });
  // As the node adapter builds them: no prototype, every name a client sends stored as sent.
  env.headers = Object.assign(Object.create(null) as Record<string, string>,
    JSON.parse(`{"__proto__": "p", "constructor": "c", "proxyfix-probe-token": "${TOKEN}"}`) as Record<string, string>);
  const response = await probe(reachedApp().app, { token: TOKEN })(env);
  const answer = JSON.parse(text(response.body)) as ProbeAnswer;
  t.same(Object.entries(answer.headers), [['__proto__', 'p'], ['constructor', 'c']]);
});

t.test('a cut that would join a new token is cut again', async (t) => {
  // "(redacted)" can stand inside a token; cutting the inner occurrence makes the outer one whole,
  // here three times over.
  const token = 'A(redacted)BBBBBB';
  const { app } = reachedApp();
  const nested = `AAA${token}${'BBBBBB'.repeat(3)}`;
  const response = await probe(app, { token })(createEnv({ url: PATH, headers: { 'proxyfix-probe-token': token, 'x-nested': nested } }));
  const answer = JSON.parse(text(response.body)) as ProbeAnswer;
  t.equal(answer.headers['x-nested'], '(redacted)');
  t.notOk(text(response.body).includes(token));
});

t.test('the token is cut before redaction, so that redaction cannot split it and leave its pieces', async (t) => {
  // Redaction would cut the userinfo `u` out of this one and leave the rest on show.
  const token = 'aaaaaaaa//u@bbbbbbbb';
  const response = await probe(reachedApp().app, { token })(createEnv({ url: PATH, headers: { 'proxyfix-probe-token': token, 'x-copy': token } }));
  const answer = JSON.parse(text(response.body)) as ProbeAnswer;
  t.equal(answer.headers['x-copy'], '(redacted)');
});

t.test('options echoed as JSON can carry them', async (t) => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const shared = ['x'];
  const { send } = stack({ options: { n: -Infinity, nan: NaN, big: 10n, sym: Symbol('s'), gone: undefined, list: [undefined, () => 1, null], cyclic, one: shared, two: shared } });
  const answer = JSON.parse((await send({ headers: { 'proxyfix-probe-token': TOKEN } })).body) as ProbeAnswer;
  t.same(answer.options, {
    n: '-Infinity', nan: 'NaN', big: '10', sym: 'Symbol(s)', list: [null, '(function)', null], cyclic: { a: 1, self: '(circular)' }, one: ['x'], two: ['x'],
  });
});

t.test('configuration errors', async (t) => {
  const app = reachedApp().app;
  interface Case { name: string; options: unknown; option: string; code: string; type: typeof TypeError | typeof RangeError }
  const bad = (name: string, options: unknown, option: string, type: typeof TypeError | typeof RangeError = TypeError, code = type === TypeError ? 'ERR_PROXYFIX_OPTION_TYPE' : 'ERR_PROXYFIX_OPTION_RANGE'): Case =>
    ({ name, options, option, code, type });
  const cases: Case[] = [
    bad('no options', undefined, 'options'),
    bad('no token', {}, 'token'),
    bad('a token that is not a string', { token: 12345678901234567890 }, 'token'),
    bad('a short token', { token: 'x'.repeat(15) }, 'token', RangeError),
    bad('a token with a space', { token: 'correct horse battery staple' }, 'token'),
    bad('a token with a control character', { token: `${TOKEN}\n` }, 'token'),
    bad('a token with a non-ASCII character', { token: `${TOKEN}é` }, 'token'),
    bad('a path that is not a string', { token: TOKEN, path: 1 }, 'path'),
    bad('an empty path', { token: TOKEN, path: '' }, 'path'),
    bad('a relative path', { token: TOKEN, path: 'probe' }, 'path'),
    bad('the root', { token: TOKEN, path: '/' }, 'path'),
    bad('a trailing slash', { token: TOKEN, path: '/probe/' }, 'path'),
    bad('a double slash', { token: TOKEN, path: '//evil.example/probe' }, 'path'),
    bad('a .. segment', { token: TOKEN, path: '/a/../probe' }, 'path'),
    bad('a . segment', { token: TOKEN, path: '/a/./probe' }, 'path'),
    bad('a backslash', { token: TOKEN, path: '/a\\probe' }, 'path'),
    bad('an encoded slash', { token: TOKEN, path: '/a%2fprobe' }, 'path'),
    bad('a query', { token: TOKEN, path: '/probe?x=1' }, 'path'),
    bad('a full URL', { token: TOKEN, path: 'https://example.com/probe' }, 'path'),
    bad('options that are not an object', { token: TOKEN, options: 'xFor=1' }, 'options'),
    bad('options that are an array', { token: TOKEN, options: [] }, 'options'),
    bad('options that are null', { token: TOKEN, options: null }, 'options'),
    bad('an unknown option', { token: TOKEN, tokn: TOKEN }, 'tokn'),
  ];
  for (const c of cases) {
    for (const [form, call] of [['probe(app, options)', () => probe(app, c.options as ProbeOptions)], ['probe(options)', () => probe(c.options as ProbeOptions)]] as const) {
      if (form === 'probe(options)' && c.options === undefined) continue;
      try {
        call();
        t.fail(`${c.name}, ${form}: no error`);
      } catch (error) {
        t.ok(isConfigError(error), `${c.name}, ${form}: a configuration error`);
        t.type(error, c.type, `${c.name}: ${c.type.name}`);
        t.match(error, { code: c.code, option: c.option }, `${c.name}: ${(error as Error).message}`);
        const token = (c.options as { token?: unknown } | undefined)?.token;
        if (typeof token === 'string' && token.length > 4) t.notOk((error as Error).message.includes(token), `${c.name}: the token is not quoted`);
      }
    }
  }
  t.throws(() => probe({ token: TOKEN } as unknown as GatewayApp, { token: TOKEN }), { name: 'TypeError', option: 'app' }, 'not an app with options');
  t.throws(() => probe({ token: TOKEN })({} as GatewayApp), { name: 'TypeError', option: 'app' }, 'the middleware given no app');
  for (const path of ['/a', '/.well-known/proxyfix-check', "/a-b_c.d~e!$&'()*+,;=:@/f", '/%C3%A9']) {
    t.doesNotThrow(() => probe(app, { token: TOKEN, path }), `${path} is a path`);
  }
});

t.test('probe(options) in compose, inside proxyFix', async (t) => {
  const { app, seen } = reachedApp();
  const stacked = compose(proxyFix({ xFor: 1, trace: true }), probe({ token: TOKEN, path: '/probe' }))(app);
  const answered = await stacked(createEnv({ ...base, url: '/probe', headers: { 'proxyfix-probe-token': TOKEN, 'x-forwarded-for': '203.0.113.7' } }));
  t.equal((JSON.parse(text(answered.body)) as ProbeAnswer).after.remoteAddr, '203.0.113.7');
  await stacked(createEnv({ ...base, url: '/other' }));
  t.equal(seen.length, 1);
});

t.test('property: any path, token, headers and method: never a throw, never the token, the probe only with it', async (t) => {
  const visible = fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code));
  const token = fc.array(visible, { minLength: 16, maxLength: 48 }).map((chars) => chars.join(''));
  const headerName = fc.oneof(
    fc.constantFrom('proxyfix-probe-token', 'authorization', 'cookie', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto',
      'x-forwarded-prefix', 'forwarded', 'host', 'referer', 'x-api-key', 'x-other', '__proto__', 'constructor'),
    fc.stringMatching(/^[a-z0-9_-]{1,12}$/),
  );
  /** A header value: random text, a real-looking value, or either with the token put in (by index 1). */
  const value = fc.tuple(
    fc.oneof(fc.string(), fc.constantFrom('203.0.113.7', '10.0.0.1, 203.0.113.7', 'https', 'example.com', '/app', 'Bearer x', 'for=1.2.3.4;host=a')),
    fc.constantFrom('plain', 'token', 'prefix', 'suffix'),
  );
  // Weighted towards a GET for the probe path with the right token, the answer that could leak.
  const path = fc.oneof({ arbitrary: fc.constant(PATH), weight: 4 }, fc.constant(`${PATH}/`), fc.string().map((s) => `/${s}`), fc.string().map((s) => `${PATH}${s}`));
  const method = fc.oneof({ arbitrary: fc.constant('GET'), weight: 4 }, fc.constantFrom('HEAD', 'POST', 'PUT', 'OPTIONS', 'DELETE'));
  const sentToken = fc.oneof({ arbitrary: fc.constant('right'), weight: 3 }, fc.constantFrom('none', 'random', 'prefix', 'longer'));
  let answers = 0;
  await fc.assert(fc.asyncProperty(token, path, method, sentToken, fc.array(fc.tuple(headerName, value), { maxLength: 8 }), fc.string(),
    async (secret, url, verb, how, headerList, query) => {
      const put = (v: string, where: string) => where === 'token' ? secret : where === 'prefix' ? `${secret}${v}` : where === 'suffix' ? `${v}${secret}` : v;
      const headers = Object.create(null) as Record<string, string[]>;
      for (const [name, [v, where]] of headerList) (headers[name] ??= []).push(put(v, where));
      delete headers['proxyfix-probe-token'];
      if (how !== 'none') {
        headers['proxyfix-probe-token'] = [how === 'right' ? secret : how === 'prefix' ? secret.slice(0, -1) : how === 'longer' ? `${secret}x` : `${secret.slice(1)}~`];
      }
      const { app, seen } = reachedApp();
      const fixed = proxyFix(probe(app, { token: secret, options: { note: secret } }), { ...FIX, trusted: ['0.0.0.0/1'], xFor: Infinity, trace: true });
      const env = createEnv({ ...base, method: verb, url: `${url}?${query}${query.includes(secret) ? '' : `&t=${secret}`}`, headers });
      const onProbePath = env.pathInfo === PATH;
      const response = await fixed(env);
      t.same(lintResponse(response), [], 'a sound response');
      const body = text(response.body);
      if (!onProbePath) {
        t.equal(seen.length, 1, 'another path reaches the app');
        return;
      }
      t.equal(seen.length, 0, 'the probe path never reaches the app');
      t.notOk(JSON.stringify(response.headers).includes(secret), 'no token in the headers');
      if (how !== 'right') {
        t.equal(body, 'Not Found\n', 'without the token, the bare 404');
        return;
      }
      t.equal(response.status, verb === 'GET' || verb === 'HEAD' ? 200 : 405);
      if (verb !== 'GET') return;
      answers++;
      t.notOk(body.includes(secret), 'the token is not in the body');
      const strings: string[] = [];
      JSON.parse(body, function (this: unknown, key, v) {
        strings.push(key);
        if (typeof v === 'string') strings.push(v);
        return v;
      });
      t.notOk(strings.some((s) => s.includes(secret)), 'nor in any name or value of the JSON');
    }), { numRuns: 300 });
  t.ok(answers > 30, `${answers} of the runs got an answer to look into`);
});


t.test('mounted in a real Express app through the node adapter', async (t) => {
  const app = express();
  app.set('trust proxy', true); // Express's own setting: the adapter must keep it from undoing the fix
  app.get('/hello', (req, res) => { res.json({ ip: req.ip, protocol: req.protocol, host: req.host }); });
  app.use((req, res) => { res.status(404).send(`express 404 for ${req.path}`); });
  const port = await listen(t, toNodeListener(proxyFix(probe(fromNodeListener(app), { token: TOKEN, options: FIX }), { ...FIX, trace: true })));
  const forwarded = { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com', Host: 'app.internal' };

  const answered = await request({ port }, { path: PATH, headers: { ...forwarded, 'PROXYFIX-PROBE-TOKEN': TOKEN, Cookie: 'sid=1' } });
  t.equal(answered.status, 200);
  t.equal(answered.headers['cache-control'], 'no-store');
  const answer = JSON.parse(answered.body) as ProbeAnswer;
  t.match(answer.before, { remoteAddr: '127.0.0.1', scheme: 'http', host: 'app.internal' }, 'before: the socket peer');
  t.match(answer.after, { remoteAddr: '203.0.113.7', scheme: 'https', host: 'example.com' }, 'after: one proxy in');
  t.match(answer.trace, { peer: '127.0.0.1', fields: [{ field: 'for', depth: 1, value: '203.0.113.7', outcome: 'used' }] });
  t.equal(answer.headers.cookie, '(redacted)');
  t.equal(answer.headers['proxyfix-probe-token'], undefined);
  t.same(answer.options, FIX);

  const head = await request({ port }, { method: 'HEAD', path: PATH, headers: { ...forwarded, 'proxyfix-probe-token': TOKEN, Cookie: 'sid=1' } });
  t.equal(head.status, 200);
  t.equal(head.body, '', 'HEAD: no body');
  t.equal(head.headers['content-length'], String(Buffer.byteLength(answered.body)), 'HEAD: the length of the GET');

  const wrong = await request({ port }, { path: PATH, headers: { ...forwarded, 'proxyfix-probe-token': 'nope' } });
  t.same([wrong.status, wrong.body, wrong.headers['cache-control']], [404, 'Not Found\n', 'no-store'], 'a wrong token: the bare 404');
  const posted = await request({ port }, { method: 'POST', path: PATH, body: 'x', headers: { 'proxyfix-probe-token': TOKEN } });
  t.same([posted.status, posted.headers.allow], [405, 'GET, HEAD']);
  const below = await request({ port }, { path: `${PATH}/x`, headers: { 'proxyfix-probe-token': TOKEN } });
  t.same([below.status, below.body], [404, `express 404 for ${PATH}/x`], 'a path below: Express answers');
  const hello = await request({ port }, { path: '/hello', headers: forwarded });
  t.same(JSON.parse(hello.body), { ip: '203.0.113.7', protocol: 'https', host: 'example.com' }, 'other paths: the fixed request reaches Express');
});

// Last: @hono/node-server replaces the global Request and Response with its own when it serves.
t.test('mounted in a Hono app through the fetch adapter, served by @hono/node-server', async (t) => {
  const { serve } = await import('@hono/node-server');
  const hono = new Hono();
  hono.get('/hello', (c) => c.text(`hello ${c.req.url}`));
  const handler = toFetchHandler(proxyFix(probe(fromFetchHandler(hono.fetch), { token: TOKEN }), { xFor: 1, xProto: 1, trusted: ['loopback'], trace: true, warnings: false }));
  const server = serve({ fetch: handler, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.teardown(() => { server.close(); });
  const port = (server.address() as AddressInfo).port;
  const forwarded = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' };

  const answered = await request({ port }, { path: PATH, headers: { ...forwarded, 'proxyfix-probe-token': TOKEN } });
  t.equal(answered.status, 200);
  t.equal(answered.headers['content-type'], 'application/json; charset=utf-8');
  const answer = JSON.parse(answered.body) as ProbeAnswer;
  t.match(answer, { before: { remoteAddr: '127.0.0.1', scheme: 'http' }, after: { remoteAddr: '203.0.113.9', scheme: 'https' }, trace: { peerTrusted: true } });
  const head = await request({ port }, { method: 'HEAD', path: PATH, headers: { ...forwarded, 'proxyfix-probe-token': TOKEN } });
  t.same([head.status, head.body, head.headers['content-length']], [200, '', String(Buffer.byteLength(answered.body))], 'HEAD');
  const missing = await request({ port }, { path: PATH, headers: forwarded });
  t.same([missing.status, missing.body], [404, 'Not Found\n'], 'no token: the bare 404');
  const hello = await request({ port }, { path: '/hello', headers: forwarded });
  t.equal(hello.body, `hello https://127.0.0.1:${port}/hello`, 'other paths reach Hono, fixed');

  // The fetch handler called directly, with no server: the peer is unknown, so nothing is trusted.
  const direct = await handler(new Request(`http://a.example${PATH}`, { headers: { ...forwarded, 'proxyfix-probe-token': TOKEN } }));
  t.match(JSON.parse(await direct.text()) as ProbeAnswer, { after: { remoteAddr: '', scheme: 'http' }, trace: { peerTrusted: false } });
});
