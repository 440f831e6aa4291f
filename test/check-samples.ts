/**
 * `proxyfix check` against every shipped sample config, end to end: the real nginx, HAProxy or
 * Caddy runs the sample in front of the real proxyfix server serving the probe with each set of
 * options the sample's header names, and the check must call the deployment safe (exit status 0)
 * and recommend exactly those options, as code and as `proxyfix serve` flags. The table of samples
 * the check points users at (src/check/samples.ts) is held against the files' headers here too.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { formatOptions, serveFlags } from '../src/check/recommend.js';
import { SAMPLES } from '../src/check/samples.js';
import { root } from './fixtures/child.js';
import { deploy } from './fixtures/check-deployments.js';
import { samplesOf } from './fixtures/proxy-shapes.js';
import { needProxy } from './fixtures/real-proxies.js';
import { namedCommands, namedOptions, sample, type ProxyName } from './fixtures/sample-configs.js';

const PROXIES: readonly ProxyName[] = ['nginx', 'haproxy', 'caddy'];

t.test('the check\'s table of samples is every shipped sample, with the counts its header names', async (t) => {
  // The layer-4 samples (proxy-protocol*) are no shape the check finds: test/proxy-protocol-proxies.ts runs them.
  const shipped = PROXIES.flatMap((name) => readdirSync(join(root, name))
    .filter((file) => !file.endsWith('.md') && !file.startsWith('proxy-protocol')).map((file) => `${name}/${file}`));
  t.strictSame(SAMPLES.map((s) => s.file).sort(), shipped.sort());
  for (const entry of SAMPLES) {
    const named = namedOptions(sample(entry.file)).map((options) => options.replace(/, trusted: .*? \}$/, ' }').replace(/, trustUnixSocket: true/, ''));
    t.ok(named.includes(formatOptions(entry.counts)), `${entry.file}: ${formatOptions(entry.counts)} is named in its header`, { named });
  }
});

for (const name of PROXIES) {
  t.test(`every ${name} sample: safe, and the options its header names`, async (t) => {
    const binary = await needProxy(t, name);
    if (binary === undefined) return;
    for (const spec of samplesOf(name)) {
      await t.test(spec.file, async (t) => {
        const text = sample(spec.file);
        const deployment = await deploy(t, name, binary, spec);
        for (const variant of spec.variants) {
          deployment.use(variant.options);
          const report = await deployment.check();
          const expected = formatOptions(variant.options);
          t.equal(report.status, 0, `${expected}: safe`, { findings: report.findings.filter((f) => f.severity !== 'ok') });
          t.equal(formatOptions(report.recommended!.options), expected, `${expected}: recommended exactly`);
          t.ok(namedOptions(text).includes(formatOptions(report.recommended!.options)), 'as the header names it');
          // Shapes the check cannot tell apart from what reaches the app (realip from basic; upstream
          // and websocket from any one-proxy shape with the same headers) need only its counts.
          const { file, others } = report.recommended!.sample;
          const alike = /\/(realip|upstream|websocket)\./.test(spec.file) || spec.file === 'caddy/basic.Caddyfile';
          const sameCounts = SAMPLES.find((s) => s.file === file)!.counts;
          t.ok([file, ...others].includes(spec.file) || (alike && formatOptions(sameCounts) === expected.replace(/, trusted: .*? \}$/, ' }')),
            `the closest sample: ${file}`, { others });
          if (variant.cli !== false) {
            t.ok(namedCommands(text).includes(serveFlags(report.recommended!.options).join(' ')), 'and its flags as the header names them',
              { flags: serveFlags(report.recommended!.options), named: namedCommands(text) });
          }
        }
      });
    }
  });
}
