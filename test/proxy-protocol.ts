/**
 * The PROXY protocol parser, by named cases for every family, command and way of being wrong, and by
 * fuzzing: no input makes it throw, read past the bytes it is given, or take long.
 */
import fc from 'fast-check';
import t from 'tap';
import { crc32c, MAX_V1_LENGTH, parseProxyHeader, proxySignature, type ProxyHeaderResult } from '../src/net/proxy-protocol.js';
import { inet, inet6, ssl, tlv, unix, v1, v2, V2_SIGNATURE } from './fixtures/proxy-headers.js';

const HTTP = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n');

function parse(bytes: Uint8Array, limits?: Parameters<typeof parseProxyHeader>[1]): ProxyHeaderResult {
  return parseProxyHeader(bytes, limits);
}

function header(bytes: Uint8Array) {
  const result = parse(Buffer.concat([bytes, HTTP]));
  if (result.kind !== 'header') throw new Error(`not a header: ${JSON.stringify(result)}`);
  if (result.length !== bytes.length) throw new Error(`length ${result.length}, expected ${bytes.length}`);
  return result.header;
}

t.test('CRC32C is Castagnoli\'s (the check value of "123456789")', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa, 'RFC 3720 B.4: 32 bytes of zeros');
});

t.test('signatures', async (t) => {
  t.equal(proxySignature(Buffer.from('PROXY ')), 1);
  t.equal(proxySignature(V2_SIGNATURE), 2);
  for (const partial of ['', 'P', 'PROX', 'PROXY', '\r\n\r\n\0']) t.equal(proxySignature(Buffer.from(partial)), 'partial', JSON.stringify(partial));
  // Methods that share a first letter with PROXY part ways within a few bytes.
  for (const none of ['GET', 'PUT', 'POST', 'PROPFIND', 'PROXYX', 'proxy ', '\r\n\r\nGET', '\r\nGET']) {
    t.equal(proxySignature(Buffer.from(none)), 'none', JSON.stringify(none));
  }
  t.same(parse(HTTP), { kind: 'absent' });
  t.same(parse(Buffer.alloc(0)), { kind: 'incomplete' });
});

t.test('version 1: every family, with what follows left alone', async (t) => {
  t.same(header(v1('TCP4 203.0.113.7 10.0.0.1 51234 443')), {
    version: 1, command: 'PROXY', family: 'inet', transport: 'stream',
    source: { address: '203.0.113.7', port: 51234 }, destination: { address: '10.0.0.1', port: 443 }, tlvs: {},
  });
  t.same(header(v1('TCP6 2001:db8::7 ::1 0 65535')), {
    version: 1, command: 'PROXY', family: 'inet6', transport: 'stream',
    source: { address: '2001:db8::7', port: 0 }, destination: { address: '::1', port: 65535 }, tlvs: {},
  });
  const unknown = { version: 1, command: 'PROXY', family: 'unspec', transport: 'unspec', tlvs: {} };
  t.same(header(v1('UNKNOWN')), unknown);
  t.same(header(v1('UNKNOWN whatever follows is ignored 1 2')), unknown);
  // The longest line the spec allows is exactly 107 bytes.
  const longest = v1('UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535'.padEnd(MAX_V1_LENGTH - 8, 'x'));
  t.equal(longest.length, MAX_V1_LENGTH);
  t.same(header(longest), unknown);
  const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const widest = v1(`TCP6 ${full} ${full} 65535 65535`);
  t.equal(widest.length, 104, 'the widest TCP6 line fits');
  t.same(header(widest).source, { address: full, port: 65535 });
});

t.test('version 1: refused', async (t) => {
  const cases: Record<string, string> = {
    'two spaces': 'PROXY TCP4  203.0.113.7 10.0.0.1 1 2\r\n',
    'a trailing space': 'PROXY TCP4 203.0.113.7 10.0.0.1 1 2 \r\n',
    'a tab': 'PROXY TCP4\t203.0.113.7 10.0.0.1 1 2\r\n',
    'a missing port': 'PROXY TCP4 203.0.113.7 10.0.0.1 1\r\n',
    'an unknown protocol': 'PROXY UDP4 203.0.113.7 10.0.0.1 1 2\r\n',
    'a lower-case protocol': 'PROXY tcp4 203.0.113.7 10.0.0.1 1 2\r\n',
    'IPv6 under TCP4': 'PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n',
    'IPv4 under TCP6': 'PROXY TCP6 203.0.113.7 ::1 1 2\r\n',
    'a zone id': 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n',
    'a leading zero in an address': 'PROXY TCP4 203.0.113.07 10.0.0.1 1 2\r\n',
    'a short IPv4 form': 'PROXY TCP4 10.1 10.0.0.1 1 2\r\n',
    'brackets': 'PROXY TCP6 [::1] ::1 1 2\r\n',
    'a port above 65535': 'PROXY TCP4 203.0.113.7 10.0.0.1 65536 2\r\n',
    'a port with a leading zero': 'PROXY TCP4 203.0.113.7 10.0.0.1 080 2\r\n',
    'a negative port': 'PROXY TCP4 203.0.113.7 10.0.0.1 -1 2\r\n',
    'a hex port': 'PROXY TCP4 203.0.113.7 10.0.0.1 0x50 2\r\n',
    'a bare LF': 'PROXY TCP4 203.0.113.7 10.0.0.1 1 2\nGET / HTTP/1.1\r\n',
    'a bare CR': 'PROXY TCP4 203.0.113.7 10.0.0.1 1 2\rGET / HTTP/1.1\r\n',
    'a NUL': 'PROXY TCP4 203.0.113.7\x0010.0.0.1 1 2\r\n',
    'a non-ASCII byte': 'PROXY UNKNOWN \xe9\r\n',
    'CRLF in the middle': 'PROXY TCP4 203.0.113.7\r\n10.0.0.1 1 2\r\n',
    'an overlong address': `PROXY TCP6 ${'1:'.repeat(60)}1 ::1 1 2\r\n`,
    'no CRLF within 107 bytes': `PROXY UNKNOWN ${'x'.repeat(120)}\r\n`,
    'the CRLF at bytes 107-108': `PROXY UNKNOWN ${'x'.repeat(MAX_V1_LENGTH - 15)}\r\n`,
  };
  for (const [name, text] of Object.entries(cases)) {
    const result = parse(Buffer.from(text, 'latin1'));
    t.equal(result.kind, 'invalid', name);
    if (result.kind === 'invalid') t.notMatch(result.reason, /203|10\.0|eth0|xxx/, `${name}: the reason holds no input`);
  }
  t.same(parse(v1('TCP4 203.0.113.7 10.0.0.1 1 2'), { versions: [2] }),
    { kind: 'invalid', reason: 'a version 1 header, but only version 2 is accepted' });
});

t.test('version 1: incomplete until the CRLF, whatever the split', async (t) => {
  const whole = v1('TCP4 203.0.113.7 10.0.0.1 51234 443');
  for (let n = 0; n < whole.length; n++) t.equal(parse(whole.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
  t.equal(parse(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(90)}`)).kind, 'incomplete', 'under 107 bytes without a CRLF');
});

t.test('version 2: every family and command', async (t) => {
  t.same(header(v2()), {
    version: 2, command: 'PROXY', family: 'inet', transport: 'stream',
    source: { address: '203.0.113.7', port: 51234 }, destination: { address: '10.0.0.1', port: 443 }, tlvs: {},
  });
  t.same(header(v2({ family: 0x12 })).transport, 'dgram', 'UDP over IPv4');
  const six = header(v2({ family: 0x21, addresses: inet6('2001:db8:0:0:0:0:0:7', '0:0:0:0:0:0:0:1', 1, 2) }));
  t.same([six.family, six.source, six.destination], ['inet6', { address: '2001:db8::7', port: 1 }, { address: '::1', port: 2 }]);
  t.same(header(v2({ family: 0x22, addresses: inet6('0:0:0:0:0:ffff:cb00:7107', '1:0:0:2:0:0:0:3', 1, 2) })).source,
    { address: '::ffff:203.0.113.7', port: 1 }, 'IPv4-mapped, in the form node reports');
  const texts: Record<string, string> = {
    '1:2:3:4:5:6:7:8': '1:2:3:4:5:6:7:8',
    '1:0:2:3:4:5:6:7': '1:0:2:3:4:5:6:7',
    '1:0:0:2:0:0:0:3': '1:0:0:2::3',
    '0:0:1:0:0:0:0:0': '0:0:1::',
    'ABCD:0:0:0:0:0:0:0': 'abcd::',
    '0:0:0:0:0:0:0:0': '::',
    '1:0:0:2:2:0:0:3': '1::2:2:0:0:3',
  };
  for (const [groups, text] of Object.entries(texts)) {
    t.same(header(v2({ family: 0x21, addresses: inet6(groups, groups, 0, 0) })).source, { address: text, port: 0 }, groups);
  }
  const unixHeader = header(v2({ family: 0x31, addresses: unix('/run/client.sock', Buffer.from('\0abstract\0junk')) }));
  t.same([unixHeader.family, unixHeader.transport, unixHeader.source, unixHeader.destination],
    ['unix', 'stream', { path: '/run/client.sock' }, { path: '@abstract' }]);
  t.same(header(v2({ family: 0x32, addresses: unix('x'.repeat(108), '') })).source, { path: 'x'.repeat(108) }, 'a path with no NUL');
  t.same(header(v2({ family: 0x00, addresses: Buffer.alloc(0) })),
    { version: 2, command: 'PROXY', family: 'unspec', transport: 'unspec', tlvs: {} });
  t.same(header(v2({ command: 0x20, family: 0x00, addresses: Buffer.alloc(0) })),
    { version: 2, command: 'LOCAL', family: 'unspec', transport: 'unspec', tlvs: {} }, 'a health check');
  t.same(header(v2({ command: 0x20 })), { version: 2, command: 'LOCAL', family: 'inet', transport: 'stream', tlvs: {} },
    'LOCAL ignores the addresses');
  t.same(header(v2({ command: 0x20, family: 0x45, addresses: Buffer.from('anything') })),
    { version: 2, command: 'LOCAL', family: 'unspec', transport: 'unspec', tlvs: {} }, 'LOCAL discards even a family it does not know');
  t.same(header(v2({ command: 0x20, family: 0x11, addresses: Buffer.alloc(0) })),
    { version: 2, command: 'LOCAL', family: 'unspec', transport: 'unspec', tlvs: {} }, 'and an address block shorter than its family\'s');
  t.same(parse(v2(), { versions: [1] }), { kind: 'invalid', reason: 'a version 2 header, but only version 1 is accepted' });
});

t.test('version 2: TLVs', async (t) => {
  const tlvs = header(v2({
    crc: true,
    tlvs: [
      tlv(0x01, 'h2'), tlv(0x02, 'example.com'), tlv(0x04, 'noop'), tlv(0x05, Buffer.from([0, 1, 0xfe])),
      ssl(0x07, 0, [tlv(0x21, 'TLSv1.3'), tlv(0x22, 'client.example'), tlv(0x23, 'TLS_AES_128_GCM_SHA256'),
        tlv(0x24, 'RSA-SHA256'), tlv(0x25, 'RSA2048'), tlv(0x2f, 'unknown sub-TLV')]),
      tlv(0x30, 'blue'), tlv(0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from('vpce-08d2bf15fac5001c9')])),
      tlv(0xe0, 'custom, skipped'),
    ],
  })).tlvs;
  t.same(tlvs, {
    alpn: 'h2', authority: 'example.com', uniqueId: '0001fe', netns: 'blue', awsVpceId: 'vpce-08d2bf15fac5001c9', crc32c: true,
    ssl: {
      ssl: true, certInConnection: true, certInSession: true, verified: true,
      version: 'TLSv1.3', commonName: 'client.example', cipher: 'TLS_AES_128_GCM_SHA256', signatureAlgorithm: 'RSA-SHA256', keyAlgorithm: 'RSA2048',
    },
  });
  t.same(header(v2({ tlvs: [ssl(0x01, 1)] })).tlvs.ssl, { ssl: true, certInConnection: false, certInSession: false, verified: false });
  t.same(header(v2({ tlvs: [tlv(0xea, Buffer.from([0x02, 0x41]))] })).tlvs, {}, 'an AWS subtype other than 0x01 is skipped');
  t.same(header(v2({ tlvs: [tlv(0x05, Buffer.alloc(128, 0xab))] })).tlvs.uniqueId, 'ab'.repeat(128), 'a 128-byte unique ID');
  t.same(header(v2({ family: 0x00, addresses: Buffer.alloc(0), tlvs: [tlv(0x02, 'a')] })).tlvs, { authority: 'a' }, 'TLVs after no addresses');
});

t.test('version 2: refused', async (t) => {
  const withLength = (bytes: Buffer, length: number) => {
    const copy = Buffer.from(bytes);
    copy.writeUInt16BE(length, 14);
    return copy;
  };
  const cases: Record<string, [Buffer, string]> = {
    'version 1 in the version nibble': [v2({ command: 0x11 }), 'version 2: the version nibble is not 2'],
    'version 3': [v2({ command: 0x31 }), 'version 2: the version nibble is not 2'],
    'an unassigned command': [v2({ command: 0x22 }), 'version 2: a command other than LOCAL or PROXY'],
    'an undefined family': [v2({ family: 0x41 }), 'version 2: an address family and transport byte the spec does not define'],
    'an undefined transport': [v2({ family: 0x13 }), 'version 2: an address family and transport byte the spec does not define'],
    'AF_INET with transport UNSPEC': [v2({ family: 0x10 }), 'version 2: an address family and transport byte the spec does not define'],
    'a length shorter than IPv4 addresses': [v2({ length: 11 }), 'version 2: a declared length shorter than its address block'],
    'IPv6 family with IPv4 addresses': [v2({ family: 0x21 }), 'version 2: a declared length shorter than its address block'],
    'Unix family with IPv6 addresses': [v2({ family: 0x31, addresses: inet6('1:0:0:0:0:0:0:1', '1:0:0:0:0:0:0:1', 1, 1) }),
      'version 2: a declared length shorter than its address block'],
    'an oversized declared length': [withLength(v2(), 2049), 'version 2: a declared length above 2048 bytes'],
    'the largest declared length': [withLength(v2(), 65535), 'version 2: a declared length above 2048 bytes'],
    'a TLV cut before its length': [v2({ tlvs: [Buffer.from([0x01, 0x00])] }), 'version 2: a TLV cut short before its length'],
    'a TLV overrunning the header': [v2({ tlvs: [Buffer.from([0x01, 0x00, 0x05, 0x68, 0x32])] }), 'version 2: a TLV whose length overruns the header'],
    'a TLV overrunning the header by one byte': [v2({ tlvs: [Buffer.from([0x02, 0x00, 0x03, 0x61, 0x62])] }), 'version 2: a TLV whose length overruns the header'],
    'a sub-TLV overrunning the SSL TLV by one byte, into the next TLV': [v2({ tlvs: [ssl(1, 0, [Buffer.from([0x21, 0x00, 0x02, 0x41])]), tlv(0x01, 'h2')] }),
      'version 2: in the SSL TLV, a TLV whose length overruns the header'],
    'a sub-TLV overrunning the SSL TLV': [v2({ tlvs: [ssl(1, 0, [Buffer.from([0x21, 0x00, 0x09, 0x41])]), tlv(0x01, 'h2')] }),
      'version 2: in the SSL TLV, a TLV whose length overruns the header'],
    'an SSL TLV under 5 bytes': [v2({ tlvs: [tlv(0x20, Buffer.from([1, 0, 0, 0]))] }), 'version 2: an SSL TLV shorter than its 5 fixed bytes'],
    'a unique ID over 128 bytes': [v2({ tlvs: [tlv(0x05, Buffer.alloc(129))] }), 'version 2: a UNIQUE_ID TLV longer than 128 bytes'],
    'a CRC32C TLV of 3 bytes': [v2({ tlvs: [tlv(0x03, Buffer.alloc(3))] }), 'version 2: a CRC32C TLV that is not 4 bytes'],
    'a wrong CRC32C': [v2({ wrongCrc: true }), 'version 2: the CRC32C checksum does not match'],
    'a repeated authority': [v2({ tlvs: [tlv(0x02, 'a'), tlv(0x02, 'b')] }), 'version 2: TLV 0x2 repeated'],
  };
  for (const [name, [bytes, reason]] of Object.entries(cases)) {
    t.same(parse(Buffer.concat([bytes, HTTP])), { kind: 'invalid', reason }, name);
  }
  const crcCorrupted = v2({ crc: true, tlvs: [tlv(0x02, 'example.com')] });
  const at = crcCorrupted.indexOf('example.com');
  crcCorrupted[at] = crcCorrupted[at]! ^ 0x20;
  t.same(parse(crcCorrupted), { kind: 'invalid', reason: 'version 2: the CRC32C checksum does not match' }, 'a byte changed under a CRC');
  t.equal(parse(withLength(v2(), 2049).subarray(0, 16)).kind, 'invalid', 'an oversized length is refused from the first 16 bytes');
  t.same(parse(withLength(v2(), 100), { maxV2Length: 100 }).kind, 'incomplete', 'maxV2Length raises the bound');
});

t.test('version 2: incomplete whatever the split', async (t) => {
  const whole = v2({ tlvs: [tlv(0x02, 'example.com')] });
  for (let n = 0; n < whole.length; n++) t.equal(parse(whole.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
});

/** Headers that parse, to mutate. */
const validHeaders = [
  v1('TCP4 203.0.113.7 10.0.0.1 51234 443'),
  v1('TCP6 2001:db8::7 ::1 1 2'),
  v1('UNKNOWN'),
  v2(),
  v2({ crc: true, tlvs: [tlv(0x01, 'h2'), ssl(7, 0, [tlv(0x21, 'TLSv1.3')]), tlv(0xea, Buffer.from('\x01vpce-1'))] }),
  v2({ family: 0x21, addresses: inet6('1:0:0:0:0:0:0:1', '0:0:0:0:0:0:0:1', 1, 2) }),
  v2({ family: 0x31, addresses: unix('/a', '/b'), tlvs: [tlv(0x05, 'id')] }),
  v2({ command: 0x20, family: 0x00, addresses: Buffer.alloc(0) }),
  v2({ addresses: inet('1.2.3.4', '5.6.7.8', 1, 2) }),
];

const bytes = fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array));
/** A valid header with bytes flipped, cut, or a tail of junk: near misses, where bugs live. */
const mutated = fc.tuple(fc.constantFrom(...validHeaders), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
  fc.nat(), bytes).map(([base, flips, cut, tail]) => {
  const copy = Buffer.from(base);
  for (const [at, value] of flips) copy[at % copy.length] = value;
  return Buffer.concat([copy.subarray(0, cut % (copy.length + 1)), tail]);
});
const prefixed = fc.tuple(fc.constantFrom(Buffer.from('PROXY '), V2_SIGNATURE), bytes).map(([head, tail]) => Buffer.concat([head, tail]));
const input = fc.oneof(bytes, mutated, prefixed);

t.test('fuzz: never throws, reads only what it is given, is consistent with itself', async (t) => {
  const runs = Number(process.env.FUZZ_RUNS ?? 3000);
  const started = Date.now();
  fc.assert(fc.property(input, bytes, (given, after) => {
    const result = parse(given);
    if (!['header', 'incomplete', 'absent', 'invalid'].includes(result.kind)) throw new Error(`kind ${result.kind}`);
    // The same bytes as a view into a larger buffer with anything after them: the same answer,
    // so nothing past the view was read.
    const larger = Buffer.concat([Buffer.from([0x50]), given, after]);
    if (JSON.stringify(parse(larger.subarray(1, 1 + given.length))) !== JSON.stringify(result)) throw new Error('read past its input');
    if (result.kind === 'header') {
      if (result.length > given.length) throw new Error('a header longer than its input');
      // What follows a header never changes it.
      if (JSON.stringify(parse(Buffer.concat([given.subarray(0, result.length), after]))) !== JSON.stringify(result)) {
        throw new Error('the bytes after a header changed it');
      }
    }
    if (result.kind === 'invalid' && /[^\x20-\x7e]/.test(result.reason)) throw new Error('a reason a log line cannot carry');
  }), { numRuns: runs, interruptAfterTimeLimit: 10_000 });
  t.comment(`${runs} runs in ${Date.now() - started} ms`);
});

t.test('fuzz: every prefix of a valid header is incomplete, never refused', async (t) => {
  fc.assert(fc.property(fc.constantFrom(...validHeaders), fc.nat(), (whole, n) => {
    const result = parse(whole.subarray(0, n % whole.length));
    if (result.kind !== 'incomplete') throw new Error(`a prefix of ${n % whole.length} bytes: ${result.kind}`);
  }), { numRuns: 500 });
  t.pass('prefixes');
});

t.test('fuzz: the largest inputs are cheap', async (t) => {
  const started = process.hrtime.bigint();
  const huge = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x08, 0x00]), Buffer.alloc(2048, 0x04)]);
  huge.writeUInt16BE(2048, 14);
  huge.fill(0, 16, 28);
  for (let i = 0; i < 100; i++) parse(huge);
  for (let i = 0; i < 100; i++) parse(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(5000)}`));
  t.comment(`200 worst-case parses in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
  t.pass('terminates');
});
