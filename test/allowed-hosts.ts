/** allowedHosts: pattern kinds, ports, Unicode, invalid hosts, the response, the trace and option errors. */
import t from 'tap';
import { createEnv, type EnvInit, type GatewayApp } from '../src/gateway.js';
import { allowedHosts, HOST_CHECK, type AllowedHostsOptions } from '../src/middleware/allowed-hosts.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { bodyText, innerApp, run } from './fixtures/run.js';

const hosts = [
  'example.com',
  '*.example.com',
  'API.Example.ORG.',
  'admin.example.net:8443',
  'bücher.example',
  '*.xn--caf-dma.example',
  '192.0.2.1',
  '[2001:DB8:0::1]',
  '[2001:db8::2]:8080',
  'localhost:8000',
  'localhost:8001',
];

interface Case {
  name: string;
  host: string;
  init?: EnvInit;
  allowed: boolean;
}

const cases: Case[] = [
  // exact names
  { name: 'an exact name', host: 'example.com', allowed: true },
  { name: 'an exact name with any port', host: 'example.com:8080', allowed: true },
  { name: 'case is ignored', host: 'EXAMPLE.com', allowed: true },
  { name: 'a trailing dot is ignored in the request', host: 'example.com.', allowed: true },
  { name: 'a trailing dot and a port', host: 'example.com.:443', allowed: true },
  { name: 'a trailing dot is ignored in the pattern', host: 'api.example.org', allowed: true },
  { name: 'another name', host: 'example.org', allowed: false },
  { name: 'a name that only ends like an allowed one', host: 'evilexample.com', allowed: false },
  { name: 'an allowed name as a prefix of another', host: 'example.com.evil.net', allowed: false },

  // wildcards
  { name: 'a wildcard matches a sub-domain', host: 'www.example.com', allowed: true },
  { name: 'a wildcard matches at any depth', host: 'a.b.c.example.com:9000', allowed: true },
  { name: 'a wildcard does not match a look-alike', host: 'wwwexample.com', allowed: false },
  { name: 'a Unicode wildcard matches its punycode sub-domain', host: 'menu.xn--caf-dma.example', allowed: true },
  { name: 'a wildcard does not match its own apex', host: 'xn--caf-dma.example', allowed: false },

  // ports
  { name: 'a pattern with a port: that port', host: 'admin.example.net:8443', allowed: true },
  { name: 'a pattern with a port: another port', host: 'admin.example.net:443', allowed: false },
  { name: 'a pattern with a port: no port means the scheme\'s', host: 'admin.example.net', allowed: false },
  { name: 'the scheme\'s port can be the pattern\'s', host: 'localhost', init: { scheme: 'http' }, allowed: false },
  { name: 'one name with two ports', host: 'localhost:8001', allowed: true },

  // addresses
  { name: 'an IPv4 literal', host: '192.0.2.1', allowed: true },
  { name: 'an IPv4 literal with a port', host: '192.0.2.1:8080', allowed: true },
  { name: 'another IPv4 address', host: '192.0.2.2', allowed: false },
  { name: 'an IPv4 address in another spelling is not a name', host: '3221225985', allowed: false },
  { name: 'an IPv6 literal in another spelling', host: '[2001:db8::1]', allowed: true },
  { name: 'an IPv6 literal in capitals with a port', host: '[2001:DB8::1]:8443', allowed: true },
  { name: 'an IPv6 literal on its port', host: '[2001:db8::2]:8080', allowed: true },
  { name: 'an IPv6 literal on another port', host: '[2001:db8::2]', allowed: false },
  { name: 'an IPv6 literal with an IPv4 tail, not listed', host: '[::1.2.3.4]', allowed: false },
  { name: 'an IPv6 literal spelled out in full', host: '[2001:0db8:0000:0000:0000:0000:0000:0001]', allowed: true },

  // Unicode
  { name: 'a Unicode name as punycode', host: 'xn--bcher-kva.example', allowed: true },
  { name: 'a Unicode name as Unicode', host: 'bücher.example', allowed: true },
  { name: 'a Unicode name in capitals', host: 'BÜCHER.example:8080', allowed: true },
  { name: 'a full-width look-alike is refused', host: 'ｂücher.example', allowed: false },
  { name: 'a soft hyphen is refused', host: 'bü\u00adcher.example', allowed: false },
  { name: 'a decomposed accent is refused', host: 'bu\u0308cher.example', allowed: false },
  { name: 'a Unicode name that does not map', host: 'a\u200d.example.com', allowed: false },
  { name: 'Unicode with a slash cannot cut the name short', host: 'bücher.example/evil.net', allowed: false },
  { name: 'Unicode in an IPv6 literal', host: '[2001:db8::1ü]', allowed: false },

  // invalid hosts: never matched, whatever they contain (Rack CVE-2026-34835)
  { name: 'a slash', host: 'example.com/evil', allowed: false },
  { name: 'userinfo', host: 'evil.net@example.com', allowed: false },
  { name: 'a space', host: 'example.com evil.net', allowed: false },
  { name: 'a quote', host: 'example.com"', allowed: false },
  { name: 'a NUL', host: 'example.com\0', allowed: false },
  { name: 'a CR LF', host: 'example.com\r\nx: y', allowed: false },
  { name: 'a second port', host: 'example.com:80:80', allowed: false },
  { name: 'a port out of range', host: 'example.com:65536', allowed: false },
  { name: 'an empty port', host: 'example.com:', allowed: false },
  { name: 'an empty label', host: 'www..example.com', allowed: false },
  { name: 'a leading dot', host: '.example.com', allowed: false },
  { name: 'a bare wildcard', host: '*.example.com', allowed: false },
  { name: 'a hex last label', host: 'www.example.0x1', allowed: false },
  { name: 'an unclosed bracket', host: '[2001:db8::1', allowed: false },
  { name: 'a zone id', host: '[fe80::1%25eth0]', allowed: false },

  // no Host header: the server's own name and port, which the app would build URLs from
  { name: 'no Host: the server name and port', host: '', init: { serverName: 'localhost', serverPort: '8000' }, allowed: true },
  { name: 'no Host: a server name not listed', host: '', init: { serverName: 'app.internal', serverPort: '8000' }, allowed: false },
];

t.test('named cases', async (t) => {
  const middleware = allowedHosts({ hosts, trace: true });
  for (const c of cases) {
    const { reached, response, env } = await run(middleware, { scheme: 'https', ...c.init, host: c.host });
    t.equal(reached, c.allowed, `${c.name}: ${JSON.stringify(c.host)} ${c.allowed ? 'allowed' : 'refused'}`);
    t.equal(response.status, c.allowed ? 204 : 400, `${c.name}: status`);
    t.equal(env.ext[HOST_CHECK]!.allowed, c.allowed, `${c.name}: trace`);
  }
});

t.test('a refusal is a short plain-text 400 that never repeats the host', async (t) => {
  const { response } = await run(allowedHosts(['example.com']), { host: 'evil.net<script>' });
  t.equal(response.status, 400);
  t.same(response.headers, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  t.equal(bodyText(response), 'Bad Request: this server does not answer for the requested host\n');
  t.equal((await run(allowedHosts(['example.com']), { host: 'evil.net' })).response.body, bodyText(response), 'the same for a valid host');

  const misdirected = await run(allowedHosts({ hosts: ['example.com'], status: 421 }), { host: 'evil.net' });
  t.equal(misdirected.response.status, 421);
  t.match(bodyText(misdirected.response), /^Misdirected Request: /);
  const unnamed = await run(allowedHosts({ hosts: ['example.com'], status: 499 }), { host: 'evil.net' });
  t.match(bodyText(unnamed.response), /^Client Error: /, 'a status without a reason phrase');

  const app = allowedHosts(innerApp(), ['example.com']);
  const one = await app(createEnv({ host: 'evil.net' }));
  one.headers!['x-extra'] = '1';
  t.equal((await app(createEnv({ host: 'evil.net' }))).headers!['x-extra'], undefined, 'each refusal is a fresh object');
});

t.test('the trace', async (t) => {
  const check = async (host: string, scheme = 'http') => {
    const { env } = await run(allowedHosts({ hosts: ['example.com', '*.example.com:8443'], trace: true }), { host, scheme });
    return env.ext[HOST_CHECK];
  };
  t.same(await check('EXAMPLE.com.'), {
    host: 'EXAMPLE.com.', name: 'example.com', port: '80', allowed: true, pattern: 'example.com', detail: 'allowed by "example.com"',
  });
  t.same(await check('a.example.com:8443'), {
    host: 'a.example.com:8443', name: 'a.example.com', port: '8443', allowed: true, pattern: '*.example.com:8443', detail: 'allowed by "*.example.com:8443"',
  });
  t.same(await check('a.example.com', 'wss'), {
    host: 'a.example.com', name: 'a.example.com', port: '443', allowed: false, pattern: null,
    detail: 'no entry of hosts allows a.example.com on port 443; refused',
  });
  t.same(await check('a b'), { host: 'a b', name: null, port: null, allowed: false, pattern: null, detail: '"a b" is not a valid host; refused' });
  const { env } = await run(allowedHosts(['example.com']), { host: 'example.com' });
  t.equal(env.ext[HOST_CHECK], undefined, 'no trace unless asked');
});

t.test('duplicate and overlapping patterns: the first that allows a port is reported', async (t) => {
  const trace = async (host: string) =>
    (await run(allowedHosts({ hosts: ['a.example:81', 'a.example:81', 'a.example', 'a.example:82'], trace: true }), { host })).env.ext[HOST_CHECK]!;
  t.equal((await trace('a.example:81')).pattern, 'a.example', 'any port wins over a given port');
  t.equal((await trace('a.example:99')).pattern, 'a.example');
});

t.test('after proxyFix it checks the host the app will see', async (t) => {
  const stack = (app: GatewayApp) => proxyFix(allowedHosts(app, ['example.com']), { xHost: 1 });
  const forwarded = await run(stack, { host: 'app.internal:8000', headers: { 'x-forwarded-host': 'example.com' } });
  t.ok(forwarded.reached, 'the forwarded host is allowed');
  const forged = await run(stack, { host: 'example.com', headers: { 'x-forwarded-host': 'evil.net' } });
  t.notOk(forged.reached, 'a forwarded host not listed is refused even though Host was fine');
});

t.test('the cost does not grow with the list', async (t) => {
  // A behavioural check rather than a timing: 20,000 patterns compile, and lookups still find the right one.
  const many = Array.from({ length: 10_000 }, (_, i) => `host${i}.example`).concat(Array.from({ length: 10_000 }, (_, i) => `*.zone${i}.example`));
  const middleware = allowedHosts(many);
  t.ok((await run(middleware, { host: 'host9999.example' })).reached);
  t.ok((await run(middleware, { host: 'a.zone9999.example' })).reached);
  t.notOk((await run(middleware, { host: 'zone9999.example' })).reached);
});

t.test('a Host too long to be a name is refused before any IDNA conversion', async (t) => {
  const hosts = ['é'.repeat(16_384), `${'a'.repeat(510)}.example`, `${'ü'.repeat(600)}.example`];
  for (const host of hosts) {
    const { reached, env } = await run(allowedHosts({ hosts: ['*.example', 'é.example'], trace: true }), { host });
    t.notOk(reached, `${host.length} code units: refused`);
    t.match(env.ext[HOST_CHECK], { allowed: false, name: null, detail: `a Host of ${host.length} characters is longer than any host; refused` });
  }
  // The bound is no lower than the longest real name: 253 characters in punycode, twice that in code units.
  const longest = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(53)}.example`;
  t.equal(longest.length, 253);
  t.ok((await run(allowedHosts(['*.example']), { host: `${longest}:443` })).reached, 'a 253-character name with a port passes');
  const astral = `${'\u{1F600}'.repeat(56)}.example`;
  t.ok((await run(allowedHosts([astral]), { host: astral })).reached, `${astral.length} code units of emoji: checked, and allowed`);
});

t.test('both call forms build the same middleware', async (t) => {
  const twoArgs = await run((app) => allowedHosts(app, ['example.com']), { host: 'example.com' });
  const curried = await run(allowedHosts(['example.com']), { host: 'example.com' });
  const options = await run(allowedHosts({ hosts: ['example.com'] }), { host: 'example.com' });
  t.ok(twoArgs.reached && curried.reached && options.reached);
  t.equal(allowedHosts(innerApp(), ['example.com']).name, 'hostsAllowed');
  t.throws(() => allowedHosts('example.com' as never, ['example.com']), { name: 'TypeError', option: 'app' });
  t.throws(() => allowedHosts(['example.com'])(undefined as never), { name: 'TypeError', option: 'app' });
});

t.test('configuration errors name the entry', async (t) => {
  const app = innerApp();
  const bad: [unknown, string, string, string][] = [
    [undefined, 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['example.com', 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{}, 'hosts', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ hosts: 'example.com' }, 'hosts', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [[], 'hosts', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ hosts: ['a.example'], allowed: [] }, 'allowed', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ hosts: ['a.example'], status: '400' }, 'status', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ hosts: ['a.example'], status: 302 }, 'status', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ hosts: ['a.example'], status: 400.5 }, 'status', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ hosts: ['a.example'], status: 500 }, 'status', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ hosts: ['a.example'], trace: 'on' }, 'trace', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [['a.example', 7], 'hosts[1]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['a.example', 'b.example', '*'], 'hosts[2]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['.example.com'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['*.*.example.com'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['www.*.example.com'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['http://example.com'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['example.com/'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['example.com:0'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['example.com:*'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['2001:db8::1'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['[fe80::1%eth0]'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['*.192.0.2.1'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['*.[2001:db8::1]'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['bü/cher.example'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [['a\u200d.example'], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
    [[''], 'hosts[0]', 'TypeError', 'ERR_PROXYFIX_HOST_PATTERN'],
  ];
  for (const [options, option, name, code] of bad) {
    t.throws(() => allowedHosts(app, options as AllowedHostsOptions), {
      name, code, option, message: new RegExp(`^\`${option.replace(/[[\]]/g, '\\$&')}\` `),
    }, `${String(JSON.stringify(options))} names ${option}`);
  }
  t.throws(() => allowedHosts(app, ['*']), { message: /to allow every host, leave allowedHosts out/ });
  t.throws(() => allowedHosts(app, ['*.10.0.0.1']), { message: /puts a wildcard on an IP address/ });
  // Unicode patterns are mapped as a URL would map them: full-width letters are the same name.
  t.doesNotThrow(() => allowedHosts(app, ['ｅｘａｍｐｌｅ.com']));
  t.ok((await run(allowedHosts(['ｅｘａｍｐｌｅ.com']), { host: 'example.com' })).reached);
});
