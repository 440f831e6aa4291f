/**
 * `proxyfix check` and `proxyfix serve --probe-token` as a user runs them: the serve side mounts the
 * probe inside proxyFix, the check side turns its report into output and an exit status, and every
 * mistake is one line with status 3 (the check could not run), never a verdict.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheckCommand } from '../src/server/check-command.js';
import { CommandError, type CommandIo } from '../src/server/command.js';
import { cli, root, run } from './fixtures/child.js';
import { command } from './fixtures/command.js';
import { request } from './fixtures/http-client.js';

const TOKEN = 'a-probe-token-of-32-characters!!';

interface Checked { status: number | undefined; error: CommandError | undefined; stdout: string; stderr: string }

async function checkRun(argv: string[], env: Record<string, string> = {}): Promise<Checked> {
  const out: Checked = { status: undefined, error: undefined, stdout: '', stderr: '' };
  const io: CommandIo = {
    env, cwd: root,
    stdout: { write: (chunk: string) => { out.stdout += chunk; } },
    stderr: { write: (chunk: string) => { out.stderr += chunk; } },
  };
  try {
    out.status = await runCheckCommand(argv, io);
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    out.error = error;
  }
  return out;
}

/** `proxyfix serve` with the probe, in this process; its URL. */
async function probedServer(t: Test, flags: string[]): Promise<string> {
  const served = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', '--no-access-log', '--probe-token', TOKEN, ...flags]);
  t.equal(served.error, undefined, 'serves');
  return `http://${served.server!.addresses[0]}/`;
}

t.test('serve --probe-token: the probe answers inside proxyFix, and only with the token', async (t) => {
  const url = await probedServer(t, ['--x-for', '1', '--trusted', 'loopback']);
  const port = Number(new URL(url).port);
  const answer = await request({ port }, { path: '/.well-known/proxyfix', headers: { 'proxyfix-probe-token': TOKEN, 'x-forwarded-for': '203.0.113.7' } });
  t.equal(answer.status, 200);
  const body = JSON.parse(answer.body) as { before: { remoteAddr: string }; after: { remoteAddr: string }; trace: unknown; options: unknown };
  t.match(body, { before: { remoteAddr: '127.0.0.1' }, after: { remoteAddr: '203.0.113.7' }, options: { xFor: 1, trusted: ['loopback'] } });
  t.not(body.trace, null, 'the trace is kept for the probe');
  t.equal((await request({ port }, { path: '/.well-known/proxyfix' })).status, 404, 'without the token: nothing there');
  t.equal((await request({ port }, { path: '/' })).status, 200, 'the app answers everything else');

  const moved = await probedServer(t, ['--probe-path', '/ops/probe']);
  const movedPort = Number(new URL(moved).port);
  t.equal((await request({ port: movedPort }, { path: '/ops/probe', headers: { 'proxyfix-probe-token': TOKEN } })).status, 200, '--probe-path');

  // An app served without proxy options keeps being served as it is; the probe sees it unfixed.
  const plain = await command(t, ['serve', 'test/fixtures/apps.ts:app', '-b', '127.0.0.1:0', '--no-access-log', '--probe-token', TOKEN]);
  const plainPort = Number(plain.server!.addresses[0]!.split(':').at(-1));
  const unfixed = await request({ port: plainPort }, { path: '/.well-known/proxyfix', headers: { 'proxyfix-probe-token': TOKEN, 'x-forwarded-for': '203.0.113.7' } });
  t.match(JSON.parse(unfixed.body), { after: { remoteAddr: '127.0.0.1' }, trace: null, options: null }, 'no proxyFix: nothing fixed, no trace');

  const pathAlone = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', '--probe-path', '/p']);
  t.match(pathAlone.error, { exitCode: 2, message: /--probe-path needs --probe-token/ });
  const short = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', '--probe-token', 'short']);
  t.match(short.error, { exitCode: 2, message: /token/ });
  const fromEnv = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0'], { PROXYFIX_PROBE_TOKEN: TOKEN });
  const envPort = Number(fromEnv.server!.addresses[0]!.split(':').at(-1));
  t.equal((await request({ port: envPort }, { path: '/.well-known/proxyfix', headers: { 'proxyfix-probe-token': TOKEN } })).status, 200,
    'PROXYFIX_PROBE_TOKEN');
});

t.test('check straight against an app that believes X-Forwarded-For from anyone: spoofable, status 1', async (t) => {
  const url = await probedServer(t, ['--x-for', '1']);
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = await checkRun([url, '--token', TOKEN, '--html', join(dir, 'report.html'), '--timeout', '20', '--max-requests', '30']);
  t.equal(text.status, 1, 'spoofable');
  t.match(text.stdout, /spoofable/i);
  t.match(text.stderr, /\S/, 'progress on stderr');
  t.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<svg/, 'the HTML report draws the chain');
  const json = await checkRun([url, '--json'], { PROXYFIX_PROBE_TOKEN: TOKEN });
  t.equal(json.status, 1);
  t.match(JSON.parse(json.stdout), { status: 1 }, '--json, the token from PROXYFIX_PROBE_TOKEN');
  const refused = await checkRun([url, '--token', 'not-the-token-at-all-0123456789']);
  t.equal(refused.status, 3, 'a refused token: could not check');
});

t.test('check: every mistake is one line and status 3, never a verdict', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['no URL', ['--token', TOKEN], /check takes one URL, got 0/],
    ['two URLs', ['http://a/', 'http://b/', '--token', TOKEN], /got 2/],
    ['no token', ['http://127.0.0.1:9/'], /check needs --token/],
    ['an unknown flag', ['http://127.0.0.1:9/', '--nope'], /Unknown option '--nope'.*proxyfix check --help/],
    ['a timeout of 0', ['http://127.0.0.1:9/', '--token', TOKEN, '--timeout', '0'], /--timeout must be a number of seconds above 0/],
    ['a fractional request count', ['http://127.0.0.1:9/', '--token', TOKEN, '--max-requests', '1.5'], /--max-requests must be a whole number/],
    ['a URL that is none', ['not a url', '--token', TOKEN], /url/i],
    ['a missing CA file', ['https://127.0.0.1:9/', '--token', TOKEN, '--ca', 'no/such/file.pem'], /--ca: ENOENT/],
  ];
  for (const [name, argv, message] of cases) {
    const out = await checkRun(argv);
    t.match(out.error, { exitCode: 3, message }, name);
  }
  const unwritable = await probedServer(t, []);
  const html = await checkRun([unwritable, '--token', TOKEN, '--html', join(root, 'no-such-dir', 'r.html')]);
  t.match(html.error, { exitCode: 3, message: /ENOENT/ }, 'a report that cannot be written');
  const help = await checkRun(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /^usage: proxyfix check URL --token TOKEN/);
});

t.test('the program: proxyfix check', async (t) => {
  const [help, nothing] = await Promise.all([run(cli, ['check', '--help']), run(cli, ['check'])]);
  t.match(help, { code: 0, stdout: /^usage: proxyfix check/ });
  t.match(nothing, { code: 3, stderr: /^proxyfix: check takes one URL, got 0/ });
});
