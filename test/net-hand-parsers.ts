/**
 * Host names, path prefixes and IPv4 addresses are read by hand-written readers (src/net/host.ts,
 * src/net/prefix.ts, src/net/address.ts's ipv4Number), which run on every request. They replaced
 * readings that said the rules plainly (regular expressions, a character-by-character loop); those
 * are kept here as the oracle, and the readers must agree with them on every text, valid,
 * near-valid or hostile.
 */
import t from 'tap';
import fc from 'fast-check';
import { ipv4Number, isIPv4Address } from '../src/net/address.js';
import { isHostName, parseHost } from '../src/net/host.js';
import { parsePrefix } from '../src/net/prefix.js';

/** The dotted-quad reading before: a character at a time. */
function oracleIPv4(addr: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < addr.length; i++) {
    const code = addr.charCodeAt(i);
    if (code === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      const digit = code - 48;
      if (digit < 0 || digit > 9 || (digits === 1 && part === 0)) return -1;
      part = part * 10 + digit;
      if (part > 255) return -1;
      digits++;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

const NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:0x[0-9a-f]*|\d+)\.?$/i;
function oracleHostName(name: string): boolean {
  if (name.length > 253 || !NAME.test(name)) return false;
  return !NUMERIC_LAST_LABEL.test(name) || isIPv4Address(name.endsWith('.') ? name.slice(0, -1) : name);
}

const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})|%(?:2[EeFf]|5[Cc]|[01][0-9A-Fa-f]|7[Ff])/;
function oraclePrefix(value: string): string | undefined {
  if (value.charCodeAt(0) !== 47 || value.includes('//') || !PATH_CHARS.test(value) || BAD_ESCAPE.test(value)) return undefined;
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 47) end--;
  const prefix = value.slice(0, end);
  const segments = prefix.split('/');
  for (let i = 1; i < segments.length; i++) if (segments[i] === '.' || segments[i] === '..') return undefined;
  return prefix;
}

const hostPiece = fc.oneof(
  fc.constantFrom('example', 'com', 'a', '0x', '0X1f', '0xg', '10', '010', '1', '255', '256', '-', '_', 'xn--p1ai', 'ÿ', 'é', ' ', '/', '@', ':', '%'),
  fc.constantFrom('.', '.', '..'),
  fc.string({ maxLength: 3 }),
  fc.integer({ min: 0, max: 300 }).map(String),
);
const hostText = fc.oneof(
  fc.array(hostPiece, { maxLength: 8 }).map((parts) => parts.join('')),
  fc.domain(),
  fc.ipV4(),
  fc.tuple(fc.domain(), fc.constantFrom('', '.', ':443', ':0', ':99999', ':x')).map(([d, tail]) => d + tail),
  fc.integer({ min: 250, max: 256 }).map((n) => `${'a.'.repeat(n >> 1)}${n % 2 === 1 ? 'b' : ''}`),
);

const prefixPiece = fc.oneof(
  fc.constantFrom('/', '/', 'app', '.', '..', '%2e', '%2F', '%5c', '%41', '%7f', '%7e', '%0a', '%1F', '%', '%4', '%g1', '\\', '?', '#', ' ', '~', "'", '@', ':', '[', '"', '<', '`', '{', '\u00e9'),
  fc.string({ maxLength: 3 }),
);
const prefixText = fc.array(prefixPiece, { maxLength: 8 }).map((parts) => parts.join(''));

const quadPiece = fc.oneof(
  fc.integer({ min: 0, max: 300 }).map(String),
  fc.constantFrom('.', '.', '0', '00', '01', '255', '256', '999', '1000', ' ', '-1', '+1', ':', 'a', '\u0660', '.'),
);
const quadText = fc.oneof(
  fc.ipV4(),
  fc.array(quadPiece, { maxLength: 9 }).map((parts) => parts.join('')),
  fc.tuple(fc.ipV4(), fc.nat(15), fc.constantFrom('', '0', '.', '9', 'x', ' ')).map(([a, at, c]) => a.slice(0, at) + c + a.slice(at)),
  fc.string({ maxLength: 16 }),
);

t.test('ipv4Number agrees with a character-by-character reading', async (t) => {
  fc.assert(fc.property(quadText, (text) => {
    if (ipv4Number(text) !== oracleIPv4(text)) throw new Error(`ipv4Number(${JSON.stringify(text)}) gave ${ipv4Number(text)}, expected ${oracleIPv4(text)}`);
  }), { numRuns: 10000 });
  for (const text of ['0.0.0.0', '255.255.255.255', '256.0.0.1', '1.2.3', '1.2.3.4.', '.1.2.3.4', '1..2.3', '01.2.3.4', '1.2.3.04', '1.2.3.4 ', '1.2.3.1000', '1.2.3.25', '', '1.2.3.4:80']) {
    t.equal(ipv4Number(text), oracleIPv4(text), JSON.stringify(text));
  }
});

t.test('isHostName and parseHost agree with the patterns', async (t) => {
  fc.assert(fc.property(hostText, (text) => {
    const name = text.includes(':') ? text.slice(0, text.indexOf(':')) : text;
    if (isHostName(name) !== oracleHostName(name)) throw new Error(`isHostName(${JSON.stringify(name)})`);
    const parsed = parseHost(text);
    if ((parsed !== undefined) !== (oracleHostName(name) && (!text.includes(':') || /^:[1-9]\d{0,4}$/.test(text.slice(name.length)) &&
        Number(text.slice(name.length + 1)) <= 65535))) {
      throw new Error(`parseHost(${JSON.stringify(text)}) gave ${JSON.stringify(parsed)}`);
    }
  }), { numRuns: 8000 });
  for (const name of ['example.com', 'example.com.', '.', '..', 'a..b', 'a.', '.a', '10.0.0.1', '10.0.0.1.', '10.1', 'example.0x1', 'example.0X', '0xffffffff', 'a.0xg', 'a_b-c', `${'a'.repeat(253)}`, `${'a'.repeat(254)}`, '']) {
    t.equal(isHostName(name), oracleHostName(name), JSON.stringify(name));
  }
});

t.test('parsePrefix agrees with the patterns', async (t) => {
  fc.assert(fc.property(prefixText, (text) => {
    if (parsePrefix(text) !== oraclePrefix(text)) throw new Error(`parsePrefix(${JSON.stringify(text)}) gave ${JSON.stringify(parsePrefix(text))}, expected ${JSON.stringify(oraclePrefix(text))}`);
  }), { numRuns: 8000 });
  for (const text of ['/', '/app', '/app/', '//app', '/app//', '/a/./b', '/a/../b', '/a/.', '/a/..', '/a/.b', '/a/..b', '/%2e%2e', '/%41pp', '/%4', '/%', '/a%7F', '/a%7e', '/a%5C', '/a%0D%0A', 'app', '', '/a b', '/ä']) {
    t.equal(parsePrefix(text), oraclePrefix(text), JSON.stringify(text));
  }
});
