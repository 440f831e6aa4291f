/**
 * Every hostile input of fixtures/hostile.jsonl through the real middlewares, each checked exactly:
 * all seven env fields and the headers the app saw, or the refusal, or the configuration error.
 * The file must cover every class of ../shared/THREATS.md and every hole of issue 12.
 */
import t from 'tap';
import { expectedOutcome, loadVectors, parseVectors, runVector, startingEnv } from './fixtures/hostile.js';

const vectors = loadVectors();

t.test('the file: at least 200 named inputs covering every threat class and every hole', async (t) => {
  t.ok(vectors.length >= 200, `${vectors.length} inputs`);
  const names = new Set(vectors.map((v) => v.name));
  t.equal(names.size, vectors.length, 'every name is unique, so a failure names one input');
  const perClass = new Map<string, number>();
  for (const v of vectors) perClass.set(v.class, (perClass.get(v.class) ?? 0) + 1);
  const classes = [...Array.from({ length: 24 }, (_, i) => String(i + 1)), ...Array.from({ length: 9 }, (_, i) => `issue12-hole${i + 1}`)];
  t.same(classes.filter((c) => !perClass.has(c)), [], 'no class or hole without an input');
  t.comment(classes.map((c) => `${c}: ${perClass.get(c) ?? 0}`).join(', '));
});

t.test('every input, through the real middlewares', async (t) => {
  for (const v of vectors) t.same(await runVector(v), expectedOutcome(v), `${v.class}: ${v.name}`);
});

t.test('a second run gives the same outcome: the inputs are deterministic', async (t) => {
  const again = await Promise.all(vectors.map((v) => runVector(v)));
  const first = await Promise.all(vectors.map((v) => runVector(v)));
  t.same(again, first);
  const v = vectors[0]!;
  t.not(startingEnv(v), startingEnv(v), 'each run gets a fresh env');
  t.not(startingEnv(v).headers, v.headers, 'and never the vector\'s own headers object');
});

t.test('a line that is not a vector is refused with its line number', async (t) => {
  const good = JSON.stringify({
    name: 'n', class: '1', middleware: 'proxyFix', options: { xFor: 'Infinity', trusted: [] }, remoteAddr: '10.0.0.2', host: '', headers: {},
    expect: { env: { remoteAddr: '', remotePort: '', scheme: '', host: '', serverName: '', serverPort: '', scriptName: '' } },
  });
  const parsed = parseVectors(`${good}\n\n`, 'x.jsonl');
  t.equal(parsed.length, 1, 'blank lines are skipped');
  t.equal((parsed[0]!.options as { xFor: number }).xFor, Infinity, 'a count written "Infinity" is Infinity');
  const bad = (change: Record<string, unknown>) => `${good}\n${JSON.stringify({ ...JSON.parse(good), ...change })}`;
  const cases: [string, RegExp][] = [
    ['{', /^x\.jsonl:1: /],
    [bad({ extra: 1 }), /^x\.jsonl:2: unknown key "extra"/],
    [bad({ name: '' }), /:2: no name/],
    [bad({ class: '25' }), /:2: class "25" is neither/],
    [bad({ class: 'issue12-hole10' }), /:2: class/],
    [bad({ middleware: 'explain' }), /:2: a middleware without options/],
    [bad({ middleware: 'compose', stack: [] }), /:2: a middleware without options/],
    [bad({ middleware: 'compose', stack: [{ middleware: 'trustGate' }] }), /:2: a middleware without options/],
    [bad({ remoteAddr: null }), /:2: remoteAddr and host/],
    [bad({ headers: { 'X-Forwarded-For': '1.2.3.4' } }), /:2: headers must map lower-case names/],
    [bad({ headers: { 'x-forwarded-for': ['1.2.3.4'] } }), /:2: headers must map/],
    [bad({ headers: null }), /:2: headers must map/],
    [bad({ expect: { status: 400, throws: 'X' } }), /:2: expect must hold exactly one/],
    [bad({ expect: null }), /:2: expect must hold exactly one/],
    [bad({ expect: { env: { remoteAddr: '' } } }), /:2: expect\.env must list every field/],
  ];
  for (const [text, message] of cases) t.throws(() => parseVectors(text, 'x.jsonl'), { message }, String(message));
  t.ok(parseVectors(bad({ middleware: 'compose', stack: [{ middleware: 'trustGate', options: { trusted: [] } }] })).length === 2, 'a compose stack');
});

t.test('an error that is not a configuration error is not taken for one', async (t) => {
  const [v] = parseVectors(JSON.stringify({
    name: 'n', class: '1', middleware: 'proxyFix', options: 'not an object', remoteAddr: '10.0.0.2', host: '', headers: {}, expect: { status: 400 },
  }));
  await t.rejects(runVector(v!), TypeError);
});
