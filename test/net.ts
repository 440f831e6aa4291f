/** The value rules, case by case, including what proxyFix's tables reach only indirectly. */
import t from 'tap';
import { parseAddress } from '../src/net/address.js';
import { isHostName, parseHost } from '../src/net/host.js';
import { ListFromRight, isBlank, itemFromRight } from '../src/net/list.js';
import { defaultPort, parsePort } from '../src/net/port.js';
import { parsePrefix } from '../src/net/prefix.js';
import { parseScheme } from '../src/net/scheme.js';

t.test('reading lists from the right', async (t) => {
  const list = new ListFromRight(' a ,b,, c\t');
  t.same([list.next(), list.next(), list.next(), list.next(), list.next()], ['c', '', 'b', 'a', undefined]);
  t.equal(list.depth, 4);
  t.equal(list.next(), undefined, 'stays used up');
  t.equal(itemFromRight('a, b, c', 3), 'a');
  t.equal(itemFromRight('a, b, c', 4), undefined);
  t.equal(itemFromRight('', 1), '', 'an empty header has one empty item');
  t.ok(isBlank(undefined));
  t.ok(isBlank(' \t'));
  t.notOk(isBlank(' a'));
});

t.test('addresses', async (t) => {
  t.same(parseAddress('192.0.2.1'), { address: '192.0.2.1', port: '' });
  t.same(parseAddress('255.255.255.255:65535'), { address: '255.255.255.255', port: '65535' });
  t.same(parseAddress('[::1]:1'), { address: '::1', port: '1' });
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.4:', '1.2.3.4:x', 'a:1', '[::1]:',
    '[::1]80', '[::1', '[]', '[fe80::1%25eth0]', '0.0.0.0:80', '[::]:80', '0:0::0', '',
    // The unspecified address in every spelling: no client has it as its source.
    '0.0.0.0', '::', '::0', '::0.0.0.0', '[::0.0.0.0]', '[::0.0.0.0]:80', '::ffff:0.0.0.0', '::ffff:0:0', '::FFFF:0:0',
    '0:0:0:0:0:0:0:0', '0:0:0:0:0:ffff:0:0', '0000:0000::0000', 'fe80::1%eth0']) {
    t.equal(parseAddress(bad), undefined, bad);
  }
  // Near the unspecified address, but real addresses.
  for (const good of ['::1', '::0.0.0.1', '::ffff:0.0.0.1', '::ffff:1:0', 'f::', '0.0.0.1']) {
    t.same(parseAddress(good), { address: good, port: '' }, good);
  }
});

t.test('hosts', async (t) => {
  t.same(parseHost('Example.COM'), { host: 'Example.COM', name: 'Example.COM', port: '' });
  t.same(parseHost('a_b-c.example:1'), { host: 'a_b-c.example:1', name: 'a_b-c.example', port: '1' });
  t.same(parseHost('10.0.0.1.'), { host: '10.0.0.1.', name: '10.0.0.1.', port: '' });
  t.ok(isHostName('example.com1'), 'digits after letters are a name');
  for (const bad of ['', '.', '.example.com', 'example.com..', 'a b', 'ä.example', 'xn--a.example/', '10.1', '0x7f.1',
    '010.0.0.1', 'example.123', 'example.0x', '[::1', '[::1]:', '[::1]:0']) {
    t.equal(parseHost(bad), undefined, JSON.stringify(bad));
  }
});

t.test('ports and schemes', async (t) => {
  t.equal(parsePort('1'), 1);
  t.equal(parsePort('65535'), 65535);
  for (const bad of ['', '0', '01', '65536', '99999', '123456', '1e3', ' 1', '-1', '1.0']) t.equal(parsePort(bad), undefined, bad);
  t.equal(defaultPort('https'), '443');
  t.equal(defaultPort('wss'), '443');
  t.equal(defaultPort('http'), '80');
  t.equal(defaultPort('ws'), '80');
  t.equal(parseScheme('WsS'), 'wss');
  t.equal(parseScheme('ftp'), undefined);
  t.equal(parseScheme('ftp', ['ftp']), 'ftp');
});

t.test('prefixes', async (t) => {
  t.equal(parsePrefix('/'), '');
  t.equal(parsePrefix('/a/b/'), '/a/b');
  t.equal(parsePrefix("/a:b@c!$&'()*+;=%41"), "/a:b@c!$&'()*+;=%41");
  t.equal(parsePrefix('/...'), '/...', 'three dots are a name');
  for (const bad of ['', 'a', '//', '/a//', '/./', '/%2E', '/%00', '/%1f', '/%7F', '/%', '/%4', '/a b', '/a\u0085']) {
    t.equal(parsePrefix(bad), undefined, JSON.stringify(bad));
  }
});
