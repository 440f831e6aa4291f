/**
 * `proxyfix check` against deliberately broken variants of the shipped samples, run by the real
 * proxies: each mistake the issue names (a proxy that appends instead of overwriting, a client's
 * Forwarded passed through, a count one too high, one too low, the app reachable directly), and a
 * few more the threat list has (HAProxy's `option forwardfor`, Connection-stripping, underscore
 * spellings, a proxy that trusts its clients, a forged prefix), must each come out as the right
 * finding with the right exit status. A variant is the sample's text with one edit, made here, so
 * that the sample itself stays as users copy it.
 */
import t, { type Test } from 'tap';
import type { FindingId, Severity } from '../src/check/analyse.js';
import { check, type CheckOptions } from '../src/check/index.js';
import type { CheckReport } from '../src/check/report.js';
import type { ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { TOKEN } from './fixtures/check-chains.js';
import { deploy, type Deployment } from './fixtures/check-deployments.js';
import { V4 } from './fixtures/proxy-clients.js';
import { samplesOf } from './fixtures/proxy-shapes.js';
import { freePort, needProxy } from './fixtures/real-proxies.js';
import { sample, type ProxyName } from './fixtures/sample-configs.js';

/** `text` with `from` replaced by `to`; fails loudly when the sample no longer has `from`. */
function edit(text: string, from: string | RegExp, to: string): string {
  const edited = text.replace(from, to);
  if (edited === text) throw new Error(`the sample no longer has ${String(from)}: update this variant`);
  return edited;
}

interface Variant {
  name: string;
  file: string;
  /** The sample's text, broken; the sample as it is when absent. */
  text?: (text: string) => string;
  /** The server's options, when not the sample's. */
  options?: ProxyFixOptions;
  /** More check options (the direct URL), given the running deployment. */
  check?: (deployment: Deployment) => Promise<Partial<CheckOptions>>;
  status: 0 | 1 | 2 | 3;
  finds: { id: FindingId; severity: Severity; header?: string; option?: string; field?: string; message?: RegExp }[];
  /** The options recommended as code, when the check says more than "as the sample". */
  recommended?: string;
}

const VARIANTS: Record<ProxyName, Variant[]> = {
  nginx: [
    {
      name: 'appending instead of overwriting ($proxy_add_x_forwarded_for at the first proxy), the count right',
      file: 'nginx/basic.conf',
      text: (s) => edit(s, 'proxy_set_header X-Forwarded-For $remote_addr;', 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'),
      status: 2,
      finds: [{ id: 'appends', severity: 'wrong', header: 'X-Forwarded-For' }],
      recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
    },
    {
      name: 'appending instead of overwriting, and xFor 2: a client chooses its address',
      file: 'nginx/basic.conf',
      text: (s) => edit(s, 'proxy_set_header X-Forwarded-For $remote_addr;', 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'),
      options: { xFor: 2, xProto: 1 },
      status: 1,
      finds: [
        { id: 'appends', severity: 'wrong', header: 'X-Forwarded-For' },
        { id: 'spoofable', severity: 'spoofable', field: 'remoteAddr', message: /X-Forwarded-For \(198\.51\.100\.1\)/ },
        { id: 'count-too-high', severity: 'wrong', option: 'xFor' },
      ],
      recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
    },
    {
      name: 'the server\'s count one too low for two tiers (xFor 1)',
      file: 'nginx/two-tier.conf',
      options: { xFor: 1, xProto: 1, xHost: 1 },
      status: 2,
      finds: [{ id: 'count-too-low', severity: 'wrong', option: 'xFor', message: /the app takes the value proxy 1 wrote \("127\.0\.0\.1"\)/ }],
      recommended: 'proxyFix(app, { xFor: 2, xProto: 1, xHost: 1 })',
    },
    {
      name: 'the app reachable directly, believing what a client there sends',
      file: 'nginx/basic.conf',
      check: async (d) => ({ direct: d.appUrl! }),
      status: 1,
      finds: [
        { id: 'reachable-directly', severity: 'wrong' },
        { id: 'spoofable-directly', severity: 'spoofable', field: 'remoteAddr' },
        { id: 'spoofable-directly', severity: 'spoofable', field: 'scheme' },
      ],
    },
    {
      name: 'the app reachable directly, where its trust list believes nothing from the client',
      file: 'nginx/two-tier.conf',
      options: { xFor: 2, xProto: 1, xHost: 1, trusted: ['127.0.0.1'] },
      check: async (d) => ({ direct: d.appUrl! }),
      status: 2,
      finds: [{ id: 'reachable-directly', severity: 'wrong', message: /believe nothing a client there sends/ }],
      recommended: 'proxyFix(app, { xFor: 2, xProto: 1, xHost: 1, trusted: [\'127.0.0.1\'] })',
    },
    {
      name: 'the app not reachable at the direct URL given',
      file: 'nginx/basic.conf',
      check: async () => ({ direct: `http://127.0.0.1:${await freePort()}/` }),
      status: 0,
      finds: [{ id: 'not-reachable-directly', severity: 'ok', message: /ECONNREFUSED/ }],
    },
    {
      name: 'a client\'s X-Forwarded-Prefix passed on where the proxy should write its own (Traefik CVE-2020-15129)',
      file: 'nginx/prefix.conf',
      text: (s) => edit(s, /\n\s*proxy_set_header X-Forwarded-Prefix \/app;/, ''),
      status: 1,
      finds: [
        { id: 'passes-through', severity: 'wrong', header: 'X-Forwarded-Prefix' },
        { id: 'spoofable', severity: 'spoofable', field: 'scriptName', message: /X-Forwarded-Prefix \(\/proxyfix-check-forged\)/ },
        { id: 'count-too-high', severity: 'wrong', option: 'xPrefix' },
      ],
      recommended: 'proxyFix(app, { xFor: 1, xProto: 1, xHost: 1 })',
    },
  ],
  haproxy: [
    {
      name: 'appending with `option forwardfor`: a second X-Forwarded-For line after the client\'s',
      file: 'haproxy/basic.cfg',
      text: (s) => edit(edit(s, '    http-request set-header X-Forwarded-For %[src]\n', ''),
        'http-request del-header ^(x[-_]forwarded[-_].*|', 'option forwardfor\n    http-request del-header ^(x[-_]forwarded[-_](proto|host|port|prefix)|x_forwarded_for|'),
      status: 2,
      finds: [{ id: 'appends', severity: 'wrong', header: 'X-Forwarded-For' }],
      recommended: 'proxyFix(app, { xFor: 1, xProto: 1 })',
    },
    {
      name: 'the server\'s count one too high for two tiers (xFor 3)',
      file: 'haproxy/two-tier.cfg',
      options: { xFor: 3, xProto: 1, xHost: 1 },
      status: 2,
      finds: [{ id: 'count-too-high', severity: 'wrong', option: 'xFor', message: /xFor is 3, but 2 proxies set X-Forwarded-For, so the app finds too few values/ }],
      recommended: 'proxyFix(app, { xFor: 2, xProto: 1, xHost: 1 })',
    },
    {
      name: 'a proxy that drops its own X-Forwarded-For when a client names it in Connection (Traefik CVE-2024-45410)',
      file: 'haproxy/basic.cfg',
      text: (s) => edit(s, '    http-request set-header X-Forwarded-Proto http\n',
        '    http-request set-header X-Forwarded-Proto http\n    http-request del-header X-Forwarded-For if { req.hdr(connection) -m sub -i x-forwarded-for }\n'),
      status: 1,
      finds: [{ id: 'connection-strips', severity: 'spoofable', header: 'X-Forwarded-For', message: /the app then sees remoteAddr "127\.0\.0\.1"/ }],
    },
  ],
  caddy: [
    {
      name: 'a client\'s Forwarded passed through (Caddy passes it unless told)',
      file: 'caddy/basic.Caddyfile',
      text: (s) => edit(s, /\n\t\theader_up -Forwarded/, ''),
      status: 2,
      finds: [{ id: 'forwarded-passes-through', severity: 'wrong', header: 'Forwarded' }],
      recommended: 'proxyFix(app, { xFor: 1, xProto: 1, xHost: 1 })',
    },
    {
      name: 'the underscore spellings passed through',
      file: 'caddy/basic.Caddyfile',
      text: (s) => edit(s, /\n\t\t# Spelled with underscores[^\n]*\n\t\theader_up -X_Forwarded_\*/, ''),
      status: 2,
      finds: [{ id: 'aliases-pass-through', severity: 'wrong', message: /X_Forwarded_For, X_Forwarded_Proto, X_Forwarded_Host, X_Forwarded_Port and X_Forwarded_Prefix reach the app/ }],
    },
    {
      name: 'trusted_proxies covering the clients: Caddy keeps their X-Forwarded-Proto and -Host, and appends to their X-Forwarded-For',
      file: 'caddy/basic.Caddyfile',
      text: (s) => edit(s, '\treverse_proxy 127.0.0.1:8000 {\n', '\treverse_proxy 127.0.0.1:8000 {\n\t\ttrusted_proxies 127.0.0.0/8\n'),
      status: 1,
      finds: [
        { id: 'appends', severity: 'wrong', header: 'X-Forwarded-For' },
        { id: 'keeps-client-value', severity: 'wrong', header: 'X-Forwarded-Proto' },
        { id: 'keeps-client-value', severity: 'wrong', header: 'X-Forwarded-Host' },
        { id: 'spoofable', severity: 'spoofable', field: 'scheme' },
        { id: 'spoofable', severity: 'spoofable', field: 'serverName', message: /X-Forwarded-Host \(x-forwarded-host\.proxyfix-check\.invalid\)/ },
      ],
      recommended: 'proxyFix(app, { xFor: 1, xProto: 0 })',
    },
  ],
};

async function runVariant(t: Test, name: ProxyName, binary: string, variant: Variant): Promise<CheckReport> {
  const spec = samplesOf(name).find((s) => s.file === variant.file)!;
  const text = (variant.text ?? ((s: string) => s))(sample(variant.file));
  const deployment = await deploy(t, name, binary, spec, { text, ...(variant.options ? { options: variant.options } : {}) });
  return deployment.check(await variant.check?.(deployment));
}

for (const name of ['nginx', 'haproxy', 'caddy'] as const) {
  t.test(`broken ${name} deployments`, async (t) => {
    const binary = await needProxy(t, name);
    if (binary === undefined) return;
    for (const variant of VARIANTS[name]) {
      await t.test(`${variant.file}: ${variant.name}`, async (t) => {
        const report = await runVariant(t, name, binary, variant);
        t.equal(report.status, variant.status, `exit status ${variant.status}`, { findings: report.findings.filter((f) => f.severity !== 'ok') });
        for (const expected of variant.finds) {
          const found = report.findings.find((f) => f.id === expected.id && f.severity === expected.severity
            && (expected.header === undefined || f.header === expected.header)
            && (expected.option === undefined || f.option === expected.option)
            && (expected.field === undefined || f.field === expected.field)
            && (expected.message === undefined || expected.message.test(f.message)));
          t.ok(found, `finds ${expected.id} (${expected.severity})`, { findings: report.findings });
        }
        if (variant.recommended !== undefined) t.equal(report.recommended!.code, variant.recommended, 'recommends');
      });
    }
  });
}

t.test('the probe refusing a wrong token, and a URL that redirects: exit status 3', async (t) => {
  const binary = await needProxy(t, 'nginx');
  if (binary === undefined) return;
  const spec = samplesOf('nginx').find((s) => s.file === 'nginx/tls.conf')!;
  const deployment = await deploy(t, 'nginx', binary, spec);
  const refused = await deployment.check({ token: 'not-the-token-at-all-0000' });
  t.equal(refused.status, 3);
  t.match(refused.findings, [{ id: 'token-refused', severity: 'unreachable' }]);
  t.equal(refused.requests.sent, 1, 'nothing more is sent');
  // The sample's plain-HTTP listener only redirects to HTTPS.
  const plain = await check(`http://127.0.0.1:${deployment.slots.http}/`, { token: TOKEN, localAddress: V4.address });
  t.equal(plain.status, 3);
  t.match(plain.findings, [{ id: 'not-a-probe', message: /answered 301 \(to https:\/\/127\.0\.0\.1\/\.well-known\/proxyfix\)/ }]);
});
