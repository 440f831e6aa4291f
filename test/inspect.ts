/**
 * The inspection app: what it says about a request behind proxyFix, as JSON and as HTML.
 */
import t from 'tap';
import { createEnv, type EnvInit, type GatewayApp, type GatewayResponse } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { escapeHtml, inspectApp, prefersHtml, type Inspection, type InspectOptions } from '../src/server/inspect.js';
import { serve } from '../src/server/serve.js';
import { request } from './fixtures/http-client.js';

/** A request from proxy 10.0.0.2 to the app server at app.internal:8000. */
const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/users/1?x=1' };

async function inspect(options: ProxyFixOptions | null, init: EnvInit, inspectOptions?: InspectOptions): Promise<Inspection> {
  const inner = inspectApp(inspectOptions);
  const app: GatewayApp = options === null ? inner : proxyFix(inner, { ...options, trace: true });
  const response = await app(createEnv({ ...base, ...init }));
  return JSON.parse(response.body as string) as Inspection;
}

t.test('the env before and after fixing, and what changed', async (t) => {
  const result = await inspect({ xFor: 1, xProto: 1, xHost: 1 }, {
    headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com' },
  });
  t.same(result.before, {
    remoteAddr: '10.0.0.2', remotePort: '50000', scheme: 'http', host: 'app.internal:8000', serverName: 'app.internal',
    serverPort: '8000', scriptName: '', pathInfo: '/users/1', queryString: 'x=1', url: 'http://app.internal:8000/users/1?x=1',
  });
  t.same(result.after, {
    remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com', serverName: 'example.com',
    serverPort: '443', scriptName: '', pathInfo: '/users/1', queryString: 'x=1', url: 'https://example.com/users/1?x=1',
  });
  t.same(result.changed, ['remoteAddr', 'remotePort', 'scheme', 'host', 'serverName', 'serverPort', 'url']);
  t.match(result.trace, { family: 'x-forwarded', peer: '10.0.0.2', fields: [{ field: 'for', outcome: 'used' }] });
  t.same(result.request, {
    method: 'GET',
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' },
  });
});

t.test('the verdict, case by case', async (t) => {
  interface Case { name: string; options: ProxyFixOptions; init: EnvInit; verdict: (string | RegExp)[] }
  const cases: Case[] = [
    { name: 'one proxy, counted right', options: {}, init: { headers: { 'x-forwarded-for': '203.0.113.7' } },
      verdict: ['1 proxy seen in x-forwarded-for; your xFor is 1, the client address used is 203.0.113.7 (value 1 from the right).'] },
    { name: 'one value more than counted', options: {}, init: { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' } },
      verdict: ['2 proxies seen in x-forwarded-for; your xFor is 1, the client address used is 203.0.113.7 (value 1 from the right). ' +
        'The value to its left was ignored: a client can write those. Only if 2 proxies of yours append to x-forwarded-for should xFor be 2.'] },
    { name: 'several values more than counted', options: { xFor: 1 }, init: { headers: { 'x-forwarded-for': '1.1.1.1, 6.6.6.6, 203.0.113.7' } },
      verdict: [/^3 proxies seen .* The 2 values to its left were ignored: .* should xFor be 3\.$/] },
    { name: 'no proxy', options: {}, init: {},
      verdict: ['No proxy seen: there is no x-forwarded-for header, so the client address used is the socket peer, 10.0.0.2.'] },
    { name: 'xFor 0', options: { xFor: 0 }, init: { headers: { 'x-forwarded-for': '203.0.113.7' } },
      verdict: ['xFor is 0, so x-forwarded-for is not read and the client address used is the socket peer, 10.0.0.2.'] },
    { name: 'fewer values than counted', options: { xFor: 2 }, init: { headers: { 'x-forwarded-for': '203.0.113.7' } },
      verdict: [/^1 proxy seen in x-forwarded-for; your xFor is 2, but xFor is 2 but x-forwarded-for has fewer values: .*; the client address used is the socket peer, 10\.0\.0\.2\.$/] },
    { name: 'a value that is not an address', options: {}, init: { headers: { 'x-forwarded-for': 'evil.example' } },
      verdict: ['1 proxy seen in x-forwarded-for; your xFor is 1, but "evil.example" is not a valid for value; left unchanged; ' +
        'the client address used is the socket peer, 10.0.0.2.'] },
    { name: 'a Unix socket peer', options: {}, init: { remoteAddr: '', remotePort: '' },
      verdict: ['No proxy seen: there is no x-forwarded-for header, so the client address used is the socket peer, none (a Unix socket peer).'] },
    { name: 'scheme, host, port and prefix in use', options: { xHost: 1, xPort: 1, xPrefix: 1 },
      init: { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com',
        'x-forwarded-port': '8443', 'x-forwarded-prefix': '/app' } },
      verdict: [/^1 proxy seen/, 'x-forwarded-proto: scheme https (xProto is 1).', 'x-forwarded-host: host example.com (xHost is 1).',
        'x-forwarded-port: port 8443 (xPort is 1).', 'x-forwarded-prefix: prefix "/app" (xPrefix is 1).'] },
    { name: 'headers present that the options do not read', options: {},
      init: { headers: { 'x-forwarded-host': 'example.com', 'x-forwarded-prefix': '/app' } },
      verdict: [/^No proxy seen/,
        'x-forwarded-host is present but xHost is 0, so it is ignored; if a proxy of yours sets it, set xHost to 1.',
        'x-forwarded-prefix is present but xPrefix is 0, so it is ignored; if a proxy of yours sets it, set xPrefix to 1.'] },
    { name: 'an invalid scheme', options: {}, init: { headers: { 'x-forwarded-proto': 'javascript' } },
      verdict: [/^No proxy seen/, 'x-forwarded-proto: "javascript" is not a valid proto value; left unchanged (xProto is 1).'] },
  ];
  for (const c of cases) {
    t.match((await inspect(c.options, c.init)).verdict, c.verdict, c.name);
    t.equal((await inspect(c.options, c.init)).verdict.length, c.verdict.length, `${c.name}: nothing else`);
  }
});

t.test('without a trace, it says how to get one', async (t) => {
  const result = await inspect(null, { headers: { 'x-forwarded-for': '203.0.113.7' } });
  t.same(result.verdict, ['No decision trace: nothing says what proxyFix decided. Serve this app as ' +
    'proxyFix(inspectApp(), { ...yourOptions, trace: true }), or with `proxyfix serve --inspect`. ' +
    'The client address the app sees is 10.0.0.2.']);
  t.equal(result.trace, null);
  t.same(result.before, result.after);
  t.same(result.changed, []);

  const fixedWithoutTrace = proxyFix(inspectApp(), { xFor: 1 });
  const response = await fixedWithoutTrace(createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.7' } }));
  const fixed = JSON.parse(response.body as string) as Inspection;
  t.equal(fixed.before.remoteAddr, '10.0.0.2', 'before still comes from the originals record');
  t.equal(fixed.after.remoteAddr, '203.0.113.7');
});

t.test('with a trust list: an untrusted peer is said once, first; the family not chosen is named', async (t) => {
  const result = await inspect({ forwarded: 1, trusted: ['10.0.0.0/8'] }, {
    remoteAddr: '198.51.100.9',
    headers: { forwarded: 'for=1.2.3.4, for=5.6.7.8;proto=https', 'x-forwarded-for': '6.6.6.6' },
  });
  t.match(result.verdict, [
    'The peer 198.51.100.9 is not in your trusted list, so no forwarded header was believed.',
    /^2 proxies seen in forwarded; your forwarded is 1, but the peer 198\.51\.100\.9 is not in the trust list.*; the client address used is the socket peer, 198\.51\.100\.9\.$/,
    /^x-forwarded-for: forwarded is set, so x-forwarded-for is ignored.*\.$/,
  ]);
  t.equal(result.verdict.length, 3);

  const trusted = await inspect({ xFor: 2, trusted: ['10.0.0.0/8'] }, {
    headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.1', forwarded: 'for=1.2.3.4' },
  });
  t.same(trusted.verdict, [
    '2 proxies seen in x-forwarded-for; your xFor is 2, the client address used is 198.51.100.1 (value 1 from the right). ' +
      'The value to its left was ignored: a client can write those.',
    'forwarded: X-Forwarded-* headers are configured, so Forwarded is ignored: a client may have sent it.',
  ], 'the walk stops at the first untrusted hop: that is the client');
  t.equal(trusted.trace?.peerTrusted, true);
});

t.test('credentials are redacted; which headers is an option', async (t) => {
  const headers = { Authorization: 'Bearer secret', Cookie: 'session=secret', 'X-Api-Key': 'key', Accept: '*/*' };
  t.same((await inspect({}, { headers })).request.headers, {
    authorization: '(redacted)', cookie: '(redacted)', 'x-api-key': 'key', accept: '*/*',
  });
  t.same((await inspect({}, { headers }, { redact: ['X-API-KEY'] })).request.headers, {
    authorization: 'Bearer secret', cookie: 'session=secret', 'x-api-key': '(redacted)', accept: '*/*',
  });
});

t.test('options are checked when the app is made', async (t) => {
  const cases: [unknown, RegExp][] = [
    ['x', /^`options` must be an object, got "x"$/],
    [null, /^`options` must be an object, got null$/],
    [{ redacted: [] }, /^`redacted` is not an? inspectApp option$/],
    [['redact'], /^`options` must be an object, got an array$/],
    [{ redact: 'cookie' }, /^`redact` must be an array of header names, got "cookie"$/],
    [{ redact: ['cookie', 1] }, /^`redact` must be an array of header names, got an array$/],
  ];
  for (const [options, message] of cases) {
    t.throws(() => inspectApp(options as InspectOptions), { name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', message });
  }
});

t.test('prefersHtml: a browser gets HTML, curl and API clients JSON', async (t) => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ['*/*', false],
    ['application/json', false],
    ['text/html', true],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8', true],
    ['text/*', true],
    ['application/json, text/html;q=0.9', false],
    ['text/html;q=0.5, application/json;q=0.4', true],
    ['text/html;q=0', false],
    ['text/html;q=abc', false],
    ['TEXT/HTML ; Q=1', true],
    ['image/png', false],
  ];
  for (const [accept, html] of cases) t.equal(prefersHtml(accept), html, String(accept));
});

t.test('escapeHtml escapes what could end a text node or an attribute', async (t) => {
  t.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#60;/a&#62;');
  t.equal(escapeHtml(42), '42');
});

t.test('the HTML page: the same content, every value escaped', async (t) => {
  const app = proxyFix(inspectApp(), { xFor: 1, trace: true });
  const response = await app(createEnv({
    ...base,
    headers: { accept: 'text/html', 'x-forwarded-for': '203.0.113.7', 'user-agent': '<script>alert(1)</script>' },
  })) as GatewayResponse & { body: string };
  t.match(response.headers, {
    'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', Vary: 'Accept',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  });
  t.notMatch(response.body, /<script>/, 'no markup from the request');
  t.match(response.body, '&#60;script&#62;alert(1)&#60;/script&#62;');
  t.match(response.body, /<li>1 proxy seen in x-forwarded-for; your xFor is 1, the client address used is 203\.0\.113\.7/);
  t.match(response.body, '<tr class="changed"><td>remoteAddr</td><td>10.0.0.2</td><td>203.0.113.7</td></tr>');
  t.match(response.body, '<tr><td>scheme</td><td>http</td><td>http</td></tr>');
  t.match(response.body, '<tr><td>x-forwarded-for</td><td>xFor 1</td><td>1</td><td>203.0.113.7</td><td>used</td>');
  t.match(response.body, '<tr><td>x-forwarded-host</td><td>xHost 0</td><td></td><td></td><td>disabled</td>');

  const untraced = await inspectApp()(createEnv({ headers: { accept: 'text/html' } })) as GatewayResponse & { body: string };
  t.match(untraced.body, /<h2>Decision trace<\/h2>\n<table>\n<tr><th>header<\/th>.*<\/tr>\n\n<\/table>/, 'an empty trace table');
});

t.test('over HTTP, behind proxyFix, as a user curls it', async (t) => {
  const server = await serve(proxyFix(inspectApp(), { xFor: 1, xProto: 1, trace: true }), { bind: '127.0.0.1:0', accessLog: false, log: false });
  t.teardown(() => server.close());
  const port = Number(server.addresses[0]!.split(':')[1]);
  const json = await request({ port }, { path: '/check?a=1', headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https' } });
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8');
  const body = JSON.parse(json.body) as Inspection;
  t.match(body.before, { remoteAddr: '127.0.0.1', scheme: 'http', url: `http://127.0.0.1:${port}/check?a=1` });
  t.match(body.after, { remoteAddr: '203.0.113.7', scheme: 'https', url: `https://127.0.0.1:${port}/check?a=1` });
  t.match(body.verdict[0], /^1 proxy seen in x-forwarded-for; your xFor is 1, the client address used is 203\.0\.113\.7/);
  const html = await request({ port }, { headers: { Accept: 'text/html' } });
  t.match(html.body, /^<!doctype html>/);
});
