/**
 * The Caddy samples in caddy/, end to end: each is checked by `caddy validate` (which also warns
 * when a Caddyfile is not formatted as `caddy fmt` would) and run by a real Caddy 2.6 in front of
 * the real proxyfix server with the options its header names, and requests over IPv4 and IPv6,
 * with and without forged forwarding headers, must reach the app as the header says. What each
 * sample must do is the shape table in test/fixtures/proxy-shapes.ts, where Caddy's differences
 * from nginx and HAProxy are PROXIES.caddy.
 *
 * There is no realip sample for Caddy: 2.6 cannot take the client address from a header (the
 * servers' trusted_proxies and client_ip_headers options came in 2.7). What it can do, append to
 * X-Forwarded-For for trusted peers, is two-tier.Caddyfile. See caddy/README.md.
 */
import t from 'tap';
import { testSamples } from './fixtures/proxy-shapes.js';

await testSamples(t, 'caddy');
