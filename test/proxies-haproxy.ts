/**
 * The HAProxy samples in haproxy/, end to end: each is checked by `haproxy -c` and run by a real
 * HAProxy 2.6 in front of the real proxyfix server with the options its header names, and requests
 * over IPv4 and IPv6, with and without forged forwarding headers, must reach the app as the header
 * says. What each sample must do is the shape table in test/fixtures/proxy-shapes.ts, where
 * HAProxy's differences from nginx and Caddy are PROXIES.haproxy: HAProxy can do every shape nginx
 * can; realip.cfg takes one balancer hop where nginx walks several.
 */
import t from 'tap';
import { testSamples } from './fixtures/proxy-shapes.js';

await testSamples(t, 'haproxy');
