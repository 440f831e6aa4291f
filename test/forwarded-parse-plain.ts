/**
 * Forwarded elements as proxies write them (`for=192.0.2.1;proto=https`) are read by a one-pass
 * reader of proxyfix's own; every other text still goes to forwarded-parse. The two must never
 * read an element differently, or the fast reader would be a way around forwarded-parse's rules.
 * The oracle is the reading from before the fast reader existed: every element through
 * forwarded-parse, one object, no repeated parameter.
 */
import t from 'tap';
import fc from 'fast-check';
import parseForwarded from 'forwarded-parse';
import { ForwardedFromRight, MAX_ELEMENT_LENGTH, parseNode } from '../src/net/forwarded.js';
import { ipv4 } from './fixtures/arbitraries.js';

/** What the reader gave for `header` before: each element's text and parameters, from the right. */
function oracle(header: string): { text: string; params: Record<string, string> | undefined }[] {
  const elements = [];
  let end = header.length;
  while (end >= 0) {
    let i = end - 1;
    let quoted = false;
    let pairs = 1;
    for (; i >= 0; i--) {
      const code = header.charCodeAt(i);
      if (quoted) {
        let slashes = 0;
        while (i - slashes - 1 >= 0 && header.charCodeAt(i - slashes - 1) === 92) slashes++;
        if (code === 34 && slashes % 2 === 0) quoted = false;
      } else if (code === 34) quoted = true;
      else if (code === 44) break;
      else if (code === 59) pairs++;
    }
    const text = header.slice(i + 1, end).trim();
    end = i;
    let params: Record<string, string> | undefined;
    if (!quoted && text !== '' && text.length <= MAX_ELEMENT_LENGTH) {
      try {
        const parsed = parseForwarded(text);
        params = parsed.length === 1 && Object.keys(parsed[0]!).length === pairs ? parsed[0] : undefined;
      } catch {
        params = undefined;
      }
    }
    elements.push({ text, params });
  }
  return elements;
}

function read(header: string) {
  const reader = new ForwardedFromRight(header);
  const elements = [];
  for (let element = reader.next(); element !== undefined; element = reader.next()) elements.push(element);
  return elements;
}

const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('for', 'FOR', 'For', 'by', 'proto', 'host', 'Host', 'secret', '__proto__', 'x-y') },
  { weight: 4, arbitrary: fc.constantFrom('=', '"', ';', ',', '\\', ' ', '\t', '=""', '="', '"x"', ';for=1', '\u00e9', '\u0001', '\u007f', '\u0100') },
  { weight: 3, arbitrary: fc.oneof(ipv4, fc.constantFrom('[2001:db8::1]:80', '_hidden', 'unknown', 'https', 'example.com:8443', '1.2.3.4:_p')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);
const text = fc.array(piece, { maxLength: 14 }).map((parts) => parts.join(''));
/** Elements near the shape proxies write, so that both readers' happy paths are compared too. */
const plain = fc.array(fc.tuple(
  fc.constantFrom('for', 'FOR', 'by', 'proto', 'host', 'secret'),
  fc.oneof(ipv4, fc.constantFrom('https', '"[2001:db8::1]:80"', '""', '"a,b;c=d"', '"x\\"y"', 'a b', '"é"')),
), { minLength: 1, maxLength: 4 }).map((pairs) => pairs.map(([name, value]) => `${name}=${value}`).join(';'));

t.test('every element reads as forwarded-parse reads it', async (t) => {
  let compared = 0;
  fc.assert(fc.property(fc.oneof(text, plain, fc.array(plain, { maxLength: 3 }).map((list) => list.join(', '))), (header) => {
    const got = read(header);
    const expected = oracle(header);
    compared += got.length;
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new Error(`${JSON.stringify(header)}\ngot      ${JSON.stringify(got)}\nexpected ${JSON.stringify(expected)}`);
    }
  }), { numRuns: 6000 });
  t.ok(compared >= 6000, `${compared} elements compared`);
});

t.test('named cases at the edge of the fast reader', async (t) => {
  const cases = [
    'for=192.0.2.1', 'for=192.0.2.1;proto=https;host=example.com', 'FOR=192.0.2.1;Proto=HTTPS', 'for="[2001:db8::1]:80"',
    'for=""', 'for="a,b"', 'for="a;b"', 'for="a\\"b"', 'for=a;for=b', 'for=a;', 'for=a; proto=b', 'for= a', 'for=a ;proto=b',
    'secret=1;for=a', '__proto__=x', 'for="\u00e9"', 'for="a', 'for=a"b"', 'for', '=a', 'for==a', ';for=a', 'for="a"b',
    'for="\t"', 'by=_p;for=unknown', 'host="example.com:8443";for=192.0.2.1', 'for="a\\\\"', 'for="\\a"',
    'constructor=1', 'toString=x;for=a',
  ];
  for (const header of cases) t.same(read(header), oracle(header), header);
});

t.test('a dotted quad is read as an address by the short way, as by the long one', async (t) => {
  for (const value of ['192.0.2.1', '0.0.0.0', '255.255.255.255', '01.2.3.4', '1.2.3', '1.2.3.4.5']) {
    const node = parseNode(value);
    t.same(node, value === '0.0.0.0' || !/^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(value)
      ? undefined : { kind: 'address', address: value, port: '' }, value);
  }
});
