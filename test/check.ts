/**
 * `proxyfix check` without a real proxy: the analysis on the probe's real answers through modelled
 * chains (test/fixtures/check-chains.ts), one named case per mistake it must see; the requests as
 * they go out on the wire and every way an answer can fail to come; the options; and the report
 * in each form. The real nginx, HAProxy and Caddy are in check-samples.ts and check-broken.ts.
 */
import { once } from 'node:events';
import https from 'node:https';
import net from 'node:net';
import t, { type Test } from 'tap';
import { analyse, statusOf, valuesOf, type Analysis, type FindingId, type Severity } from '../src/check/analyse.js';
import { check, runCheck } from '../src/check/index.js';
import { planRequests, probeUrl } from '../src/check/plan.js';
import { currentOptions, recommendedOptions, serveCommand } from '../src/check/recommend.js';
import { printable, progressLine, reportHtml, reportJson, reportText, type CheckReport } from '../src/check/report.js';
import { MAX_BODY, runPlan, send, type Exchange, type Outcome } from '../src/check/run.js';
import { closestSample, proxyNamed } from '../src/check/samples.js';
import { isConfigError } from '../src/options.js';
import type { ProbeAnswer } from '../src/middleware/probe.js';
import { certificate } from './fixtures/certificates.js';
import {
  changed, CLIENT, DIRECT_HREF, EDGE, exchangesOf, INNER, probed, TOKEN, URL_HREF, type ModelDeployment,
} from './fixtures/check-chains.js';
import { startApp } from './fixtures/proxyfix-servers.js';
import { tempDir } from './fixtures/teardown.js';

/** The analysis of a modelled deployment, with the direct URL tried when the model says so. */
async function analysed(deployment: ModelDeployment): Promise<Analysis> {
  return analyse(await exchangesOf(deployment), deployment.url === undefined ? URL_HREF : probeUrl(deployment.url, 'url').href, deployment.direct === undefined ? undefined : DIRECT_HREF);
}

function ids(analysis: Analysis, severity?: Severity): FindingId[] {
  return analysis.findings.filter((f) => severity === undefined || f.severity === severity).map((f) => f.id);
}

/** The ones every deployment of the samples' shape gets: what a safe chain looks like. */
const SAFE = ['header-set', 'header-set', 'removed', 'aliases-removed', 'connection-ignored', 'repeated-lines-handled', 'options-fit'];

interface Case {
  name: string;
  deployment: ModelDeployment;
  status: 0 | 1 | 2 | 3;
  /** Findings (id, severity, and the header, option or field they name) that must be there. */
  finds: { id: FindingId; severity: Severity; header?: string; option?: string; field?: string; message?: RegExp }[];
  /** The recommended options as code. */
  recommended?: string;
}

const CASES: Case[] = [
  {
    name: 'one proxy that replaces what a client sends, options to match (the samples\' shape)',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1 } },
    status: 0,
    finds: [
      { id: 'header-set', severity: 'ok', header: 'X-Forwarded-For', message: /set by 1 proxy, "203\.0\.113\.9" in a plain request; the first replaces/ },
      { id: 'removed', severity: 'ok', message: /X-Forwarded-Host, X-Forwarded-Port, X-Forwarded-Prefix and Forwarded are removed/ },
      { id: 'options-fit', severity: 'ok' },
    ],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
  },
  {
    name: 'overwrite vs append: the first proxy appends to X-Forwarded-For, the count is right',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-for': 'append' })], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'appends', severity: 'wrong', header: 'X-Forwarded-For', message: /set by 1 proxy, which appends to what a client sent, so a client's values reach the app/ }],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
  },
  {
    name: 'overwrite vs append: appending, and xFor one too high, lets a client choose its address',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-for': 'append' })], options: { xFor: 2, xProto: 1 } },
    status: 1,
    finds: [
      { id: 'appends', severity: 'wrong', header: 'X-Forwarded-For' },
      { id: 'spoofable', severity: 'spoofable', field: 'remoteAddr', message: /client address: X-Forwarded-For \(198\.51\.100\.1\) sent by the check became its remoteAddr/ },
      { id: 'count-too-high', severity: 'wrong', option: 'xFor', message: /xFor is 2, but 1 proxy sets X-Forwarded-For, so the app reads a value a client wrote; set it to 1/ },
    ],
  },
  {
    name: 'overwrite vs append: two proxies, the first of them appending',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-for': 'append' }), INNER], options: { xFor: 2, xProto: 1 } },
    status: 2,
    finds: [{ id: 'appends', severity: 'wrong', header: 'X-Forwarded-For', message: /^X-Forwarded-For: set by 2 proxies, the first of them appending to what a client sent/ }],
    recommended: 'proxyFix(app, { xFor: 2, xProto: 1 })',
  },
  {
    name: 'overwrite vs append: appending a value the proxy writes too (a client\'s "https" before the proxy\'s)',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-proto': 'append' })], options: { xFor: 1, xProto: 1 }, url: 'http://example.com/' },
    status: 2,
    finds: [{ id: 'appends', severity: 'wrong', header: 'X-Forwarded-Proto' }],
  },
  {
    name: 'a client\'s Forwarded passed through next to the proxy\'s X-Forwarded-*',
    deployment: { proxies: [changed(EDGE, { forwarded: undefined })], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'forwarded-passes-through', severity: 'wrong', header: 'Forwarded', message: /proxyFix ignores it, but other code may not/ }],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
  },
  {
    name: 'a client\'s Forwarded passed through, and read: the wrong family',
    deployment: { proxies: [changed(EDGE, { forwarded: undefined })], options: { forwarded: 1 } },
    status: 1,
    finds: [
      { id: 'passes-through', severity: 'wrong', header: 'Forwarded' },
      { id: 'spoofable', severity: 'spoofable', field: 'remoteAddr', header: 'Forwarded' },
      { id: 'wrong-family', severity: 'wrong', message: /set X-Forwarded-\*, but proxyFix reads Forwarded/ },
    ],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
  },
  {
    name: 'count too high: xFor 3 behind two proxies that replace, then append',
    deployment: { proxies: [EDGE, INNER], options: { xFor: 3, xProto: 1 } },
    status: 2,
    finds: [
      { id: 'count-too-high', severity: 'wrong', option: 'xFor', message: /xFor is 3, but 2 proxies set X-Forwarded-For, so the app finds too few values and ignores it; set it to 2/ },
      { id: 'consider-trusted', severity: 'note', message: /trusted: \['10\.0\.0\.2', '10\.0\.0\.3'\]/ },
    ],
    recommended: 'proxyFix(app, { xFor: 2, xProto: 1 })',
  },
  {
    name: 'count too low: xFor 1 behind two proxies',
    deployment: { proxies: [EDGE, INNER], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'count-too-low', severity: 'wrong', option: 'xFor', message: /the app takes the value proxy 1 wrote \("10\.0\.0\.2"\).*set it to 2/ }],
    recommended: 'proxyFix(app, { xFor: 2, xProto: 1 })',
  },
  {
    name: 'count too low: a header a proxy sets, not read at all',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-host': 'replace' })], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'count-too-low', severity: 'wrong', option: 'xHost', message: /xHost is 0, but 1 proxy sets X-Forwarded-Host: the app ignores it and keeps "example\.com"/ }],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1, xHost: 1 })',
  },
  {
    name: 'count too high: a header no proxy sets',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1, xPort: 1 } },
    status: 2,
    finds: [{ id: 'count-too-high', severity: 'wrong', option: 'xPort', message: /no proxy sets X-Forwarded-Port, so it is never used; set it to 0/ }],
  },
  {
    name: 'reachable directly, and believed there',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1 }, direct: true },
    status: 1,
    finds: [
      { id: 'reachable-directly', severity: 'wrong', message: /answers at http:\/\/10\.0\.0\.5:8000\/\.well-known\/proxyfix, without the proxies: a client there can forge/ },
      { id: 'spoofable-directly', severity: 'spoofable', field: 'remoteAddr' },
      { id: 'spoofable-directly', severity: 'spoofable', field: 'scheme', message: /X-Forwarded-Proto \(https\) became its scheme/ },
    ],
  },
  {
    name: 'reachable directly, where a trust list believes nothing',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1, trusted: ['10.0.0.2'] }, direct: true },
    status: 2,
    finds: [{ id: 'reachable-directly', severity: 'wrong', message: /believe nothing a client there sends/ }],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1, trusted: [\'10.0.0.2\'] })',
  },
  {
    name: 'not reachable directly',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1 }, direct: false },
    status: 0,
    finds: [{ id: 'not-reachable-directly', severity: 'ok', message: /does not answer at http:\/\/10\.0\.0\.5:8000\/\.well-known\/proxyfix \(connect ECONNREFUSED/ }],
  },
  {
    name: 'Connection-stripping: a proxy drops its own headers when a client names them',
    deployment: { proxies: [changed(EDGE, {}, { honoursConnection: true })], options: { xFor: 1, xProto: 1 } },
    status: 1,
    finds: [{
      id: 'connection-strips', severity: 'spoofable', header: 'X-Forwarded-For',
      message: /names X-Forwarded-For and X-Forwarded-Proto in Connection .* remoteAddr "10\.0\.0\.2" and scheme "http", not "203\.0\.113\.9" and "https"/,
    }],
  },
  {
    name: 'Connection-stripping of a header the options do not read',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-port': 'replace' }, { honoursConnection: ['x-forwarded-port'] })], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'connection-strips', severity: 'wrong', message: /drop it \(Traefik CVE-2024-45410\): the options in force do not read what is lost/ }],
  },
  {
    name: 'a proxy that keeps a client\'s X-Forwarded-Proto instead of writing its own',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-proto': 'keep' })], options: { xFor: 1, xProto: 1 } },
    status: 1,
    finds: [
      { id: 'keeps-client-value', severity: 'wrong', header: 'X-Forwarded-Proto' },
      { id: 'spoofable', severity: 'spoofable', field: 'scheme' },
      { id: 'count-too-high', severity: 'wrong', option: 'xProto', message: /keeps a client's X-Forwarded-Proto in place of its own/ },
    ],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 0 })',
  },
  {
    name: 'X-Forwarded-Prefix passed through and read',
    deployment: { proxies: [changed(EDGE, { 'x-forwarded-prefix': undefined })], options: { xFor: 1, xProto: 1, xPrefix: 1 } },
    status: 1,
    finds: [
      { id: 'passes-through', severity: 'wrong', header: 'X-Forwarded-Prefix' },
      { id: 'spoofable', severity: 'spoofable', field: 'scriptName', message: /path prefix: X-Forwarded-Prefix \(\/proxyfix-check-forged\)/ },
      { id: 'count-too-high', severity: 'wrong', option: 'xPrefix', message: /no proxy sets X-Forwarded-Prefix and a client's passes through/ },
    ],
  },
  {
    name: 'the underscore spellings passed through',
    deployment: { proxies: [changed(EDGE, {}, { dropUnderscores: false })], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'aliases-pass-through', severity: 'wrong', header: 'X_Forwarded_For', message: /X_Forwarded_For, X_Forwarded_Proto, .* and X_Forwarded_Prefix reach the app/ }],
  },
  {
    name: 'a proxy that removes only the first of two lines',
    deployment: { proxies: [changed(EDGE, {}, { firstLineOnly: true })], options: { xFor: 1, xProto: 1 } },
    status: 2,
    finds: [{ id: 'second-line-passes', severity: 'wrong', message: /X-Forwarded-For, X-Forwarded-Host and Forwarded sent on two lines reach the app/ }],
  },
  {
    name: 'a proxy that removes only the first line of one header',
    deployment: {
      proxies: [
        { address: '10.0.0.2', writes: { 'x-forwarded-for': 'replace', 'x-forwarded-proto': 'replace' }, firstLineOnly: true },
        changed(INNER, { 'x-forwarded-host': 'remove', 'x-forwarded-port': 'remove', 'x-forwarded-prefix': 'remove', forwarded: 'remove' }),
      ],
      options: { xFor: 2, xProto: 1 },
    },
    status: 2,
    finds: [{ id: 'second-line-passes', severity: 'wrong', header: 'X-Forwarded-For', message: /^A client's X-Forwarded-For sent on two lines reaches the app/ }],
  },
  {
    name: 'one underscore spelling passed through',
    deployment: {
      proxies: [changed(EDGE, { x_forwarded_for: 'remove', x_forwarded_proto: 'remove', x_forwarded_port: 'remove', x_forwarded_prefix: 'remove' },
        { dropUnderscores: false })],
      options: { xFor: 1, xProto: 1 },
    },
    status: 2,
    finds: [{ id: 'aliases-pass-through', severity: 'wrong', message: /^A client's X_Forwarded_Host reaches the app/ }],
  },
  {
    name: 'every X-Forwarded-* header set, Forwarded removed',
    deployment: {
      proxies: [changed(EDGE, { 'x-forwarded-host': 'replace', 'x-forwarded-port': 'replace', 'x-forwarded-prefix': 'replace' })],
      options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1, xPrefix: 1 },
    },
    status: 0,
    finds: [{ id: 'removed', severity: 'ok', message: /^A client's Forwarded is removed on the way\.$/ }],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1, xHost: 1, xPort: 1, xPrefix: 1 })',
  },
  {
    name: 'both families set by the proxies: the one in force is kept',
    deployment: { proxies: [changed(EDGE, { forwarded: 'replace' })], options: { forwarded: 1 } },
    status: 0,
    finds: [{ id: 'options-fit', severity: 'ok' }],
    recommended: 'proxyFix(app, { forwarded: 1 })',
  },
  {
    name: 'no proxy, no trace, no options: nothing to go on but what reached the app',
    deployment: { proxies: [], options: { xFor: 1, xProto: 1 }, trace: false, echo: false },
    status: 1,
    finds: [{ id: 'no-trace', severity: 'wrong' }, { id: 'spoofable', severity: 'spoofable', field: 'remoteAddr' }],
    recommended: 'proxyFix(app, { xFor: 0, xProto: 0 })',
  },
  {
    name: 'a Forwarded element without for=: the proxy it names is left out of the trust list',
    deployment: {
      proxies: [
        { address: '10.0.0.2', writes: { forwarded: 'replace', 'x-forwarded-for': 'remove', 'x-forwarded-proto': 'remove' } },
        { address: '10.0.0.3', writes: { forwarded: 'append' }, element: 'proto=https' },
      ],
      options: { forwarded: 2, trusted: ['10.0.0.3'] },
    },
    status: 2,
    finds: [{ id: 'header-set', severity: 'ok', header: 'Forwarded' }],
    recommended: 'proxyFix(app, { forwarded: 2, trusted: [\'10.0.0.3\'] })',
  },
  {
    name: 'no trace: the options come from what the probe was told',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1, xHost: 1 }, trace: false },
    status: 2,
    finds: [
      { id: 'no-trace', severity: 'wrong', message: /taken from its `options`/ },
      { id: 'count-too-high', severity: 'wrong', option: 'xHost' },
    ],
  },
  {
    name: 'no trace and no options: the options in force are unknown',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1 }, trace: false, echo: false },
    status: 2,
    finds: [{ id: 'no-trace', severity: 'wrong', message: /The options in force are unknown/ }],
  },
  {
    name: 'a trust list without the proxy nearest the app',
    deployment: { proxies: [EDGE], options: { xFor: 1, xProto: 1, trusted: ['10.9.9.9'] } },
    status: 2,
    finds: [{ id: 'peer-untrusted', severity: 'wrong', message: /peer 10\.0\.0\.2, the proxy nearest the app, is not trusted/ }],
    recommended: 'proxyFix(app, { xFor: 1, xProto: 1, trusted: [\'10.0.0.2\'] })',
  },
  {
    name: 'a trust list without one of the proxies',
    deployment: { proxies: [EDGE, INNER], options: { xFor: 2, xProto: 1, trusted: ['10.0.0.3'] } },
    status: 2,
    finds: [{ id: 'proxy-untrusted', severity: 'wrong', message: /^10\.0\.0\.2, a proxy named in X-Forwarded-For, is not in trusted/ }],
    recommended: 'proxyFix(app, { xFor: 2, xProto: 1, trusted: [\'10.0.0.2\', \'10.0.0.3\'] })',
  },
  {
    name: 'a trust walk bounded by Infinity: a count above the proxies is a bound, not a mistake',
    deployment: { proxies: [EDGE, INNER], options: { xFor: Infinity, xProto: 1, trusted: ['10.0.0.0/8'] } },
    status: 0,
    finds: [{ id: 'options-fit', severity: 'ok' }],
    recommended: 'proxyFix(app, { xFor: 2, xProto: 1, trusted: [\'10.0.0.2\', \'10.0.0.3\'] })',
  },
  {
    name: 'RFC 7239 Forwarded, two proxies, a trust list from its for-values',
    deployment: {
      proxies: [
        { address: '10.0.0.2', writes: { forwarded: 'replace', 'x-forwarded-for': 'remove', 'x-forwarded-proto': 'remove', 'x-forwarded-host': 'remove', 'x-forwarded-port': 'remove', 'x-forwarded-prefix': 'replace' }, dropUnderscores: true },
        { address: '2001:db8::3', writes: { forwarded: 'append' }, dropUnderscores: true },
      ],
      options: { forwarded: 2, xPrefix: 1, trusted: ['10.0.0.2', '2001:db8::3'] },
    },
    status: 0,
    finds: [{ id: 'header-set', severity: 'ok', header: 'Forwarded', message: /set by 2 proxies/ }],
    recommended: 'proxyFix(app, { xPrefix: 1, forwarded: 2, trusted: [\'10.0.0.2\', \'2001:db8::3\'] })',
  },
  {
    name: 'Forwarded from the proxies, X-Forwarded-* read: the wrong family',
    deployment: {
      proxies: [{ address: '10.0.0.2', writes: { forwarded: 'replace', 'x-forwarded-for': 'remove', 'x-forwarded-proto': 'remove' } }],
      options: { xFor: 1, xProto: 1 },
    },
    status: 2,
    finds: [{ id: 'wrong-family', severity: 'wrong', message: /The proxies set Forwarded, but proxyFix reads X-Forwarded-\*/ }],
    recommended: 'proxyFix(app, { forwarded: 1 })',
  },
  {
    name: 'a Unix socket peer and an IPv4-mapped proxy in front: the trust list spells them as proxyFix matches them',
    deployment: { proxies: [changed(EDGE, {}, { address: '::ffff:10.0.0.2' }), changed(INNER, {}, { address: '' })], options: { xFor: 2, xProto: 1, trusted: [], trustUnixSocket: true } },
    status: 2,
    finds: [{ id: 'proxy-untrusted', severity: 'wrong', message: /^::ffff:10\.0\.0\.2, a proxy named/ }],
    recommended: 'proxyFix(app, { xFor: 2, xProto: 1, trusted: [\'10.0.0.2\'], trustUnixSocket: true })',
  },
  {
    name: 'a Unix socket peer missing from a trust list',
    deployment: { proxies: [changed(EDGE, {}, { address: '' })], options: { xFor: 1, xProto: 1, trusted: ['127.0.0.1'] } },
    status: 2,
    finds: [{ id: 'peer-untrusted', severity: 'wrong', message: /peer \(a Unix socket\).*add trustUnixSocket: true/ }],
  },
  {
    name: 'no proxy at all: every header a client sends reaches the app',
    deployment: { proxies: [], options: { xFor: 1, xProto: 1 } },
    status: 1,
    finds: [
      { id: 'passes-through', severity: 'wrong', header: 'Forwarded', message: /^Forwarded: no proxy sets it, and a client's reaches the app; remove it/ },
      { id: 'spoofable', severity: 'spoofable', field: 'remoteAddr', message: /X-Forwarded-For \(198\.51\.100\.1\)/ },
      { id: 'count-too-high', severity: 'wrong', option: 'xFor' },
    ],
    recommended: 'proxyFix(app, { xFor: 0, xProto: 0 })',
  },
];

t.test('the analysis, case by case, on the probe\'s answers through modelled chains', async (t) => {
  for (const c of CASES) {
    await t.test(c.name, async (t) => {
      const analysis = await analysed(c.deployment);
      t.equal(analysis.status, c.status, 'exit status', { findings: analysis.findings.filter((f) => f.severity !== 'ok') });
      for (const expected of c.finds) {
        const found = analysis.findings.find((f) => f.id === expected.id && f.severity === expected.severity
          && (expected.header === undefined || f.header === expected.header)
          && (expected.option === undefined || f.option === expected.option)
          && (expected.field === undefined || f.field === expected.field)
          && (expected.message === undefined || expected.message.test(f.message)));
        t.ok(found, `finds ${expected.id} (${expected.severity})${expected.header ? ` about ${expected.header}` : ''}`,
          { findings: analysis.findings });
      }
      t.equal(statusOf(analysis.findings), analysis.status, 'the status is the findings\' worst');
      if (c.recommended !== undefined) t.equal(analysis.recommended!.code, c.recommended, 'recommends');
    });
  }
});

t.test('a safe chain gets exactly the ok findings, and the sample of its shape', async (t) => {
  const analysis = await analysed({ proxies: [EDGE], options: { xFor: 1, xProto: 1 } });
  t.strictSame(ids(analysis), SAFE);
  t.strictSame(analysis.headers.map((h) => [h.header, h.setBy, h.client]), [
    ['X-Forwarded-For', 1, 'replaced'], ['X-Forwarded-Proto', 1, 'replaced'], ['X-Forwarded-Host', 0, 'removed'],
    ['X-Forwarded-Port', 0, 'removed'], ['X-Forwarded-Prefix', 0, 'removed'], ['Forwarded', 0, 'removed'],
  ]);
  t.strictSame(analysis.recommended!.sample, { file: 'nginx/tls.conf', shape: 'tls', others: ['haproxy/tls.cfg', 'caddy/tls.Caddyfile'] },
    'an https:// URL, and no Server header naming the proxy: the tls sample of each proxy');
  t.match(analysis.current, { family: 'x-forwarded', counts: { xFor: 1, xProto: 1, xHost: 0 }, trusted: false, source: 'trace', code: '{ xFor: 1, xProto: 1 }' });
  t.strictSame(analysis.chain!.hops.map((hop) => hop.role), ['client', 'proxy', 'app']);
});

/** The modelled exchanges with some outcomes replaced. */
async function withOutcomes(deployment: ModelDeployment, replace: (exchange: Exchange) => Outcome | undefined): Promise<Exchange[]> {
  return (await exchangesOf(deployment)).map((exchange) => ({ ...exchange, outcome: replace(exchange) ?? exchange.outcome }));
}

t.test('the probe unreachable, refusing the token, or not there: exit status 3 and nothing else', async (t) => {
  const cases: [string, Outcome, FindingId, RegExp][] = [
    ['no answer', { kind: 'failed', error: 'connect ECONNREFUSED 127.0.0.1:1' }, 'probe-unreachable', /^No answer from https:\/\/example\.com\/\.well-known\/proxyfix: connect ECONNREFUSED/],
    ['404', { kind: 'other', status: 404, server: undefined, location: undefined, body: 'Not Found' }, 'token-refused', /answered 404: the token is wrong/],
    ['a redirect', { kind: 'other', status: 301, server: 'nginx', location: 'https://example.com/', body: '' }, 'not-a-probe', /answered 301 \(to https:\/\/example\.com\/\), not with a probe's answer/],
    ['an error page', { kind: 'other', status: 502, server: 'nginx', location: undefined, body: '' }, 'not-a-probe', /answered 502, not/],
    ['not sent', { kind: 'not-sent', why: 'time' }, 'probe-unreachable', /No request was sent/],
  ];
  for (const [name, outcome, id, message] of cases) {
    const exchanges = await withOutcomes({ proxies: [EDGE], options: {} }, (e) => e.request.id === 'plain' ? outcome : undefined);
    const analysis = analyse(exchanges, URL_HREF);
    t.equal(analysis.status, 3, `${name}: exit status 3`);
    t.strictSame(ids(analysis), [id], `${name}: ${id} only`);
    t.match(analysis.findings[0]!.message, message, name);
    t.same([analysis.recommended, analysis.chain, analysis.current, analysis.headers], [null, null, null, []], `${name}: nothing recommended`);
  }
});

t.test('a request that gets no answer makes the check incomplete; one the proxy refuses is an answer', async (t) => {
  const deployment = { proxies: [EDGE], options: { xFor: 1, xProto: 1 } };
  let analysis = analyse(await withOutcomes(deployment, (e) => e.request.id === 'x-forwarded-host' ? { kind: 'failed', error: 'socket hang up' } : undefined), URL_HREF);
  t.equal(analysis.status, 3);
  t.match(analysis.findings.find((f) => f.id === 'incomplete')!.message, /^1 planned request got no answer \(the first: X-Forwarded-Host forged, socket hang up\)/);
  t.match(analysis.findings.find((f) => f.header === 'X-Forwarded-Host'), { id: 'header-set', message: /what becomes of a client's is unknown/ });

  analysis = analyse(await withOutcomes(deployment, (e) => e.request.id !== 'plain' ? { kind: 'not-sent', why: 'requests' } : undefined), URL_HREF);
  t.match(analysis.findings.find((f) => f.id === 'incomplete')!.message, /^10 planned requests got no answer \(the first: X-Forwarded-For forged, the request budget ran out\)/);
  analysis = analyse(await withOutcomes(deployment, (e) => e.request.id === 'repeated' ? { kind: 'not-sent', why: 'time' } : undefined), URL_HREF);
  t.match(analysis.findings.find((f) => f.id === 'incomplete')!.message, /out of time/);
  t.notOk(ids(analysis).includes('repeated-lines-handled'), 'nothing said about what was not tried');

  const spoofed = { proxies: [changed(EDGE, { 'x-forwarded-for': 'append' })], options: { xFor: 2, xProto: 1 } };
  analysis = analyse(await withOutcomes(spoofed, (e) => e.request.id === 'connection' ? { kind: 'failed', error: 'timeout' } : undefined), URL_HREF);
  t.equal(analysis.status, 1, 'spoofable outranks incomplete: what was seen is real');

  const refusing = (e: Exchange): Outcome | undefined => ['x-forwarded-proto', 'aliases'].includes(e.request.id)
    ? { kind: 'other', status: 400, server: undefined, location: undefined, body: 'Bad Request' } : undefined;
  analysis = analyse(await withOutcomes(deployment, refusing), URL_HREF);
  t.equal(analysis.status, 0, 'a refusal is not a failure');
  t.match(analysis.findings.find((f) => f.header === 'X-Forwarded-Proto'), { id: 'header-set', message: /a request that forges it is refused/ });
  t.notOk(ids(analysis).some((id) => id.startsWith('aliases')), 'the aliases were refused: nothing to say about them');
});

t.test('the direct URL answering something else than the probe', async (t) => {
  const deployment = { proxies: [EDGE], options: { xFor: 1, xProto: 1 }, direct: true };
  const exchanges = await withOutcomes(deployment, (e) => e.request.target === 'direct'
    ? (e.request.id === 'plain' ? { kind: 'other', status: 403, server: undefined, location: undefined, body: '' } : { kind: 'not-sent', why: 'depends' })
    : undefined);
  const analysis = analyse(exchanges, URL_HREF, DIRECT_HREF);
  t.equal(analysis.status, 0);
  t.match(analysis.findings.at(-1), { id: 'direct-not-probe', severity: 'note', message: /answers 403, not with the probe/ });
  const notSent = analyse(await withOutcomes(deployment, (e) => e.request.target === 'direct' ? { kind: 'not-sent', why: 'requests' } : undefined), URL_HREF, DIRECT_HREF);
  t.notOk(ids(notSent).some((id) => id.includes('directly')), 'nothing said about a direct URL never tried');
  t.ok(ids(notSent).includes('incomplete'));
});

t.test('ambiguous attribution: one value forged in two headers at once counts only when nothing else tells', async (t) => {
  // Only the request that forges everything gets through (symmetric refuses a single forged header).
  const deployment = { proxies: [], options: { xFor: 1, xProto: 1, symmetric: true }, url: 'http://example.com/' };
  const analysis = analyse(await exchangesOf(deployment), 'http://example.com/.well-known/proxyfix');
  const scheme = analysis.findings.find((f) => f.id === 'spoofable' && f.field === 'scheme');
  t.match(scheme?.message, /X-Forwarded-Proto \(https\) and Forwarded \(https\)/, 'both named, neither singled out');
  const address = analysis.findings.find((f) => f.id === 'spoofable' && f.field === 'remoteAddr');
  t.match(address?.message, /: X-Forwarded-For \(198\.51\.100\.1\) sent/, 'a value only one header carried is that header\'s');
});

t.test('values of a header, left to right', async (t) => {
  t.strictSame(valuesOf('x-forwarded-for', ' a , b,c '), ['a', 'b', 'c']);
  t.strictSame(valuesOf('x-forwarded-for', ' '), []);
  t.strictSame(valuesOf('x-forwarded-for', undefined), []);
  t.strictSame(valuesOf('forwarded', 'for=a, for="b,c";proto=http'), ['for=a', 'for="b,c";proto=http']);
});

t.test('the options in force, from the trace or from what the probe was told', async (t) => {
  const answer = (options: ProbeAnswer['options']): ProbeAnswer =>
    ({ probe: 1, before: {} as ProbeAnswer['before'], after: {} as ProbeAnswer['after'], headers: {}, trace: null, options, redacted: { headers: [], parameters: [], userinfo: [] } });
  t.equal(currentOptions(answer(null)), undefined);
  t.strictSame(currentOptions(answer({})), { family: 'x-forwarded', counts: { xFor: 1, xProto: 1, xHost: 0, xPort: 0, xPrefix: 0, forwarded: 0 }, trusted: false, source: 'options' });
  t.strictSame(currentOptions(answer({ forwarded: 1, xPrefix: 1 }))!.counts, { xFor: 0, xProto: 0, xHost: 0, xPort: 0, xPrefix: 1, forwarded: 1 });
  t.strictSame(currentOptions(answer({ xFor: 'Infinity', xProto: 2, trusted: ['10.0.0.0/8'] })),
    { family: 'x-forwarded', counts: { xFor: Infinity, xProto: 2, xHost: 0, xPort: 0, xPrefix: 0, forwarded: 0 }, trusted: true, source: 'options' });
  t.equal(currentOptions(answer({ xHost: 'odd' }))!.counts.xHost, 0, 'what is not a count counts as none');

  const analysis = await analysed({ proxies: [EDGE, INNER], options: { xFor: Infinity, xProto: 1, trusted: ['10.0.0.0/8'] } });
  t.equal(analysis.current!.code, '{ xFor: Infinity, xProto: 1, trusted: [...] }', 'Infinity read back from the trace');
});

t.test('trust lists as recommended: the proxies\' addresses in the order requests pass them', async (t) => {
  const trust = { peer: '::ffff:10.0.0.3', named: ['[2001:db8::2]:4711', '10.0.0.1:80', 'unknown', 'junk'] };
  t.strictSame(recommendedOptions('x-forwarded', { xFor: 3, xProto: 1, xHost: 0, xPort: 0, xPrefix: 0, forwarded: 0 }, trust),
    { xFor: 3, xProto: 1, trusted: ['2001:db8::2', '10.0.0.1', '10.0.0.3'] });
  t.strictSame(recommendedOptions('forwarded', { xFor: 0, xProto: 0, xHost: 0, xPort: 0, xPrefix: 0, forwarded: 2 }, { peer: '', named: ['"[2001:db8::2]:4711"', 'unknown', '_hidden'] }).trusted,
    [], 'a Forwarded node must be unquoted first; unknown and hidden ones are no address');
  t.equal(serveCommand(['--trusted', '', '--x-for', '1', '--name', "it's"]), "proxyfix serve --trusted '' --x-for 1 --name 'it'\\''s'");
});

t.test('the closest sample, and the proxy a Server header names', async (t) => {
  t.equal(proxyNamed('nginx/1.22.1'), 'nginx');
  t.equal(proxyNamed('Caddy'), 'caddy');
  t.equal(proxyNamed('HAProxy'), 'haproxy');
  t.equal(proxyNamed('Apache'), undefined);
  t.equal(proxyNamed(undefined), undefined);
  const found = { proxy: undefined, https: false, unixSocket: false, proxies: 1, mounted: false };
  t.strictSame(closestSample({ ...found, counts: {} }), { file: 'nginx/basic.conf', shape: 'basic', others: ['haproxy/basic.cfg', 'caddy/basic.Caddyfile'] },
    'nothing forwarded: the basic one');
  t.equal(closestSample({ ...found, proxy: 'caddy', counts: {} }).file, 'caddy/basic.Caddyfile');
  t.equal(closestSample({ ...found, proxy: 'caddy', counts: { xFor: 1, xProto: 1 } }).file, 'caddy/basic.Caddyfile', 'Caddy has no sample without xHost: its basic one');
  t.equal(closestSample({ ...found, https: true, counts: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }).file, 'nginx/tls.conf');
  t.equal(closestSample({ ...found, proxy: 'haproxy', unixSocket: true, counts: { xFor: 1, xProto: 1, xHost: 1 } }).file, 'haproxy/unix-socket.cfg');
  t.equal(closestSample({ ...found, proxies: 3, counts: { xFor: 3, xProto: 1, xHost: 1 } }).file, 'nginx/two-tier.conf', 'the nearest counts');
  t.equal(closestSample({ ...found, mounted: true, counts: { xFor: 1, xProto: 1, xHost: 1 } }).file, 'nginx/prefix.conf',
    'a path prefix stripped but not reported: the prefix sample, whose counts differ by the mistake');
  t.equal(closestSample({ ...found, https: true, counts: { xFor: 1, xProto: 1 } }).file, 'nginx/tls.conf', 'HTTPS outweighs a count');
});

t.test('the probe URL: the default path where the URL ends in /, anything else as given', async (t) => {
  t.equal(probeUrl('https://example.com', 'url').href, 'https://example.com/.well-known/proxyfix');
  t.equal(probeUrl('http://example.com:8080/app/#x', 'url').href, 'http://example.com:8080/app/.well-known/proxyfix');
  t.equal(probeUrl('http://[::1]:8080/probe?x=1', 'url').href, 'http://[::1]:8080/probe?x=1');
  for (const [bad, message] of [
    ['ftp://example.com/', /`url` must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/example\.com\/"/],
    ['example.com', /must be an http/],
    [new URL('http://example.com/'), /must be an http/],
    ['http://user:pw@example.com/', /must not carry a user name or password/],
  ] as const) {
    t.throws(() => probeUrl(bad, 'url'), { code: /^ERR_PROXYFIX_OPTION/, message }, String(bad));
  }
});

t.test('the check\'s options are checked before anything is sent', async (t) => {
  const cases: [object, RegExp][] = [
    [{}, /`token` is required/],
    [{ token: 'has space' }, /`token` is required: the probe's token, visible ASCII/],
    [{ token: TOKEN, timeoutMs: 0 }, /`timeoutMs` must be a positive number/],
    [{ token: TOKEN, timeoutMs: Infinity }, /`timeoutMs`/],
    [{ token: TOKEN, timeoutMs: '5' }, /`timeoutMs`/],
    [{ token: TOKEN, maxRequests: 0 }, /`maxRequests` must be a whole number of at least 1, got 0/],
    [{ token: TOKEN, maxRequests: 1.5 }, /`maxRequests`/],
    [{ token: TOKEN, ca: 1 }, /`ca` must be a string/],
    [{ token: TOKEN, localAddress: [] }, /`localAddress` must be a string/],
    [{ token: TOKEN, onProgress: 'yes' }, /`onProgress` must be a function/],
    [{ token: TOKEN, tokn: 'x' }, /tokn/],
    [{ token: TOKEN, direct: 'file:///etc/passwd' }, /`direct` must be an http/],
  ];
  for (const [options, message] of cases) {
    await t.rejects(check('http://127.0.0.1:1/', options as never), message, JSON.stringify(options));
  }
  const error = await check('http://127.0.0.1:1/', { token: 'has space' }).catch((e: unknown) => e);
  t.ok(isConfigError(error) && !(error as Error).message.includes('has space'), 'a token is never quoted back');
});

// ---------------------------------------------------------------------------------------------
// Sending: the wire, and every way an answer can fail to come

/** A TCP server that records the request heads it gets and answers each with `answer`. */
async function rawServer(t: Test, answer: (head: string, socket: net.Socket) => void): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((socket) => {
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\r\n\r\n')) {
        heads.push(data.slice(0, data.indexOf('\r\n\r\n')));
        answer(data, socket);
        data = '';
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as net.AddressInfo).port, heads };
}

const planned = (url: string, direct?: string) => planRequests(probeUrl(url, 'url'), direct === undefined ? undefined : probeUrl(direct, 'direct'));

t.test('the requests on the wire: repeated lines, underscores and Connection exactly as planned', async (t) => {
  const { port, heads } = await rawServer(t, (_, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  const plan = planned(`http://127.0.0.1:${port}/`);
  const exchanges = await runPlan(plan, { token: TOKEN, timeoutMs: 5000, maxRequests: 40 });
  t.equal(heads.length, 1, 'the plain request refused: nothing more sent');
  t.same(exchanges.map((e) => e.outcome.kind === 'not-sent' ? e.outcome.why : e.outcome.kind), ['other', ...new Array(plan.length - 1).fill('depends')]);

  const all = await Promise.all(plan.map((request) => send(request, { token: TOKEN }, 5000)));
  t.ok(all.every((outcome) => outcome.kind === 'other' && outcome.status === 404));
  const head = (id: string) => heads[1 + plan.findIndex((request) => request.id === id)]!.split('\r\n');
  t.strictSame(head('plain'), ['GET /.well-known/proxyfix HTTP/1.1', `Host: 127.0.0.1:${port}`, `proxyfix-probe-token: ${TOKEN}`,
    'Accept: application/json', 'User-Agent: proxyfix-check', 'Connection: close']);
  t.strictSame(head('repeated').slice(2, 8), [
    'X-Forwarded-For: 198.51.100.4', 'X-Forwarded-For: 198.51.100.5',
    'X-Forwarded-Host: line-1.proxyfix-check.invalid', 'X-Forwarded-Host: line-2.proxyfix-check.invalid',
    'Forwarded: for=198.51.100.7', 'Forwarded: for=198.51.100.8',
  ], 'repeated header lines go as separate lines');
  t.ok(head('aliases').includes('X_Forwarded_For: 198.51.100.3'), 'underscores as they are');
  const connection = head('connection').filter((line) => /^connection:/i.test(line));
  t.strictSame(connection, ['Connection: close, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port, X-Forwarded-Prefix, Forwarded, X-Real-IP'],
    'one Connection line, naming the proxies\' headers');
});

t.test('answers that are not the probe\'s, and answers that never come', async (t) => {
  const responses: Record<string, (socket: net.Socket) => void> = {
    '/redirect': (s) => s.end('HTTP/1.1 301 Moved\r\nLocation: https://example.com/\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n'),
    '/html': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>'),
    '/json': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"probe":2}'),
    '/null': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnull'),
    '/slow': () => {},
    '/cut': (s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"probe"'); setTimeout(() => s.destroy(), 20); },
    '/huge': (s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${MAX_BODY + 10}\r\n\r\n`);
      const chunk = 'x'.repeat(64 * 1024);
      const more = () => { while (!s.destroyed && s.write(chunk)); };
      s.on('drain', more);
      more();
    },
  };
  const { port } = await rawServer(t, (head, socket) => responses[head.split(' ')[1]!]!(socket));
  const one = (path: string, timeout = 5000) => send(planned(`http://127.0.0.1:${port}${path}`)[0]!, { token: TOKEN }, timeout);
  t.match(await one('/redirect'), { kind: 'other', status: 301, server: 'nginx/1.22.1', location: 'https://example.com/' });
  t.match(await one('/html'), { kind: 'other', status: 200, body: '<html>' });
  t.match(await one('/json'), { kind: 'other', status: 200 });
  t.match(await one('/null'), { kind: 'other', status: 200 });
  t.strictSame(await one('/slow', 100), { kind: 'failed', error: 'no answer within 0.1 s' });
  t.match(await one('/cut'), { kind: 'failed', error: /aborted|hang up|reset/ });
  t.strictSame(await one('/huge'), { kind: 'failed', error: `the answer is longer than ${MAX_BODY} bytes` });
  t.match(await send(planned('http://127.0.0.1:1/')[0]!, { token: TOKEN }, 5000), { kind: 'failed', error: /ECONNREFUSED/ });
});

t.test('bounds: the request budget and the time', async (t) => {
  const { port, heads } = await rawServer(t, () => {});
  const plan = planned(`http://127.0.0.1:${port}/`);
  const started = Date.now();
  const slow = await runPlan(plan, { token: TOKEN, timeoutMs: 150, maxRequests: 40 });
  t.ok(Date.now() - started < 2000, 'gives up in time');
  t.match(slow[0]!.outcome, { kind: 'failed', error: /^no answer within 0\.[12] s$/ });
  t.ok(slow.slice(1).every((e) => e.outcome.kind === 'not-sent' && e.outcome.why === 'time'), 'the plain request took all the time');

  const app = await startApp(t, probed({ xFor: 1, xProto: 1 }));
  const url = `http://127.0.0.1:${app.port}/`;
  const progress: string[] = [];
  const budget = await runPlan(planned(url, url), { token: TOKEN, timeoutMs: 10_000, maxRequests: 3, onProgress: (p) => progress.push(progressLine(p)) });
  t.same(budget.map((e) => e.outcome.kind === 'not-sent' ? e.outcome.why : e.outcome.kind), ['answer', 'answer', 'answer', ...new Array(19).fill('requests')],
    'the budget says why, ahead of a plain request never sent');
  t.equal(progress.length, 22, 'a progress line for each planned request');
  t.equal(progress[0], '[1/22] plain request: 200');
  t.equal(progress[21], '[22/22] direct, forwarding headers forged on two lines each: not sent');

  // The plain request answered at once, every forged one late: the first of them uses up the time.
  const fast = probed({ xFor: 1, xProto: 1 });
  const late = await startApp(t, async (env) => {
    if (env.headers['x-forwarded-for'] !== undefined) await new Promise((resolve) => setTimeout(resolve, 1500));
    return fast(env);
  });
  const noTime = await runPlan(planned(`http://127.0.0.1:${late.port}/`), { token: TOKEN, timeoutMs: 800, maxRequests: 40 });
  t.same(noTime.map((e) => e.outcome.kind === 'not-sent' ? e.outcome.why : e.outcome.kind), ['answer', 'failed', ...new Array(9).fill('time')]);
  t.match(noTime[1]!.outcome, { error: /^no answer within 0\.\d s$/ }, 'the request gets what time is left');
  t.equal(heads.length, 1);
});

t.test('over TLS, against the real server: the CA trusted, or not', async (t) => {
  const dir = tempDir(t);
  const ca = certificate(dir);
  const { readFileSync } = await import('node:fs');
  const { toNodeListener } = await import('../src/adapters/node.js');
  const server = https.createServer({ cert: ca, key: readFileSync(`${dir}/key.pem`) }, toNodeListener(probed({ xFor: 0, xProto: 0 })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  const report = await check(url, { token: TOKEN, ca, localAddress: '127.0.0.1' });
  t.equal(report.status, 2, 'no proxy: whatever a client sends passes through, though nothing is read', { findings: report.findings.filter((f) => f.severity !== 'ok') });
  t.notOk(report.findings.some((f) => f.severity === 'spoofable'));
  t.equal(report.recommended!.code, 'proxyFix(app, { xFor: 0, xProto: 0 })');
  const untrusted = await check(url, { token: TOKEN });
  t.equal(untrusted.status, 3);
  t.match(untrusted.findings, [{ id: 'probe-unreachable', message: /self[- ]signed/ }]);
});

// ---------------------------------------------------------------------------------------------
// The report

t.test('runCheck: the report as text, JSON and HTML, from a real check', async (t) => {
  const app = await startApp(t, probed({ xFor: 1, xProto: 1 }));
  const url = `http://127.0.0.1:${app.port}/`;
  const run = await runCheck({ url, token: TOKEN, direct: url, timeoutMs: 10_000 });
  t.equal(run.exitStatus, 1, 'reached directly (here: the public URL is the app itself)');
  t.strictSame(JSON.parse(run.json), JSON.parse(JSON.stringify(run.report)));
  t.match(run.report, { url: `${url}.well-known/proxyfix`, direct: `${url}.well-known/proxyfix`, requests: { planned: 22, sent: 22, answered: 22 } });
  const lines = run.text.split('\n');
  t.equal(lines[0], `proxyfix check ${url}.well-known/proxyfix (direct: ${url}.well-known/proxyfix)`);
  t.ok(lines.includes('  SPOOFABLE   A client chooses the app\'s client address: X-Forwarded-For (198.51.100.1) sent by the check became its remoteAddr.'));
  t.ok(lines.includes('Recommended:    proxyFix(app, { xFor: 0, xProto: 0 })'));
  t.ok(lines.includes('                proxyfix serve --x-for 0 --x-proto 0'));
  t.equal(lines.at(-2), 'Spoofable: a client can choose what the app sees. Exit status 1.');
  t.match(run.html, /<p class="verdict status-1">Spoofable/);
  t.equal(run.html.match(/<li class="spoofable">/g)!.length, run.report.findings.filter((f) => f.severity === 'spoofable').length);

  const unreachable = await runCheck({ url: 'http://127.0.0.1:1/', token: TOKEN });
  t.notMatch(unreachable.text, /Recommended/);
  t.notMatch(unreachable.html, /<h2>(The chain|Recommended|Forwarding headers)/);
  t.match(unreachable.html, /0 of 11|1 of 11/);
});

t.test('the report never carries a control character, and the page escapes everything', async (t) => {
  const evil = 'x\u001b[2J\u009b31m<script>"\'&';
  const report: CheckReport = {
    url: 'http://example.com/.well-known/proxyfix', direct: null, status: 3, verdict: 'The check could not finish.',
    findings: [{ id: 'not-a-probe', severity: 'unreachable', message: `answered 301 (to ${evil})` }],
    headers: [{ header: 'X-Forwarded-For', setBy: 1, client: 'replaced' }], current: null, recommended: null, chain: null,
    requests: { planned: 11, sent: 1, answered: 1, elapsedMs: 12 },
  };
  t.equal(printable(evil), 'x\\u001b[2J\\u009b31m<script>"\'&');
  t.notMatch(reportText(report), /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'text: no control character but line ends');
  t.notMatch(reportJson(report), /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'JSON: the same');
  t.equal(JSON.parse(reportJson(report)).findings[0].message, report.findings[0]!.message, 'and it is still the same JSON');
  const html = reportHtml(report);
  t.notMatch(html, /<script/);
  t.match(html, /&#60;script&#62;&#34;&#39;&#38;/);
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  const { createHash } = await import('node:crypto');
  t.match(html, `style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`, 'the policy names the style sheet by its hash');
  t.match(html, /default-src 'none'/);
});

t.test('progress lines for every outcome', async (t) => {
  const request = planned('http://example.com/')[1]!;
  t.equal(progressLine({ done: 2, total: 11, request, outcome: { kind: 'failed', error: 'socket hang up' } }), '[2/11] X-Forwarded-For forged: no answer: socket hang up');
  t.equal(progressLine({ done: 2, total: 11, request, outcome: { kind: 'other', status: 400, server: undefined, location: undefined, body: '' } }), '[2/11] X-Forwarded-For forged: 400');
});

t.test('an answer whose trace has a trust list but no walk (another version of the probe) is read without one', async (t) => {
  const exchanges = await withOutcomes({ proxies: [EDGE], options: { xFor: 1, xProto: 1, trusted: ['10.0.0.2'] } }, (e) => {
    if (e.outcome.kind !== 'answer' || e.request.id !== 'plain') return undefined;
    return { ...e.outcome, answer: { ...e.outcome.answer, trace: { ...e.outcome.answer.trace!, walk: null } } };
  });
  t.equal(analyse(exchanges, URL_HREF).status, 0);
});

t.test('a finding-free report of a safe check, as the README quotes it', async (t) => {
  const analysis = await analysed({ proxies: [EDGE], options: { xFor: 1, xProto: 1 } });
  const text = reportText({ url: URL_HREF, direct: null, ...analysis, requests: { planned: 11, sent: 11, answered: 11, elapsedMs: 30 } });
  t.match(text, /Closest sample: nginx\/tls\.conf \(or haproxy\/tls\.cfg, caddy\/tls\.Caddyfile\)/);
  t.match(text, /In force: {7}\{ xFor: 1, xProto: 1 \}/);
  t.match(text, /Safe: no forged value reached the app, and the options fit the chain\. Exit status 0\.\n$/);
  const known = reportText({ url: URL_HREF, direct: null, ...analysis, recommended: { ...analysis.recommended!, sample: { file: 'caddy/basic.Caddyfile', shape: 'basic', others: [] } },
    requests: { planned: 11, sent: 11, answered: 11, elapsedMs: 30 } });
  t.match(known, /Closest sample: caddy\/basic\.Caddyfile\n/);
  const bare = reportHtml({ url: URL_HREF, direct: null, ...analysis, current: null, recommended: { ...analysis.recommended!, sample: { file: 'caddy/basic.Caddyfile', shape: 'basic', others: [] } },
    requests: { planned: 11, sent: 11, answered: 11, elapsedMs: 30 } });
  t.match(bare, /Closest shipped sample: <code>caddy\/basic\.Caddyfile<\/code>\.\n<\/p>/);
  t.notMatch(bare, /In force/);
  const html = reportHtml({ url: URL_HREF, direct: DIRECT_HREF, ...analysis, requests: { planned: 22, sent: 22, answered: 22, elapsedMs: 30 } });
  t.match(html, /Also tried straight to the app/);
  t.match(html, /<code>haproxy\/tls\.cfg<\/code>, <code>caddy\/tls\.Caddyfile<\/code>/);
  t.equal(CLIENT, '203.0.113.9');
});

