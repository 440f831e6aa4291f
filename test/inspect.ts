/**
 * The inspection app: what it says about a request behind proxyFix, as JSON and as HTML.
 */
import fc from 'fast-check';
import t from 'tap';
import { createEnv, type EnvInit, type GatewayApp, type GatewayResponse } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { escapeHtml, inspectApp, prefersHtml, type Inspection, type InspectOptions } from '../src/server/inspect.js';
import { serve } from '../src/server/serve.js';
import { host as hostAndPort, hostName } from './fixtures/arbitraries.js';
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

t.test('redaction, case by case: credentials never come back, and the answer names what was hidden', async (t) => {
  interface Case {
    name: string;
    init: EnvInit;
    /** proxyFix options (trace on); `{}` when not given. */
    options?: ProxyFixOptions;
    inspectOptions?: InspectOptions;
    /** What the answer must hold (`t.has`: these keys with these values). */
    has?: Record<string, unknown>;
    /** Exactly what `redacted` says; a list not given is empty. */
    redacted?: Partial<Inspection['redacted']>;
  }
  const cases: Case[] = [
    { name: 'Authorization, Proxy-Authorization and Cookie, as before',
      init: { headers: { Authorization: 'Bearer S1', 'Proxy-Authorization': 'Basic S2', Cookie: 'session=S3', Accept: '*/*' } },
      has: { request: { headers: { authorization: '(redacted)', 'proxy-authorization': '(redacted)', cookie: '(redacted)', accept: '*/*' } } },
      redacted: { headers: ['authorization', 'proxy-authorization', 'cookie'] } },
    { name: 'underscore and other spellings of the same names',
      init: { headers: { Proxy_Authorization: 'Basic S1', HTTP_AUTHORIZATION: 'Bearer S2', 'Set-Cookie': 'a=S3', 'x.api.key': 'S4' } },
      has: { request: { headers: { proxy_authorization: '(redacted)', http_authorization: '(redacted)', 'set-cookie': '(redacted)', 'x.api.key': '(redacted)' } } },
      redacted: { headers: ['proxy_authorization', 'http_authorization', 'set-cookie', 'x.api.key'] } },
    { name: 'the usual credential headers',
      init: { headers: { 'X-Api-Key': 'S1', X_Api_Key: 'S2', 'X-Auth-Token': 'S3', 'X-CSRF-Token': 'S4', 'X-XSRF-TOKEN': 'S5', 'X-Amz-Security-Token': 'S6' } },
      has: { request: { headers: { 'x-api-key': '(redacted)', x_api_key: '(redacted)' } } },
      redacted: { headers: ['x-api-key', 'x_api_key', 'x-auth-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token'] } },
    { name: 'names that say token, secret, password, session, key or signature',
      init: { headers: { 'X-Vault-Token': 'S1', 'X-Client-Secret': 'S2', 'X-DB-Password': 'S3', 'X-Session-Id': 'S4', 'Cf-Access-Jwt-Assertion': 'S5',
        'X-Hub-Signature-256': 'S6', 'X-Forwarded-Access-Token': 'S7', 'Private-Token': 'S8', 'X-Access-Key': 'S9', 'X-Signing-Key': 'S10' } },
      redacted: { headers: ['x-vault-token', 'x-client-secret', 'x-db-password', 'x-session-id', 'cf-access-jwt-assertion',
        'x-hub-signature-256', 'x-forwarded-access-token', 'private-token', 'x-access-key', 'x-signing-key'] } },
    { name: 'a value that is credentials, whatever the header is called',
      init: { headers: { 'X-Upstream': 'Bearer S1', 'X-Other': 'basic S2', 'X-Note': 'Bearer' } },
      has: { request: { headers: { 'x-upstream': '(redacted)', 'x-other': '(redacted)', 'x-note': 'Bearer' } } },
      redacted: { headers: ['x-upstream', 'x-other'] } },
    { name: 'ordinary headers are shown as sent',
      init: { headers: { 'User-Agent': 'curl/8.5.0', 'X-Forwarded-For': '203.0.113.7', 'X-Request-Id': 'abc', 'Keep-Alive': 'timeout=5',
        'X-Keyword': 'k', 'X-Monkey': 'm', From: 'ops@example.com' } },
      has: { request: { headers: { 'user-agent': 'curl/8.5.0', 'x-forwarded-for': '203.0.113.7', 'x-request-id': 'abc', 'keep-alive': 'timeout=5',
        'x-keyword': 'k', 'x-monkey': 'm', from: 'ops@example.com' } } } },
    { name: 'tokens in the query string, in the fields and the URL',
      init: { url: '/cb?access_token=S1&page=2&api_key=S2&sig=S3&q=token&key=S4&pwd=S5' },
      has: { before: { queryString: 'access_token=(redacted)&page=2&api_key=(redacted)&sig=(redacted)&q=token&key=(redacted)&pwd=(redacted)',
        url: 'http://app.internal:8000/cb?access_token=(redacted)&page=2&api_key=(redacted)&sig=(redacted)&q=token&key=(redacted)&pwd=(redacted)' },
        after: { queryString: 'access_token=(redacted)&page=2&api_key=(redacted)&sig=(redacted)&q=token&key=(redacted)&pwd=(redacted)' } },
      redacted: { parameters: ['access_token', 'api_key', 'sig', 'key', 'pwd'] } },
    { name: 'query names by the same rules: case, - or _, percent-encoding, ; as a separator, brackets',
      init: { url: '/x?Access-Token=S1&acc%65ss_token=S2&a=1;password=S3&user[password]=S4&keys=k&token=&token%=S5' },
      has: { after: { queryString: 'Access-Token=(redacted)&acc%65ss_token=(redacted)&a=1;password=(redacted)&user[password]=(redacted)&keys=k&token=&token%=(redacted)' } },
      redacted: { parameters: ['Access-Token', 'access_token', 'password', 'user[password]', 'token%'] } },
    { name: 'a session id as a path parameter',
      init: { url: '/cart;jsessionid=S1?x=1' },
      has: { after: { pathInfo: '/cart;jsessionid=(redacted)', queryString: 'x=1' } },
      redacted: { parameters: ['jsessionid'] } },
    { name: 'userinfo in the Host header, the host fields and the URL',
      init: { host: 'admin:S1@app.internal:8000', headers: { host: 'admin:S1@app.internal:8000' } },
      has: { request: { headers: { host: '(redacted)@app.internal:8000' } },
        before: { host: '(redacted)@app.internal:8000', serverName: '(redacted)@app.internal:8000', url: 'http://(redacted)@app.internal:8000/users/1?x=1' } },
      redacted: { userinfo: ['host', 'serverName'] } },
    { name: 'userinfo in a Host without a port: the server name and port split from it are hidden too',
      init: { host: 'S1:S2@app.internal', headers: { host: 'S1:S2@app.internal' } },
      has: { before: { host: '(redacted)@app.internal', serverName: '(redacted)', serverPort: '(redacted)@app.internal', url: 'http://(redacted)@app.internal/users/1?x=1' } },
      redacted: { userinfo: ['host', 'serverName', 'serverPort'] } },
    { name: 'userinfo and tokens in URLs in any header',
      init: { headers: { Referer: 'https://S1:S2@site.example/p?token=S3#top', 'X-Forwarded-Uri': '/cb?state=1&id_token=S4', 'X-Original-URL': '//S5@cdn.example/',
        'X-Empty-Userinfo': 'http://@a.example/' } },
      has: { request: { headers: { referer: 'https://(redacted)@site.example/p?token=(redacted)#top', 'x-forwarded-uri': '/cb?state=1&id_token=(redacted)',
        'x-original-url': '//(redacted)@cdn.example/', 'x-empty-userinfo': 'http://@a.example/' } } },
      redacted: { parameters: ['token', 'id_token'], userinfo: ['referer', 'x-original-url'] } },
    { name: 'userinfo in X-Forwarded-Host: in the header, the trace and the verdict',
      options: { xHost: 1 }, init: { headers: { 'x-forwarded-host': 'a.example, S1:S2@evil.example' } },
      has: { request: { headers: { 'x-forwarded-host': '(redacted)@evil.example' } },
        trace: { fields: [{}, {}, { field: 'host', value: '(redacted)@evil.example', detail: '"(redacted)@evil.example" is not a valid host value; left unchanged' }] },
        verdict: ['No proxy seen: there is no x-forwarded-for header, so the client address used is the socket peer, 10.0.0.2.',
          'x-forwarded-host: "(redacted)@evil.example" is not a valid host value; left unchanged (xHost is 1).'] },
      redacted: { userinfo: ['trace', 'x-forwarded-host'] } },
    { name: 'userinfo in a Forwarded host',
      options: { forwarded: 1 }, init: { headers: { forwarded: 'for=203.0.113.7;host="S1:S2@evil.example";proto=https' } },
      has: { request: { headers: { forwarded: '(redacted)@evil.example";proto=https' } } },
      redacted: { userinfo: ['trace', 'forwarded'] } },
    { name: 'a token in a forwarded prefix, in the trace',
      options: { xPrefix: 1 }, init: { headers: { 'x-forwarded-prefix': '/app?token=S1' } },
      has: { request: { headers: { 'x-forwarded-prefix': '/app?token=(redacted)' } },
        trace: { fields: [{}, {}, {}, {}, { field: 'prefix', value: '/app?token=(redacted)', detail: '"/app?token=(redacted)" is not a valid prefix value; left unchanged' }] } },
      redacted: { parameters: ['token'] } },
    { name: 'a URL with userinfo as a forwarded prefix, in the trace',
      options: { xPrefix: 1 }, init: { headers: { 'x-forwarded-prefix': '//S1:S2@evil.example/' } },
      has: { trace: { fields: [{}, {}, {}, {}, { field: 'prefix', value: '//(redacted)@evil.example/',
        detail: '"//(redacted)@evil.example/" is not a valid prefix value; left unchanged' }] } },
      redacted: { userinfo: ['trace', 'x-forwarded-prefix'] } },
    { name: 'redact adds names, for headers and parameters alike',
      inspectOptions: { redact: ['X_Tenant', 'Page'] }, init: { url: '/x?page=S1', headers: { 'x-tenant': 'S2', Authorization: 'Basic S3' } },
      has: { request: { headers: { 'x-tenant': '(redacted)', authorization: '(redacted)' } }, after: { queryString: 'page=(redacted)' } },
      redacted: { headers: ['x-tenant', 'authorization'], parameters: ['page'] } },
    { name: 'reveal shows what a rule would hide, by name',
      inspectOptions: { reveal: ['Cookie', 'author', 'Sec-WebSocket-Key'] },
      init: { url: '/books?author=Le_Guin&token=S1', headers: { cookie: 'theme=dark', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-api-key': 'S2' } },
      has: { request: { headers: { cookie: 'theme=dark', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-api-key': '(redacted)' } },
        after: { queryString: 'author=Le_Guin&token=(redacted)' } },
      redacted: { headers: ['x-api-key'], parameters: ['token'] } },
    { name: 'nothing to hide', init: {} },
  ];
  for (const c of cases) {
    const result = await inspect(c.options ?? {}, c.init, c.inspectOptions);
    if (c.has) t.has(result, c.has, c.name);
    t.same(result.redacted, { headers: [], parameters: [], userinfo: [], ...c.redacted }, `${c.name}: what was hidden`);
    t.notMatch(JSON.stringify(result), /S\d/, `${c.name}: no credential anywhere in the answer`);
  }
});

/** A name as clients spell it: any case, `-` or `_` between words. */
function spelled(words: readonly string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom('-', '_'), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 })).map(([separator, upper]) =>
    [...words.join(separator)].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));
}

/** A parameter name, at times with one letter percent-encoded (`acc%65ss_token`). */
function encodedOrNot(name: string): fc.Arbitrary<string> {
  return fc.nat(name.length - 1).map((i) => (/[a-z]/i.test(name[i]!) && i % 2 === 0
    ? `${name.slice(0, i)}%${name.charCodeAt(i).toString(16)}${name.slice(i + 1)}`
    : name));
}

t.test('property: no credential placed by the rules comes back, in JSON or in HTML', async (t) => {
  // Tokens as they are made: base64, base64url, hex, JWTs (letters, digits, and `._~+=-`).
  const secret = fc.stringMatching(/^[A-Za-z0-9._~+=-]{12,40}$/);
  const headerName = fc.constantFrom(
    ['authorization'], ['proxy', 'authorization'], ['cookie'], ['x', 'api', 'key'], ['x', 'auth', 'token'], ['x', 'csrf', 'token'],
    ['x', 'vault', 'token'], ['x', 'client', 'secret'], ['x', 'db', 'password'], ['x', 'session', 'id'], ['http', 'authorization'],
  ).chain(spelled);
  const parameterName = fc.constantFrom(['access', 'token'], ['api', 'key'], ['token'], ['password'], ['client', 'secret'], ['sig'],
    ['id', 'token'], ['session'], ['apikey'], ['x', 'amz', 'signature']).chain(spelled).chain(encodedOrNot);
  const placed = fc.record({
    headers: fc.array(fc.tuple(headerName, secret, fc.constantFrom('', 'Bearer ', 'Basic ')), { maxLength: 3 }),
    schemeValue: fc.option(fc.tuple(fc.constantFrom('Bearer ', 'basic ', 'Digest username='), secret), { nil: undefined }),
    query: fc.array(fc.tuple(parameterName, secret), { maxLength: 3 }),
    separator: fc.constantFrom('&', ';'),
    hostUserinfo: fc.option(fc.tuple(fc.option(secret, { nil: undefined }), secret, hostAndPort), { nil: undefined }),
    referer: fc.option(fc.tuple(secret, parameterName, secret), { nil: undefined }),
    forwardedHost: fc.option(fc.tuple(secret, hostName), { nil: undefined }),
    xHost: fc.integer({ min: 0, max: 2 }),
    html: fc.boolean(),
  });
  await fc.assert(fc.asyncProperty(placed, async (p) => {
    const secrets: string[] = [];
    const keep = (value: string) => { secrets.push(value); return value; };
    const headers: Record<string, string> = { 'x-forwarded-for': '203.0.113.7' };
    for (const [name, value, scheme] of p.headers) headers[name] = scheme + keep(value);
    if (p.schemeValue) headers['x-upstream-credentials'] = p.schemeValue[0] + keep(p.schemeValue[1]);
    let host = 'app.internal:8000';
    if (p.hostUserinfo) {
      const [user, password, hostPart] = p.hostUserinfo;
      host = `${user === undefined ? '' : `${keep(user)}:`}${keep(password)}@${hostPart}`;
    }
    headers.host = host;
    if (p.referer) headers.referer = `https://${keep(p.referer[0])}@site.example/p?${p.referer[1]}=${keep(p.referer[2])}`;
    if (p.forwardedHost) headers['x-forwarded-host'] = `a.example, ${keep(p.forwardedHost[0])}@${p.forwardedHost[1]}`;
    if (p.html) headers.accept = 'text/html';
    const query = ['page=2', ...p.query.map(([name, value]) => `${name}=${keep(value)}`)].join(p.separator);
    const app = proxyFix(inspectApp(), { xHost: p.xHost, trace: true });
    const response = await app(createEnv({ ...base, host, url: `/cb?${query}`, headers }));
    const answer = response.body as string;
    return secrets.every((value) => !answer.includes(value));
  }), { numRuns: 300 });
  t.pass('300 requests, no credential in any answer');
});

t.test('the HTML page says what was hidden, by name', async (t) => {
  const page = async (init: EnvInit) =>
    ((await inspectApp()(createEnv({ ...base, ...init, headers: { accept: 'text/html', ...init.headers } }))) as GatewayResponse & { body: string }).body;
  const hidden = await page({ url: '/cb?access_token=S1', host: 'u:S2@app.internal', headers: { Proxy_Authorization: 'Basic S3', referer: 'http://S4@a.example/' } });
  t.match(hidden, '<h2>Redacted</h2>\n<table>\n<tr><th>what</th><th>names</th></tr>\n' +
    '<tr><td>headers</td><td>proxy_authorization</td></tr>\n<tr><td>parameters</td><td>access_token</td></tr>\n' +
    '<tr><td>userinfo</td><td>host, serverName, serverPort, referer</td></tr>\n</table>');
  t.match(hidden, '<tr><td>queryString</td><td>access_token=(redacted)</td><td>access_token=(redacted)</td></tr>');
  t.notMatch(hidden, /S\d/, 'no credential on the page');
  const clean = await page({});
  t.match(clean, '<tr><td>headers</td><td>none</td></tr>\n<tr><td>parameters</td><td>none</td></tr>\n<tr><td>userinfo</td><td>none</td></tr>');
});

t.test('options are checked when the app is made', async (t) => {
  const cases: [unknown, RegExp][] = [
    ['x', /^`options` must be an object, got "x"$/],
    [null, /^`options` must be an object, got null$/],
    [{ redacted: [] }, /^`redacted` is not an? inspectApp option$/],
    [['redact'], /^`options` must be an object, got an array$/],
    [{ redact: 'cookie' }, /^`redact` must be an array of header names, got "cookie"$/],
    [{ redact: ['cookie', 1] }, /^`redact` must be an array of header names, got an array$/],
    [{ reveal: 'cookie' }, /^`reveal` must be an array of header names, got "cookie"$/],
    [{ reveal: [null] }, /^`reveal` must be an array of header names, got an array$/],
    [{ redact: ['cookie', '-'] }, /^`redact\[1\]` must be a header or parameter name \(letters or digits\), got "-"$/],
    [{ reveal: [''] }, /^`reveal\[0\]` must be a header or parameter name \(letters or digits\), got ""$/],
  ];
  for (const [options, message] of cases) {
    t.throws(() => inspectApp(options as InspectOptions), { name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', message });
  }
  t.throws(() => inspectApp({ redact: ['x-tenant'], reveal: ['cookie', 'Cookie', 'X_Tenant'] }), {
    name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_CONFLICT', message: /^`reveal\[2\]` is also in `redact`: a name is either hidden or shown$/,
  });
  t.doesNotThrow(() => inspectApp({ redact: [], reveal: [] }));
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

  const secret = await request({ port }, {
    path: '/cb?access_token=S1',
    headers: { Host: `admin:S2@127.0.0.1:${port}`, Proxy_Authorization: 'Basic S3', 'X-Api-Key': 'S4' },
  });
  t.notMatch(secret.body, /S\d/, 'as node:http receives them: no credential comes back');
  t.same((JSON.parse(secret.body) as Inspection).redacted, {
    headers: ['proxy_authorization', 'x-api-key'], parameters: ['access_token'], userinfo: ['host', 'serverName'],
  });
});
