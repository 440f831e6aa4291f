/**
 * Properties of stacks built from trustGate, rewriteHeaders, proxyFix and allowedHosts:
 * 1. compose equals nesting by hand, and equals applying each middleware to the env in turn;
 * 2. a peer that is not trusted never changes an env field, whatever the stack and the headers;
 * 3. no request makes any of them throw, and a sound env stays sound.
 */
import t from 'tap';
import fc from 'fast-check';
import { createEnv, lintEnv, lintResponse, type EnvInit, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../src/gateway.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { rewriteHeaders, type RewriteHeadersOptions } from '../src/middleware/rewrite.js';
import { trustGate, type TrustGateOptions } from '../src/middleware/trust-gate.js';
import type { TrustInput } from '../src/net/trust.js';
import * as arb from './fixtures/arbitraries.js';
import { fields } from './fixtures/run.js';

const proxies = ['10.0.0.0/8'];
const proxy = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `10.0.${a}.${b}`);
const client = fc.oneof(
  arb.ipv4.filter((a) => !a.startsWith('10.')),
  arb.ipv6.filter((a) => !a.startsWith('::ffff:')),
);

/** One middleware of a stack, described as data so that it can be built in both forms. */
type Spec =
  | { kind: 'gate'; options: TrustGateOptions }
  | { kind: 'rewrite'; options: RewriteHeadersOptions }
  | { kind: 'fix'; options: ProxyFixOptions }
  | { kind: 'hosts'; hosts: string[] };

function curried(spec: Spec) {
  switch (spec.kind) {
    case 'gate': return trustGate(spec.options);
    case 'rewrite': return rewriteHeaders(spec.options);
    case 'fix': return proxyFix(spec.options);
    case 'hosts': return allowedHosts(spec.hosts);
  }
}

function wrap(spec: Spec, app: GatewayApp): GatewayApp {
  switch (spec.kind) {
    case 'gate': return trustGate(app, spec.options);
    case 'rewrite': return rewriteHeaders(app, spec.options);
    case 'fix': return proxyFix(app, spec.options);
    case 'hosts': return allowedHosts(app, spec.hosts);
  }
}

const maps: RewriteHeadersOptions['map'][] = [
  { 'x-fhost': 'host', 'x-real-ip': 'remoteAddr', 'x-scheme': 'scheme' },
  { 'x-script-name': 'scriptName', 'x-forwarded-server': 'serverName', 'x-port': 'serverPort', 'x-real-port': 'remotePort' },
  { 'x-forwarded-host': { field: 'host', count: 2 }, 'x-forwarded-for': 'remoteAddr' },
];

/** Middlewares that trust `trusted`: with an untrusted peer none of them may change anything. */
function trustingSpec(trusted: fc.Arbitrary<TrustInput>): fc.Arbitrary<Spec> {
  return fc.oneof(
    fc.record({ trusted, onUntrusted: fc.constantFrom('strip' as const, 'reject' as const), headers: fc.constantFrom([], ['x-fhost', 'x-scheme']) })
      .map((options): Spec => ({ kind: 'gate', options })),
    fc.record({ map: fc.constantFrom(...maps), trusted, count: fc.constantFrom(1, 2), trace: fc.boolean() })
      .map((options): Spec => ({ kind: 'rewrite', options })),
    fc.oneof(
      fc.record({ xFor: fc.constantFrom(0, 1, 2, Infinity), xProto: fc.constantFrom(0, 1, 2), xHost: fc.constantFrom(0, 1, Infinity), xPort: fc.constantFrom(0, 1), xPrefix: fc.constantFrom(0, 1) }),
      fc.record({ forwarded: fc.constantFrom(1, 2, Infinity), xPrefix: fc.constantFrom(0, 1) }),
    ).chain((counts) => fc.record({ trusted, trace: fc.boolean() }).map((rest): Spec => ({ kind: 'fix', options: arb.walkable({ ...counts, ...rest, warnings: false }) }))),
    fc.constantFrom(['example.com', '*.example.com'], ['app.internal:8000'], ['[2001:db8::1]', '192.0.2.1', 'bücher.example'])
      .map((hosts): Spec => ({ kind: 'hosts', hosts: [...hosts] })),
  );
}

/** Any spec, including ones that trust every peer, so that stacks do change things. */
const anySpec: fc.Arbitrary<Spec> = fc.oneof(
  trustingSpec(fc.constant(proxies)),
  // Trusting every peer by predicate behaves as no trust list does, without the rewriter's warning.
  trustingSpec(fc.constant(() => true)),
  fc.record({ xFor: fc.constantFrom(0, 1, 2), xHost: fc.constantFrom(0, 1), xPrefix: fc.constantFrom(0, 1) })
    .map((options): Spec => ({ kind: 'fix', options: { ...options, warnings: false } })),
);

const headerNames = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded',
  'x_forwarded_for', 'x-real-ip', 'x-fhost', 'x-scheme', 'x-script-name', 'x-forwarded-server', 'x-port', 'x-real-port', 'accept'];
const headerValue = fc.oneof(
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.constantFrom('https', 'HTTP', 'example.com', 'www.example.com:8443', 'evil.example', '[2001:db8::1]', '443',
    '/app', '//evil', 'for=10.0.0.1;proto=https;host=a.example.com', 'for="[2001:db8::7]:80"', '10.0.0.3', 'unknown', '', ' , ') },
  { weight: 2, arbitrary: arb.forValue.map((v) => v.text) },
  { weight: 2, arbitrary: arb.host },
  { weight: 1, arbitrary: arb.prefix },
  { weight: 1, arbitrary: arb.scheme },
);
/** Each known header present or not; a value of one to three list items. */
const headers = fc.record(
  Object.fromEntries(headerNames.map((name) => [name, fc.array(headerValue, { minLength: 1, maxLength: 3 }).map((values) => values.join(', '))])),
  { requiredKeys: [] },
) as fc.Arbitrary<Record<string, string>>;
const hostHeader = fc.oneof(fc.constantFrom('example.com', 'a.example.com:8443', 'app.internal:8000', 'bücher.example', ''), arb.host, fc.string({ maxLength: 20 }));

function init(peer: string, host: string, h: Record<string, string>, scheme: string): EnvInit {
  return { remoteAddr: peer, remotePort: '40000', host, scheme, headers: h, url: '/x' };
}

interface Result {
  reached: boolean;
  response: GatewayResponse;
  env: GatewayEnv;
}

async function runStack(app: (inner: GatewayApp) => GatewayApp, envInit: EnvInit): Promise<Result> {
  let reached = false;
  const env = createEnv(envInit);
  const response = await app(() => {
    reached = true;
    return { status: 204 };
  })(env);
  return { reached, response, env };
}

/** Everything a stack can affect, in a comparable form. */
function snapshot(r: Result) {
  return JSON.stringify([r.reached, r.response, fields(r.env), r.env.headers, r.env.ext]);
}

const numRuns = 1500;

t.test('compose equals nesting by hand and applying each middleware in turn', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(anySpec, { maxLength: 5 }), fc.oneof(proxy, client), hostHeader, headers, arb.scheme,
    async (specs, peer, host, h, scheme) => {
      const envInit = init(peer, host, h, scheme);
      const composed = await runStack(compose(...specs.map(curried)), envInit);
      const nested = await runStack((inner) => specs.reduceRight((app, spec) => wrap(spec, app), inner), envInit);
      if (snapshot(composed) !== snapshot(nested)) throw new Error(`nested: ${snapshot(nested)}\ncomposed: ${snapshot(composed)}`);

      // In turn: each middleware over the same env, on its own, until one answers instead of the app.
      const env = createEnv(envInit);
      let reached = true;
      let response: GatewayResponse = { status: 204 };
      for (const spec of specs) {
        let passed = false;
        response = await wrap(spec, () => {
          passed = true;
          return { status: 204 };
        })(env);
        if (!passed) {
          reached = false;
          break;
        }
      }
      const inTurn = snapshot({ reached, response, env });
      if (snapshot(composed) !== inTurn) throw new Error(`in turn: ${inTurn}\ncomposed: ${snapshot(composed)}`);
    },
  ), { numRuns });
});

t.test('an untrusted peer never changes an env field, through any stack', async () => {
  const untrustedPeer = fc.oneof(client, fc.constant(''), fc.string({ maxLength: 12 }).filter((s) => !s.startsWith('10.')));
  await fc.assert(fc.asyncProperty(
    fc.array(trustingSpec(fc.constant(proxies)), { minLength: 1, maxLength: 5 }), untrustedPeer, hostHeader, headers, arb.scheme,
    async (specs, peer, host, h, scheme) => {
      const envInit = init(peer, host, h, scheme);
      const { env } = await runStack(compose(...specs.map(curried)), envInit);
      const before = JSON.stringify(fields(createEnv(envInit)));
      if (JSON.stringify(fields(env)) !== before) throw new Error(`changed: ${JSON.stringify(fields(env))}, was ${before}`);
    },
  ), { numRuns });
});

t.test('no request makes a stack throw, and a sound env stays sound', async () => {
  const weirdHeaders = fc.dictionary(fc.oneof(fc.constantFrom(...headerNames), fc.string({ maxLength: 8 })), fc.oneof(headerValue, fc.string()), { maxKeys: 8 });
  const anyPeer = fc.oneof(proxy, client, fc.constant(''), fc.string({ maxLength: 20 }));
  const lenient = fc.oneof(anySpec, trustingSpec(fc.constant(['10.0.0.0/8', 'loopback'])).map((spec): Spec =>
    spec.kind === 'gate' || spec.kind === 'rewrite' ? { ...spec, options: { ...spec.options, trustUnixSocket: true } } as Spec : spec));
  await fc.assert(fc.asyncProperty(
    fc.array(lenient, { maxLength: 5 }), anyPeer, fc.oneof(hostHeader, fc.string()), weirdHeaders, fc.oneof(arb.scheme, fc.string({ maxLength: 6 })),
    async (specs, peer, host, h, scheme) => {
      const envInit = init(peer, host, h, scheme);
      const soundBefore = lintEnv(createEnv(envInit)).length === 0;
      const { env, response } = await runStack(compose(...specs.map(curried)), envInit);
      const responseProblems = lintResponse(response);
      if (responseProblems.length > 0) throw new Error(responseProblems.join('; '));
      const envProblems = lintEnv(env);
      if (soundBefore && envProblems.length > 0) throw new Error(envProblems.join('; '));
    },
  ), { numRuns });
});
