/**
 * The inspection page in a real headless Chromium, at a phone's width and a desktop's: the chain
 * drawn with one node per hop, readable at both, and nothing on the page that its own
 * Content-Security-Policy blocks or that logs an error.
 *
 * Screenshots go to a temporary folder; with PROXYFIX_SCREENSHOTS=docs they replace the ones in
 * docs/ that the README shows (`PROXYFIX_SCREENSHOTS=docs npx tap --disable-coverage test/pages.ts`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chainOf } from '../src/chain.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { inspectApp, type Inspection } from '../src/server/inspect.js';
import { hasChromium, INSTALL_CHROMIUM, launchChromium, openPage } from './fixtures/chromium.js';
import { request } from './fixtures/http-client.js';
import { startApp } from './fixtures/proxyfix-servers.js';
import { root } from './fixtures/child.js';

/** Client 203.0.113.7 → a CDN at 198.51.100.2 → a local proxy → the app: a chain of three hops before the app. */
const forwarded = {
  'X-Forwarded-For': '203.0.113.7, 198.51.100.2',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'example.com',
};
const options = { xFor: 2, xProto: 1, xHost: 1, trusted: ['loopback', '198.51.100.0/24'], trace: true } as const;

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

if (!hasChromium() && !process.env.CI) {
  t.plan(0, INSTALL_CHROMIUM);
} else {
  t.test('the inspection page draws the chain at 360 and 1280 px, under its CSP, without errors', async (t) => {
    t.ok(hasChromium(), `CI must run the browser tests: ${INSTALL_CHROMIUM}`);
    const { port } = await startApp(t, proxyFix(inspectApp(), options));
    const url = `http://127.0.0.1:${port}/users/1`;

    // The chain the page should draw, from the JSON answer to the same request.
    const json = await request({ port }, { path: '/users/1', headers: forwarded });
    const inspection = JSON.parse(json.body) as Inspection;
    const chain = chainOf({ ...inspection, headers: inspection.request.headers });
    t.same(chain.hops.map((hop) => [hop.role, hop.address, hop.trusted]), [
      ['client', '203.0.113.7', null],
      ['proxy', '198.51.100.2', true],
      ['proxy', '127.0.0.1', true],
      ['app', `127.0.0.1:${port}`, null],
    ], 'three hops before the app, both proxies trusted');

    const screenshots = process.env.PROXYFIX_SCREENSHOTS === 'docs' ? join(root, 'docs') : mkdtempSync(join(tmpdir(), 'proxyfix-pages-'));
    if (process.env.PROXYFIX_SCREENSHOTS !== 'docs') t.teardown(() => rmSync(screenshots, { recursive: true, force: true }));

    const browser = await launchChromium(t);
    for (const width of [360, 1280]) {
      const { page, problems } = await openPage(browser, url, width, forwarded);
      const svg = page.locator('svg.chain');
      t.equal(await svg.count(), 1, `${width}px: one chain on the page`);
      t.same(await svg.locator('[data-hop]').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-role'))),
        chain.hops.map((hop) => hop.role), `${width}px: one node per hop, client to app`);

      // Readable: the picture fits the screen and is not shrunk below about nine tenths of its size.
      const box = (await svg.boundingBox())!;
      t.ok(box.x >= 0 && box.x + box.width <= width, `${width}px: the chain fits the width (${box.x}..${box.x + box.width})`);
      t.ok(box.width >= 320, `${width}px: drawn ${box.width}px wide of 360: its 12-13px text stays readable`);

      // The chain's section: its heading down to the app.
      const top = (await page.locator('h2', { hasText: 'The chain' }).boundingBox())!.y - 12;
      const path = join(screenshots, `inspect-chain-${width}.png`);
      await page.screenshot({ path, fullPage: true, clip: { x: 0, y: top, width, height: Math.ceil(box.y + box.height + 16 - top) } });
      const png = readFileSync(path);
      t.ok(png.subarray(0, 8).equals(PNG) && png.length < 200_000, `${width}px: a small PNG (${png.length} bytes)`);

      t.same(await problems(), { console: [], errors: [], violations: [] }, `${width}px: no console error, page error or CSP violation`);

      // The watch works: something the policy forbids is reported.
      await page.evaluate(() => {
        const image = document.createElement('img');
        image.src = '/forbidden.png';
        document.body.append(image);
      });
      t.match((await problems()).violations, [/^img-src /], `${width}px: a blocked image is seen as a CSP violation`);
      await page.context().close();
    }
  });
}
