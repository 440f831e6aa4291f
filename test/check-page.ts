/**
 * The check's HTML report (`proxyfix check --html FILE`) in a real headless Chromium, at a phone's
 * width and a desktop's: opened as the file a user would open, under the policy in its own meta
 * tag, with no console error or policy violation, and the chain drawn with one node per hop.
 *
 * The report comes from a real check of nginx/two-tier.conf (client, edge, inner tier, app), so the
 * picture has a hop of every kind. Screenshots go to a temporary folder; with
 * PROXYFIX_SCREENSHOTS=docs they replace docs/check-report-*.png, which the README shows.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { reportHtml } from '../src/check/report.js';
import { deploy } from './fixtures/check-deployments.js';
import { root } from './fixtures/child.js';
import { hasChromium, INSTALL_CHROMIUM, launchChromium, openPage } from './fixtures/chromium.js';
import { samplesOf } from './fixtures/proxy-shapes.js';
import { needProxy } from './fixtures/real-proxies.js';
import { tempDir } from './fixtures/teardown.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

if (!hasChromium() && !process.env.CI) {
  t.plan(0, INSTALL_CHROMIUM);
} else {
  t.test('the HTML report at 360 and 1280 px: its own policy, no errors, one node per hop', async (t) => {
    t.ok(hasChromium(), `CI must run the browser tests: ${INSTALL_CHROMIUM}`);
    const binary = await needProxy(t, 'nginx');
    if (binary === undefined) return;
    const spec = samplesOf('nginx').find((s) => s.file === 'nginx/two-tier.conf')!;
    const deployment = await deploy(t, 'nginx', binary, spec, { options: { xFor: 2, xProto: 1, xHost: 1, trusted: ['127.0.0.1'] } });
    const report = await deployment.check();
    t.equal(report.status, 0);
    t.same(report.chain!.hops.map((hop) => [hop.role, hop.address]), [
      ['client', '127.0.0.2'], ['proxy', '127.0.0.1'], ['proxy', '127.0.0.1'], ['app', '127.0.0.1'],
    ], 'client, edge, inner tier, app');

    const dir = tempDir(t);
    const file = join(dir, 'report.html');
    writeFileSync(file, reportHtml(report));
    const screenshots = process.env.PROXYFIX_SCREENSHOTS === 'docs' ? join(root, 'docs') : mkdtempSync(join(tmpdir(), 'proxyfix-check-page-'));
    if (process.env.PROXYFIX_SCREENSHOTS !== 'docs') t.teardown(() => rmSync(screenshots, { recursive: true, force: true }));

    const browser = await launchChromium(t);
    for (const width of [360, 1280]) {
      const { page, problems } = await openPage(browser, pathToFileURL(file).href, width);
      t.equal(await page.locator('.verdict').textContent(), `${report.verdict} Exit status 0.`, `${width}px: the verdict first`);
      t.equal(await page.locator('ul.findings li').count(), report.findings.length, `${width}px: a line per finding`);
      const svg = page.locator('svg.chain');
      t.equal(await svg.count(), 1, `${width}px: one chain`);
      t.same(await svg.locator('[data-hop]').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-role'))),
        report.chain!.hops.map((hop) => hop.role), `${width}px: one node per hop, client to app`);
      const box = (await svg.boundingBox())!;
      t.ok(box.x >= 0 && box.x + box.width <= width, `${width}px: the chain fits the width (${box.x}..${box.x + box.width})`);
      t.ok(box.width >= 320, `${width}px: drawn ${box.width}px wide of 360: readable`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      t.equal(overflow, 0, `${width}px: nothing wider than the screen`);

      const path = join(screenshots, `check-report-${width}.png`);
      await page.screenshot({ path, fullPage: true });
      const png = readFileSync(path);
      t.ok(png.subarray(0, 8).equals(PNG) && png.length < 400_000, `${width}px: a PNG (${png.length} bytes)`);

      t.same(await problems(), { console: [], errors: [], violations: [] }, `${width}px: no console error, page error or policy violation`);
      // The policy is enforced: what it does not allow is reported.
      await page.evaluate(() => {
        const image = document.createElement('img');
        image.src = 'https://example.com/forbidden.png';
        document.body.append(image);
      });
      t.match((await problems()).violations, [/^img-src /], `${width}px: a blocked image is seen as a policy violation`);
      await page.context().close();
    }
  });
}
