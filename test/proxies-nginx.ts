/**
 * The nginx samples in nginx/, end to end: each is checked by `nginx -t` and run by a real nginx in
 * front of the real proxyfix server with the options its header names, and requests over IPv4 and
 * IPv6, with and without forged forwarding headers, must reach the app as the header says. What
 * each sample must do is the shape table in test/fixtures/proxy-shapes.ts, where nginx's
 * differences from HAProxy and Caddy are PROXIES.nginx; nginx alone has websocket.conf.
 */
import t from 'tap';
import { testSamples } from './fixtures/proxy-shapes.js';

await testSamples(t, 'nginx');
