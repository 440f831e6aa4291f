/** compose: order, the stack as named cases, and errors. */
import t from 'tap';
import { createEnv, ORIGINALS, type EnvInit, type GatewayApp, type GatewayEnv } from '../src/gateway.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { rewriteHeaders } from '../src/middleware/rewrite.js';
import { STRIPPED, trustGate } from '../src/middleware/trust-gate.js';
import { fields, innerApp, run } from './fixtures/run.js';

t.test('the first middleware listed runs first', async (t) => {
  const order: string[] = [];
  const mark = (name: string) => (app: GatewayApp): GatewayApp => async (env) => {
    order.push(`${name} in`);
    const response = await app(env);
    order.push(`${name} out`);
    return response;
  };
  const app = compose(mark('a'), mark('b'), mark('c'))((env) => {
    order.push('app');
    return { status: 204 };
  });
  t.equal((await app(createEnv())).status, 204);
  t.same(order, ['a in', 'b in', 'c in', 'app', 'c out', 'b out', 'a out']);
  t.equal(compose(mark('a')).name, 'composed');
});

t.test('compose() with no middlewares gives the app back', async (t) => {
  const app = innerApp();
  t.equal(compose()(app), app);
});

t.test('a built stack does not change when the array it came from does', async (t) => {
  const list = [trustGate({ trusted: [] })];
  const stack = compose(...list);
  list.push(allowedHosts(['nowhere.example']));
  t.ok((await run(stack, { host: 'example.com' })).reached);
});

// The stack: the proxy 10.0.0.2 sets X-Forwarded-For/-Proto/-Host; the app serves example.com.
const trusted = ['10.0.0.0/8'];
const stack = compose(
  trustGate({ trusted, headers: ['x-fhost'] }),
  proxyFix({ xProto: 1, xHost: 1, trusted }),
  rewriteHeaders({ map: { 'x-fhost': 'host' }, trusted }),
  allowedHosts(['example.com', '*.example.com']),
);
const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/' };

interface Case {
  name: string;
  init: EnvInit;
  reached: boolean;
  expect?: Partial<ReturnType<typeof fields>>;
}

const cases: Case[] = [
  { name: 'through the proxy: the forwarded values, and an allowed host',
    init: { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.example.com' } },
    reached: true,
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'www.example.com', serverName: 'www.example.com', serverPort: '443' } },
  { name: 'through the proxy: a host not served is refused',
    init: { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'evil.example' } }, reached: false },
  { name: 'the rewriter runs after proxyFix: its host wins',
    init: { headers: { 'x-forwarded-host': 'www.example.com', 'x-fhost': 'api.example.com' } }, reached: true,
    expect: { remoteAddr: '10.0.0.2', host: 'api.example.com', serverName: 'api.example.com', serverPort: '80' } },
  { name: 'a direct client forging every header: nothing taken, its own Host checked',
    init: { remoteAddr: '203.0.113.66', host: 'www.example.com',
      headers: { 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-fhost': 'evil.example' } },
    reached: true, expect: {} },
  { name: 'a direct client with a Host not served', init: { remoteAddr: '203.0.113.66', host: 'evil.example' }, reached: false },
];

t.test('named cases through the issue\'s stack', async (t) => {
  for (const c of cases) {
    const init = { ...base, ...c.init };
    const { env, reached, response } = await run(stack, init);
    t.equal(reached, c.reached, `${c.name}: ${c.reached ? 'reached the app' : 'refused'}`);
    if (!c.reached) t.equal(response.status, 400, `${c.name}: 400`);
    if (c.expect) t.same(fields(env), { ...fields(createEnv(init)), ...c.expect }, c.name);
  }
});

t.test('the stack keeps one record of originals and what was stripped', async (t) => {
  const { env } = await run(stack, { ...base, remoteAddr: '203.0.113.66', host: 'example.com', headers: { 'x-fhost': 'a.example.com', x_forwarded_host: 'b.example.com' } });
  t.same(env.ext[STRIPPED], ['x-fhost', 'x_forwarded_host']);
  t.equal(env.ext[ORIGINALS], undefined, 'nothing was replaced');
  const proxied = await run(stack, { ...base, headers: { 'x-forwarded-host': 'a.example.com', 'x-fhost': 'b.example.com' } });
  t.same(proxied.env.ext[ORIGINALS], { host: 'app.internal:8000', serverName: 'app.internal', serverPort: '8000' }, 'the server\'s values, not proxyFix\'s');
});

t.test('curried and two-argument forms stack the same', async (t) => {
  const manual = (app: GatewayApp) =>
    trustGate(proxyFix(rewriteHeaders(allowedHosts(app, ['example.com', '*.example.com']), { map: { 'x-fhost': 'host' }, trusted }),
      { xProto: 1, xHost: 1, trusted }), { trusted, headers: ['x-fhost'] });
  for (const c of cases) {
    const init = { ...base, ...c.init };
    const a = await run(stack, init);
    const b = await run(manual, init);
    t.same([a.reached, a.response, fields(a.env), a.env.headers], [b.reached, b.response, fields(b.env), b.env.headers], c.name);
  }
});

t.test('errors', async (t) => {
  t.throws(() => compose(trustGate({ trusted }), undefined as never), {
    name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'middlewares[1]', message: /^`middlewares\[1\]` must be a middleware/,
  });
  t.throws(() => compose(trustGate({ trusted }))('app' as never), { name: 'TypeError', option: 'app', message: /got "app"/ });
  const returnsResponse = (() => ({ status: 200 })) as never;
  t.throws(() => compose(trustGate({ trusted }), returnsResponse)(innerApp()), {
    name: 'TypeError', option: 'middlewares[1]', message: /must return a gateway app \(a function\), returned an object/,
  });
  // A factory given without its options is caught when the stack is applied.
  t.throws(() => compose(rewriteHeaders as never)(innerApp()), { name: 'TypeError', option: 'options' });
  const seen: GatewayEnv[] = [];
  const app = compose(trustGate({ trusted }))((env) => {
    seen.push(env);
    return { status: 204 };
  });
  await app(createEnv());
  t.equal(seen.length, 1);
});
