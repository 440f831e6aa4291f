/** compileTrust: named cases, configuration errors, and equality with a naive linear matcher. */
import t from 'tap';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { compileTrust, type TrustInput } from '../src/net/trust.js';

interface Case {
  name: string;
  trusted: TrustInput;
  yes: string[];
  no: string[];
}

const cases: Case[] = [
  { name: 'single IPv4 address', trusted: ['10.0.0.1'], yes: ['10.0.0.1', '::ffff:10.0.0.1', '::ffff:a00:1'], no: ['10.0.0.2', '10.0.0.10'] },
  { name: 'IPv4 CIDR', trusted: ['10.0.0.0/8'], yes: ['10.0.0.0', '10.255.255.255', '::ffff:10.1.2.3'], no: ['11.0.0.0', '9.255.255.255'] },
  { name: 'IPv4 /1 trusts half of IPv4 and no IPv6 address', trusted: ['0.0.0.0/1'], yes: ['1.2.3.4', '::ffff:1.2.3.4', '127.255.255.255'], no: ['128.0.0.0', '2001:db8::1', '::1'] },
  { name: 'IPv4 /32', trusted: ['192.0.2.7/32'], yes: ['192.0.2.7'], no: ['192.0.2.6'] },
  { name: 'netmask form', trusted: ['192.168.1.0/255.255.255.0'], yes: ['192.168.1.200'], no: ['192.168.2.1'] },
  { name: 'netmask 128.0.0.0', trusted: ['10.0.0.0/128.0.0.0'], yes: ['8.8.8.8'], no: ['128.0.0.1', '::1'] },
  { name: 'single IPv6 address', trusted: ['2001:db8::1'], yes: ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:db8::0:1'], no: ['2001:db8::2'] },
  { name: 'IPv6 CIDR', trusted: ['2001:db8::/32'], yes: ['2001:db8:ffff::1', '2001:0db8::'], no: ['2001:db9::1', '::ffff:10.0.0.1'] },
  { name: '::/1 trusts no IPv4 address (CVE-2026-90711)', trusted: ['::/1'], yes: ['::1', '2001:db8::1'], no: ['10.0.0.1', '::ffff:10.0.0.1', '1.2.3.4'] },
  { name: '::/1 and 8000::/1 apart: no IPv4 address', trusted: ['8000::/1'], yes: ['fe80::1', 'ffff::1'], no: ['::1', '127.0.0.1', '::ffff:127.0.0.1'] },
  { name: 'the IPv4-compatible request value ::a.b.c.d is IPv6, never the IPv4 address', trusted: ['11.22.33.44', '::ffff:11.22.33.44'],
    yes: ['11.22.33.44', '::ffff:11.22.33.44'], no: ['::11.22.33.44', '::b16:212c'] },
  { name: 'the IPv4-compatible range is matched as the IPv6 it is', trusted: ['::/96'], yes: ['::11.22.33.44', '::b16:212c'], no: ['11.22.33.44', '::ffff:11.22.33.44'] },
  { name: 'a link-local entry trusts link-local values without a zone', trusted: ['fe80::/10'], yes: ['fe80::1'], no: ['fe80::1%eth0', 'fe80::1%25eth0'] },
  { name: 'IPv4-mapped range /104 is 10.0.0.0/8', trusted: ['::ffff:10.0.0.0/104'], yes: ['10.9.9.9', '::ffff:10.9.9.9'], no: ['11.0.0.1'] },
  { name: 'IPv4-mapped single address', trusted: ['::ffff:192.0.2.1'], yes: ['192.0.2.1'], no: ['192.0.2.2'] },
  { name: 'embedded IPv4 in an IPv6 range', trusted: ['64:ff9b::/96'], yes: ['64:ff9b::192.0.2.1'], no: ['192.0.2.1'] },
  { name: 'loopback', trusted: ['loopback'], yes: ['127.0.0.1', '127.255.0.1', '::1', '::ffff:127.0.0.1'], no: ['128.0.0.1', '::2'] },
  { name: 'private', trusted: ['private'], yes: ['10.1.1.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', 'fd00::1', 'fc00::1'], no: ['172.32.0.1', '192.169.0.1', 'fe00::1', '8.8.8.8'] },
  { name: 'uniquelocal is private', trusted: ['uniquelocal'], yes: ['10.1.1.1', 'fdff::1'], no: ['127.0.0.1'] },
  { name: 'linklocal', trusted: ['linklocal'], yes: ['169.254.1.1', 'fe80::1', 'febf::1'], no: ['169.255.0.1', 'fec0::1'] },
  { name: 'named ranges ignore case', trusted: ['LoopBack'], yes: ['127.0.0.1'], no: [] },
  { name: 'a comma-separated string', trusted: 'loopback, 10.0.0.0/8 ,', yes: ['127.0.0.1', '10.0.0.9'], no: ['11.0.0.1'] },
  { name: 'an empty list trusts nothing', trusted: [], yes: [], no: ['127.0.0.1', '::1', '10.0.0.1'] },
  { name: 'an empty string trusts nothing', trusted: '', yes: [], no: ['127.0.0.1'] },
  { name: 'a wider range added after a narrower one', trusted: ['10.1.0.0/16', '10.0.0.0/8'], yes: ['10.2.0.1', '10.1.2.3'], no: ['11.1.0.0'] },
  { name: 'a narrower range after a wider one changes nothing', trusted: ['10.0.0.0/8', '10.1.0.0/16'], yes: ['10.2.0.1'], no: ['12.0.0.1'] },
  { name: 'request values that are not addresses are never trusted', trusted: ['0.0.0.0/1', '128.0.0.0/2', '::/1', 'fe80::/10'],
    yes: [], no: ['', 'unknown', '_hidden', 'localhost', '010.0.0.1', '10.1', '0xa000001', '1.2.3.4:80', '[::1]', 'fe80::1%eth0', '1.2.3.4.', '.1.2.3', '1..2.3', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1.2.3.x', ' 1.2.3.4'] },
  { name: 'a predicate receives the address and the hop', trusted: (addr, hop) => addr === '10.0.0.1' && hop < 2,
    yes: ['10.0.0.1'], no: ['10.0.0.2'] },
  { name: 'a predicate must return exactly true', trusted: ((addr: string) => addr.length) as never, yes: [], no: ['10.0.0.1'] },
  { name: 'a predicate that throws trusts nothing', trusted: () => { throw new Error('boom'); }, yes: [], no: ['10.0.0.1'] },
];

t.test('named cases', async (t) => {
  for (const c of cases) {
    const trusts = compileTrust(c.trusted);
    for (const addr of c.yes) t.equal(trusts(addr, 0), true, `${c.name}: trusts ${addr}`);
    for (const addr of c.no) t.equal(trusts(addr, 0), false, `${c.name}: does not trust ${JSON.stringify(addr)}`);
  }
  const hops: number[] = [];
  compileTrust((_addr, hop) => { hops.push(hop); return true; })('10.0.0.1', 3);
  t.same(hops, [3], 'the hop is passed on');
});

t.test('invalid entries throw at compile time, naming the entry', async (t) => {
  const bad: [unknown, string, RegExp][] = [
    [['10.0.0.0/8', 'fe80::1%eth0'], 'trusted[1]', /zone id/],
    [['10.0.0.0/33'], 'trusted[0]', /prefix length from 0 to 32/],
    [['10.0.0.0/255.0.255.0'], 'trusted[0]', /contiguous netmask/],
    [['10.0.0.0/x'], 'trusted[0]', /netmask/],
    [['10.0.0.0/'], 'trusted[0]', /netmask/],
    [['2001:db8::/129'], 'trusted[0]', /0 to 128/],
    [['2001:db8::/x'], 'trusted[0]', /0 to 128/],
    [['010.0.0.1'], 'trusted[0]', /leading zeros/],
    [['10.1'], 'trusted[0]', /neither an IP address/],
    [['localhost'], 'trusted[0]', /loopback, private/],
    [['::ffff:10.0.0.0/8'], 'trusted[0]', /write 10\.0\.0\.0\/8 or ::ffff:10\.0\.0\.0\/104/],
    [['::ffff:0:0/95'], 'trusted[0]', /IPv4-mapped/],
    // ipaddr.js reads these as the IPv4 address in them; they name IPv6 addresses no IPv4 client has.
    [['::11.22.33.44'], 'trusted[0]', /deprecated IPv4-compatible notation/],
    [['::0.0.0.0/96'], 'trusted[0]', /deprecated IPv4-compatible notation/],
    [['0:0:0:0:0:0:10.0.0.1/120'], 'trusted[0]', /deprecated IPv4-compatible notation/],
    // A list that trusts every address is no list: a walk would hand the app a client's value.
    [['0.0.0.0/0'], 'trusted[0]', /"0\.0\.0\.0\/0" makes the list trust every IPv4 address/],
    [['10.0.0.0/0.0.0.0'], 'trusted[0]', /every IPv4 address/],
    [['::/0'], 'trusted[0]', /every IPv6 address/],
    [['::ffff:0:0/96'], 'trusted[0]', /every IPv4 address/],
    [['loopback', '0.0.0.0/1', '128.0.0.0/1'], 'trusted[2]', /"128\.0\.0\.0\/1" makes the list trust every IPv4 address.*leave out `trusted`/],
    [['::/1', '8000::/2', 'c000::/2'], 'trusted[2]', /every IPv6 address/],
    ['0.0.0.0/0', 'trusted entry "0.0.0.0/0"', /every IPv4 address/],
    [[42], 'trusted[0]', /must be a string, got 42/],
    ['loopback, bogus', 'trusted entry "bogus"', /neither/],
    [42, 'trusted', /got 42/],
    [{}, 'trusted', /got an object/],
  ];
  for (const [trusted, option, message] of bad) {
    t.throws(() => compileTrust(trusted as TrustInput), { name: 'TypeError', option, message }, `${JSON.stringify(trusted)}`);
  }
  t.throws(() => compileTrust([null] as never), { code: 'ERR_PROXYFIX_TRUST_ENTRY' });
  t.throws(() => compileTrust(null as never), { code: 'ERR_PROXYFIX_OPTION_TYPE' });
});

/** The reference: one ipaddr.js match per entry, in order — slow, obvious, independent. */
function naive(entries: string[]) {
  const ranges = entries.map((entry) => (entry.includes('/') ? ipaddr.parseCIDR(entry) : ipaddr.parseCIDR(`${entry}/${entry.includes(':') ? 128 : 32}`)));
  return (addr: string) => {
    let parsed = ipaddr.parse(addr);
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    return ranges.some(([range, bits]) => {
      let r = range;
      let b = bits;
      if (r.kind() === 'ipv6' && (r as ipaddr.IPv6).isIPv4MappedAddress()) { r = (r as ipaddr.IPv6).toIPv4Address(); b -= 96; }
      return r.kind() === parsed.kind() && parsed.match(r, b);
    });
  };
}

const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }));
const v4text = v4.map((p) => p.join('.'));
// Few distinct high bits, so that addresses and ranges often overlap.
const v6text = fc.tuple(fc.constantFrom('2001:db8', 'fd00', 'fe80', '::ffff'), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 2, maxLength: 2 }))
  .map(([head, rest]) => (head === '::ffff' ? `::ffff:${rest[0]!.toString(16)}:${rest[1]!.toString(16)}` : `${head}::${rest.map((g) => g.toString(16)).join(':')}`));
const v4entry = fc.tuple(v4text, fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined })).map(([a, b]) => (b === undefined ? a : `${a}/${b}`));
const v6entry = fc.tuple(v6text, fc.option(fc.integer({ min: 0, max: 128 }), { nil: undefined }))
  .filter(([a, b]) => !(a.startsWith('::ffff') && b !== undefined && b < 96))
  .map(([a, b]) => (b === undefined ? a : `${a}/${b}`));

t.test('the trie equals a naive linear matcher', async () => {
  await fc.assert(fc.property(
    fc.array(fc.oneof(v4entry, v6entry), { maxLength: 12 }),
    fc.array(fc.oneof(v4text, v6text, v4text.map((a) => `::ffff:${a}`)), { minLength: 1, maxLength: 20 }),
    (entries, addrs) => {
      const slow = naive(entries);
      let fast: ReturnType<typeof compileTrust>;
      try {
        fast = compileTrust(entries);
      } catch (error) {
        // Refused for trusting every address of a family: that must be true of the list.
        const family = /every (IPv4|IPv6) address/.exec((error as Error).message)?.[1];
        if (family === undefined) throw error;
        const probes = family === 'IPv4'
          ? ['0.0.0.0', '255.255.255.255', ...addrs.filter((a) => !a.includes(':') || a.startsWith('::ffff:'))]
          : ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', ...addrs.filter((a) => a.includes(':') && !a.startsWith('::ffff:'))];
        for (const probe of probes) if (!slow(probe)) throw new Error(`refused as trusting every ${family} address, but not ${probe}: ${JSON.stringify(entries)}`);
        return;
      }
      for (const addr of addrs) {
        if (fast(addr, 0) !== slow(addr)) throw new Error(`${addr} with ${JSON.stringify(entries)}: trie ${fast(addr, 0)}`);
      }
    },
  ), { numRuns: 3000 });
});
