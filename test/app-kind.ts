/**
 * Telling apps apart. Wrapping the wrong kind of app used to be accepted and then answered a 500 to
 * every request; every wrapper must refuse it where it is written, and name the adapter to use.
 * The apps are real Express, Connect, Koa, Fastify and Hono objects.
 */
import t from 'tap';
import connect from 'connect';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';
import { APP_KIND, checkGatewayApp, checkNodeListener, recognize, type Recognized } from '../src/app-kind.js';
import { fromFetchHandler, toFetchHandler } from '../src/adapters/fetch.js';
import { fromNodeListener, toNodeListener } from '../src/adapters/node.js';
import type { GatewayApp } from '../src/gateway.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { rewriteHeaders } from '../src/middleware/rewrite.js';
import { trustGate } from '../src/middleware/trust-gate.js';
import { serve } from '../src/server/serve.js';
import { createFastify, fetchObject, gatewayApp, listener } from './fixtures/apps-any.js';

const expressApp = express();
const koaApp = new Koa();
const honoApp = new Hono();
const fastifyApp = createFastify();
const fetchOutput = toFetchHandler(gatewayApp);

t.test('recognize: what each value is taken for', async (t) => {
  const cases: [string, unknown, Recognized][] = [
    ['a gateway arrow function', (env: unknown) => ({ status: 200, env }), { kind: 'gateway', what: 'a gateway app' }],
    ['a function of no arguments', () => ({ status: 200 }), { kind: 'gateway', what: 'a gateway app' }],
    ['proxyFix\'s output', proxyFix(gatewayApp), { kind: 'gateway', what: 'a gateway app' }],
    ['an Express app', expressApp, { kind: 'node', what: 'an Express app' }],
    ['a Connect app', connect(), { kind: 'node', what: 'a Connect app' }],
    ['a (req, res) listener', listener, { kind: 'node', what: 'a node:http request listener (it takes req and res)' }],
    ['a (req, res, next) listener', (_req: unknown, _res: unknown, _next: unknown) => undefined,
      { kind: 'node', what: 'a node:http request listener (it takes req and res)' }],
    ['Koa\'s app.callback()', koaApp.callback(), { kind: 'node', what: 'a node:http request listener (it takes req and res)' }],
    ['a Koa app', koaApp, { kind: 'koa', what: 'a Koa app' }],
    ['a Fastify instance', fastifyApp, { kind: 'fastify', what: 'a Fastify instance' }],
    ['a Hono app', honoApp, { kind: 'fetch-object', what: 'an object with a fetch method (a Hono app?)' }],
    ['an object with fetch', fetchObject, { kind: 'fetch-object', what: 'an object with a fetch method (a Hono app?)' }],
    ['a holder', { gatewayApp }, { kind: 'holder', what: 'a holder of a gateway app' }],
    ['a holder of a string', { gatewayApp: 'app' }, { kind: 'unknown', what: 'an object' }],
    ['an object with fetch that is not a function', { fetch: 'https://example.com' }, { kind: 'unknown', what: 'an object' }],
    ['toNodeListener\'s output', toNodeListener(gatewayApp), { kind: 'node', what: 'a node:http request listener' }],
    ['toFetchHandler\'s output', fetchOutput, { kind: 'fetch', what: 'a fetch handler' }],
    ['fromNodeListener\'s output', fromNodeListener(listener), { kind: 'gateway', what: 'a gateway app' }],
    ['fromFetchHandler\'s output', fromFetchHandler(fetchObject.fetch), { kind: 'gateway', what: 'a gateway app' }],
    ['a string', 'app', { kind: 'unknown', what: '"app"' }],
    ['null', null, { kind: 'unknown', what: 'null' }],
    ['undefined', undefined, { kind: 'unknown', what: 'undefined' }],
    ['a number', 42, { kind: 'unknown', what: '42' }],
    ['an array', [gatewayApp], { kind: 'unknown', what: 'an array' }],
  ];
  for (const [name, value, expected] of cases) t.same(recognize(value), expected, name);
  t.equal((fetchOutput as unknown as Record<symbol, unknown>)[APP_KIND], 'fetch', 'the tag is a symbol property');
  t.notOk(Object.keys(fetchOutput).length, 'the tag is not enumerable');
});

/** What the message must name for each wrong kind of app. */
const WRONG_APPS: [string, unknown, RegExp][] = [
  ['an Express app', expressApp, /got an Express app: wrap it with fromNodeListener\(listener\), or use proxyFixNode\(listener, options\) from "proxyfix\/node"$/],
  ['a Koa app', koaApp, /got a Koa app: pass app\.callback\(\) to fromNodeListener, or use proxyFixNode\(app\.callback\(\), options\)/],
  ['a Fastify instance', fastifyApp, /got a Fastify instance: give Fastify a serverFactory that wraps its handler with proxyFixNode/],
  ['a Hono app', honoApp, /got an object with a fetch method \(a Hono app\?\): wrap its fetch with fromFetchHandler\(app\.fetch\), or use proxyFixFetch/],
  ['toFetchHandler\'s output', fetchOutput, /got a fetch handler: wrap it with fromFetchHandler\(handler\), or use proxyFixFetch\(handler, options\) from "proxyfix\/fetch"$/],
  ['toNodeListener\'s output', toNodeListener(gatewayApp), /got a node:http request listener: wrap it with fromNodeListener/],
];

const WRAPPERS: [string, (app: unknown) => unknown][] = [
  ['proxyFix(app, options)', (app) => proxyFix(app as GatewayApp, { xFor: 1 })],
  ['proxyFix(app)', (app) => proxyFix(app as GatewayApp)],
  ['proxyFix(options)(app)', (app) => proxyFix({ xFor: 1 })(app as GatewayApp)],
  ['rewriteHeaders(app, options)', (app) => rewriteHeaders(app as GatewayApp, { map: { 'x-real-ip': 'remoteAddr' } })],
  ['rewriteHeaders(options)(app)', (app) => rewriteHeaders({ map: { 'x-real-ip': 'remoteAddr' } })(app as GatewayApp)],
  ['trustGate(app, options)', (app) => trustGate(app as GatewayApp, { trusted: ['loopback'] })],
  ['trustGate(options)(app)', (app) => trustGate({ trusted: ['loopback'] })(app as GatewayApp)],
  ['allowedHosts(app, hosts)', (app) => allowedHosts(app as GatewayApp, ['example.com'])],
  ['allowedHosts(hosts)(app)', (app) => allowedHosts(['example.com'])(app as GatewayApp)],
  ['compose()(app)', (app) => compose()(app as GatewayApp)],
  ['compose(proxyFix(options))(app)', (app) => compose(proxyFix({ xFor: 1 }))(app as GatewayApp)],
  ['toNodeListener(app)', (app) => toNodeListener(app as GatewayApp)],
  ['toFetchHandler(app)', (app) => toFetchHandler(app as GatewayApp)],
];

/** The one-argument form takes options; an app object given there is still an app, not options. */
const OBJECT_APPS = WRONG_APPS.filter(([, app]) => typeof app === 'object');
const ONE_ARGUMENT: [string, (app: unknown) => unknown][] = [
  ['rewriteHeaders(app)', (app) => rewriteHeaders(app as never)],
  ['trustGate(app)', (app) => trustGate(app as never)],
  ['allowedHosts(app)', (app) => allowedHosts(app as never)],
];

t.test('every wrapper refuses the wrong kind of app when it is written, naming the adapter', async (t) => {
  for (const [wrapper, wrap] of WRAPPERS) {
    for (const [name, app, advice] of WRONG_APPS) {
      t.test(`${wrapper} with ${name}`, async (t) => {
        const error = (() => {
          try {
            wrap(app);
          } catch (thrown) {
            return thrown as TypeError & { code: string; option: string };
          }
          return undefined;
        })();
        t.type(error, TypeError);
        t.equal(error?.code, 'ERR_PROXYFIX_OPTION_TYPE');
        t.equal(error?.option, 'app');
        t.match(error?.message, /^`app` must be a gateway app \(a function\)/);
        t.match(error?.message, advice);
      });
    }
  }
});

t.test('the one-argument forms refuse an app object instead of reading it as options', async (t) => {
  for (const [wrapper, wrap] of ONE_ARGUMENT) {
    for (const [name, app, advice] of OBJECT_APPS) {
      t.throws(() => wrap(app), { name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'app', message: advice }, `${wrapper} with ${name}`);
    }
  }
  t.equal(OBJECT_APPS.length, 3);
});

t.test('serve with interface gateway refuses them too, before it listens', async (t) => {
  for (const [name, app, advice] of WRONG_APPS) {
    await t.rejects(serve(app as GatewayApp, { interface: 'gateway', bind: '127.0.0.1:0', log: false, accessLog: false }), {
      name: 'TypeError',
      code: 'ERR_PROXYFIX_OPTION_TYPE',
      message: advice,
    }, name);
  }
  await t.rejects(serve('app' as unknown as GatewayApp, { log: false }), {
    code: 'ERR_PROXYFIX_OPTION_TYPE',
    message: '`app` must be a gateway app (a function) or an object with a gatewayApp function, got "app"',
  }, 'something that is no app at all: no advice');
  await t.rejects(serve({ gatewayApp: 'x' } as unknown as GatewayApp, { log: false }), {
    message: '`app` must be a gateway app (a function) or an object with a gatewayApp function, got an object',
  }, 'a holder of something that is not an app');
});

t.test('checkGatewayApp: holders only where asked for', async (t) => {
  t.doesNotThrow(() => checkGatewayApp('app', gatewayApp));
  t.doesNotThrow(() => checkGatewayApp('app', { gatewayApp }, true));
  t.throws(() => checkGatewayApp('app', { gatewayApp }), {
    code: 'ERR_PROXYFIX_OPTION_TYPE',
    message: '`app` must be a gateway app (a function), got a holder of a gateway app: wrap the app it holds, holder.gatewayApp = proxyFix(holder.gatewayApp, options)',
  });
  t.throws(() => checkGatewayApp('inner', undefined), { option: 'inner', message: '`inner` must be a gateway app (a function), got undefined' });
});

t.test('checkNodeListener: fromNodeListener takes listeners and says what to do with anything else', async (t) => {
  const accepted: [string, unknown][] = [
    ['a (req, res) listener', listener],
    ['an Express app', expressApp],
    ['a Connect app', connect()],
    ['Koa\'s app.callback()', koaApp.callback()],
    ['toNodeListener\'s output', toNodeListener(gatewayApp)],
    // Fastify hands its serverFactory a one-argument-looking handler; any untagged function is let through.
    ['an untagged function of one argument', (req: unknown) => req],
  ];
  for (const [name, value] of accepted) {
    t.doesNotThrow(() => checkNodeListener('listener', value), name);
    t.equal(typeof fromNodeListener(value as never), 'function', `${name}: fromNodeListener wraps it`);
  }
  const refused: [string, unknown, string][] = [
    ['a Koa app', koaApp, 'got a Koa app: pass app.callback(), which is one'],
    ['a Fastify instance', fastifyApp, 'got a Fastify instance: give Fastify a serverFactory and wrap the handler it is given'],
    ['a Hono app', honoApp, 'got an object with a fetch method (a Hono app?): use fromFetchHandler(app.fetch) instead'],
    ['toFetchHandler\'s output', fetchOutput, 'got a fetch handler: use fromFetchHandler for a fetch handler'],
    ['fromNodeListener\'s output', fromNodeListener(listener), 'got a gateway app: a gateway app needs no adapter: wrap it with the middlewares directly'],
    ['fromFetchHandler\'s output', fromFetchHandler(fetchObject.fetch), 'got a gateway app: a gateway app needs no adapter'],
    ['a holder', { gatewayApp }, 'got a holder of a gateway app: a gateway app needs no adapter: wrap its gatewayApp with the middlewares directly'],
    ['a string', 'listener', 'got "listener"'],
  ];
  for (const [name, value, message] of refused) {
    t.throws(() => fromNodeListener(value as never), {
      name: 'TypeError',
      code: 'ERR_PROXYFIX_OPTION_TYPE',
      option: 'listener',
      message: `\`listener\` must be a node:http request listener (req, res), ${message}`,
    }, name);
  }
  t.throws(() => fromNodeListener('listener' as never), { message: /got "listener"$/ }, 'no advice for what is no app');
});
