/** trustGate: which headers an untrusted peer loses, rejection, the record, and option errors. */
import t from 'tap';
import { createEnv, type EnvInit, type GatewayApp } from '../src/gateway.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { STRIPPED, trustGate, type TrustGateOptions } from '../src/middleware/trust-gate.js';
import { bodyText, fields, innerApp, run } from './fixtures/run.js';

const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/' };
const trusted = ['10.0.0.0/8'];
const client = '203.0.113.66';

/** Every forwarding header the gate knows, with the ordinary headers that must survive it. */
const forwarding: Record<string, string> = {
  'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example',
  'x-forwarded-port': '443', 'x-forwarded-prefix': '/evil', 'x-forwarded-server': 'evil', 'x-forwarded-ssl': 'on',
  x_forwarded_for: '1.2.3.4', 'x_forwarded-host': 'evil.example', 'x-forwarded': 'for=1.2.3.4',
  forwarded: 'for=1.2.3.4;proto=https', 'x-real-ip': '1.2.3.4', x_real_ip: '1.2.3.4', 'x-client-ip': '1.2.3.4',
  'true-client-ip': '1.2.3.4', 'cf-connecting-ip': '1.2.3.4', 'fastly-client-ip': '1.2.3.4',
  'x-cluster-client-ip': '1.2.3.4', 'client-ip': '1.2.3.4', 'x-original-forwarded-for': '1.2.3.4',
  'x-original-host': 'evil.example', 'x-original-url': '/admin', 'x-rewrite-url': '/admin',
};
const ordinary: Record<string, string> = {
  host: 'app.internal:8000', accept: '*/*', 'x-forwardedfor': 'kept: not a known name',
  'x-request-id': 'abc', cookie: 'a=b', 'x-fhost': 'evil.example',
};

interface Case {
  name: string;
  options: TrustGateOptions;
  init?: EnvInit;
  headers: Record<string, string>;
  /** The header names the app must not see; `null` when the peer is trusted and nothing is recorded. */
  stripped: string[] | null;
}

const cases: Case[] = [
  { name: 'a trusted peer keeps every header', options: { trusted }, headers: { ...forwarding, ...ordinary }, stripped: null },
  { name: 'an untrusted peer loses every forwarding header, in any spelling', options: { trusted }, init: { remoteAddr: client },
    headers: { ...forwarding, ...ordinary }, stripped: Object.keys(forwarding) },
  { name: 'an untrusted peer with none of them: recorded as none', options: { trusted }, init: { remoteAddr: client },
    headers: ordinary, stripped: [] },
  { name: 'extra names, compared without case and with _ as -', options: { trusted, headers: ['X-FHost', 'x_custom_ip'] },
    init: { remoteAddr: client }, headers: { ...ordinary, 'x-custom-ip': '1.2.3.4', x_fhost: 'evil.example' },
    stripped: ['x-fhost', 'x-custom-ip', 'x_fhost'] },
  { name: 'an empty trust list trusts no one', options: { trusted: [] }, headers: { 'x-forwarded-for': '1.2.3.4' },
    stripped: ['x-forwarded-for'] },
  { name: 'a Unix socket peer is untrusted by default', options: { trusted: ['loopback'] }, init: { remoteAddr: '' },
    headers: { 'x-forwarded-for': '1.2.3.4' }, stripped: ['x-forwarded-for'] },
  { name: 'a Unix socket peer with trustUnixSocket', options: { trusted: ['loopback'], trustUnixSocket: true },
    init: { remoteAddr: '' }, headers: { 'x-forwarded-for': '1.2.3.4' }, stripped: null },
  { name: 'an IPv4-mapped peer matches an IPv4 range', options: { trusted }, init: { remoteAddr: '::ffff:10.0.0.2' },
    headers: { 'x-forwarded-for': '1.2.3.4' }, stripped: null },
  { name: 'a predicate', options: { trusted: (addr) => addr.startsWith('10.') }, init: { remoteAddr: client },
    headers: { 'x-forwarded-for': '1.2.3.4' }, stripped: ['x-forwarded-for'] },
  { name: 'header names in capitals from a sloppy adapter are still found', options: { trusted }, init: { remoteAddr: client },
    headers: { 'X-Forwarded-For': '1.2.3.4' }, stripped: ['X-Forwarded-For'] },
];

t.test('named cases: strip', async (t) => {
  for (const c of cases) {
    const env = createEnv({ ...base, ...c.init });
    env.headers = { ...c.headers };
    const app = innerApp();
    const response = await trustGate(app, c.options)(env);
    t.equal(response.status, 204, `${c.name}: the app answered`);
    t.same(env.ext[STRIPPED], c.stripped ?? undefined, `${c.name}: recorded`);
    const expected = Object.fromEntries(Object.entries(c.headers).filter(([name]) => !(c.stripped ?? []).includes(name)));
    t.same(env.headers, expected, `${c.name}: the headers the app saw`);
  }
});

/**
 * Names that used to pass the gate although a library reads them as the client's address, scheme,
 * host or prefix (issue 12, hole 8). Each is sent as Node gives it and as a CGI-style server would
 * name it; the reader is in fixtures/forwarding-headers.json.
 */
const readElsewhere: [name: string, value: string, reader: string][] = [
  ['forwarded-for', '1.2.3.4', 'request-ip'],
  ['x-appengine-user-ip', '1.2.3.4', 'request-ip'],
  ['x-0-client-ip', '1.2.3.4', 'request-ip (pull request #78)'],
  ['do-connecting-ip', '1.2.3.4', 'request-ip (master)'],
  ['cf-pseudo-ipv4', '1.2.3.4', 'request-ip'],
  ['x-azure-clientip', '1.2.3.4', 'realclientip-go'],
  ['x-azure-socketip', '1.2.3.4', 'realclientip-go'],
  ['x-original-for', '1.2.3.4', 'ASP.NET Core'],
  ['x-original-proto', 'https', 'ASP.NET Core'],
  ['x-original-prefix', '/evil', 'ASP.NET Core'],
  ['x-original-port', '443', 'ASP.NET Core'],
  ['front-end-https', 'on', 'CodeIgniter'],
  ['x-url-scheme', 'https', 'Echo'],
];

t.test('names other libraries read as the client are stripped from an untrusted peer, in any spelling', async (t) => {
  const gate = trustGate(innerApp(), { trusted });
  for (const [name, value, reader] of readElsewhere) {
    // As a CGI-style server names it; set on the env directly, since createEnv lower-cases names.
    const cgi = name.toUpperCase().replaceAll('-', '_');
    for (const spelling of [name, cgi]) {
      const untrusted = createEnv({ ...base, remoteAddr: client });
      untrusted.headers = { ...ordinary, [spelling]: value };
      await gate(untrusted);
      t.same(untrusted.headers, ordinary, `${spelling} (read by ${reader}) is gone from an untrusted peer's request, and nothing else`);
      t.same(untrusted.ext[STRIPPED], [spelling], `${spelling}: recorded`);
      const proxied = createEnv(base);
      proxied.headers = { ...ordinary, [spelling]: value };
      await gate(proxied);
      t.equal(proxied.headers[spelling], value, `${spelling} from a trusted proxy is kept`);
    }
  }
});

t.test('reject answers with a short plain-text body and never calls the app', async (t) => {
  const options: TrustGateOptions = { trusted, onUntrusted: 'reject' };
  const forged = await run(trustGate(options), { ...base, remoteAddr: client, headers: { 'x-forwarded-host': '<script>evil</script>' } });
  t.notOk(forged.reached);
  t.equal(forged.response.status, 403);
  t.same(forged.response.headers, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  t.equal(bodyText(forged.response), "Forbidden: forwarding headers are accepted only from this server's proxies\n");
  t.same(forged.env.ext[STRIPPED], ['x-forwarded-host'], 'the names that caused it are recorded');
  t.equal(forged.env.headers['x-forwarded-host'], '<script>evil</script>', 'and the env is left as it was');

  const badRequest = await run(trustGate({ ...options, status: 400 }), { ...base, remoteAddr: client, headers: { forwarded: 'for=1.2.3.4' } });
  t.equal(badRequest.response.status, 400);
  t.match(bodyText(badRequest.response), /^Bad Request: /);

  const plain = await run(trustGate(options), { ...base, remoteAddr: client, headers: { accept: '*/*' } });
  t.ok(plain.reached, 'an untrusted peer without forwarding headers goes on: a health check, a direct client');
  const proxied = await run(trustGate(options), { ...base, headers: { 'x-forwarded-for': '1.2.3.4' } });
  t.ok(proxied.reached, 'a trusted peer goes on');

  // Each rejection is a fresh object: an outer middleware may add headers to it.
  const gate = trustGate(innerApp(), options);
  const one = await gate(createEnv({ ...base, remoteAddr: client, headers: { 'x-real-ip': '1.2.3.4' } }));
  one.headers!['x-extra'] = '1';
  const two = await gate(createEnv({ ...base, remoteAddr: client, headers: { 'x-real-ip': '1.2.3.4' } }));
  t.equal(two.headers!['x-extra'], undefined);
});

t.test('the peer is the socket peer, whatever a fixer before the gate wrote', async (t) => {
  const stack = (app: GatewayApp) => proxyFix(trustGate(app, { trusted }), {});
  const { env } = await run(stack, { ...base, remoteAddr: client, headers: { 'x-forwarded-for': '10.0.0.9', 'x-real-ip': '1.2.3.4' } });
  t.equal(env.remoteAddr, '10.0.0.9', 'the blind fixer ran first');
  t.same(env.ext[STRIPPED], ['x-forwarded-for', 'x-real-ip'], 'the gate still saw the client');
});

t.test('with proxyFix behind it, a direct client changes nothing even when proxyFix trusts blindly', async (t) => {
  const stack = (app: GatewayApp) => trustGate(proxyFix(app, { xHost: 1, xPrefix: 1 }), { trusted });
  const init = { ...base, remoteAddr: client, headers: { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-host': 'evil.example', 'x-forwarded-prefix': '/evil' } };
  const { env } = await run(stack, init);
  t.same(fields(env), fields(createEnv(init)));
});

t.test('both call forms build the same middleware', async (t) => {
  const init = { ...base, remoteAddr: client, headers: { 'x-forwarded-for': '1.2.3.4' } };
  const twoArgs = await run((app) => trustGate(app, { trusted }), init);
  const curried = await run(trustGate({ trusted }), init);
  t.same(curried.env.headers, twoArgs.env.headers);
  t.equal(trustGate(innerApp(), { trusted }).name, 'trustGated');
  t.throws(() => trustGate(undefined as never, { trusted }), { name: 'TypeError', option: 'app' });
  t.throws(() => trustGate({ trusted })(null as never), { name: 'TypeError', option: 'app' });
});

t.test('configuration errors name the option', async (t) => {
  const app = innerApp();
  const bad: [unknown, string, string, string][] = [
    [undefined, 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['10.0.0.1', 'options', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{}, 'trusted', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: 5 }, 'trusted', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: ['nope'] }, 'trusted[0]', 'TypeError', 'ERR_PROXYFIX_TRUST_ENTRY'],
    [{ trusted, trustUnixSocket: 1 }, 'trustUnixSocket', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted, onUntrusted: 'drop' }, 'onUntrusted', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted, status: 403 }, 'status', 'TypeError', 'ERR_PROXYFIX_OPTION_CONFLICT'],
    [{ trusted, onUntrusted: 'reject', status: 401 }, 'status', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted, onUntrusted: 'reject', status: '403' }, 'status', 'RangeError', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted, headers: 'x-fhost' }, 'headers', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted, headers: ['x-fhost', 'x fhost'] }, 'headers[1]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted, headers: [7] }, 'headers[0]', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted, reject: true }, 'reject', 'TypeError', 'ERR_PROXYFIX_OPTION_TYPE'],
  ];
  for (const [options, option, name, code] of bad) {
    t.throws(() => trustGate(app, options as TrustGateOptions), {
      name, code, option, message: new RegExp(`^\`${option.replace(/[[\]]/g, '\\$&')}\` `),
    }, `${String(JSON.stringify(options))} names ${option}`);
  }
});
