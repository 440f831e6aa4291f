/**
 * The Caddy samples in caddy/, end to end: each is checked by `caddy validate` (which also warns
 * when a Caddyfile is not formatted as `caddy fmt` would) and run by a real Caddy 2.6 in front of
 * the real proxyfix server with the options its header names, and requests over IPv4 and IPv6,
 * with and without forged forwarding headers, must reach the app as the header says. The
 * placeholders that the samples' defaults stand for are listed in test/fixtures/proxies.ts.
 *
 * There is no realip sample for Caddy: 2.6 cannot take the client address from a header (the
 * servers' trusted_proxies and client_ip_headers options came in 2.7). What it can do, append to
 * X-Forwarded-For for trusted peers, is two-tier.Caddyfile. See caddy/README.md.
 */
import t from 'tap';
import { needProxy, runSamples, type Client, type SampleSpec } from './fixtures/proxies.js';
import {
  forwardedChecks, prefixChecks, tlsRedirect, twoTierChecks, unixSocketChecks, upstreamChecks,
} from './fixtures/proxy-shapes.js';

/**
 * Caddy passes the client's Host on unchanged and repeats it in X-Forwarded-Host; where a sample
 * sets X-Forwarded-Port it is the site's port. The test clients name that port in Host.
 */
const withPort = (c: Client, port: number) => ({ host: `${c.hostname}:${port}`, serverName: c.hostname, serverPort: String(port) });
const path = { scriptName: '', pathInfo: '/users/1', queryString: 'page=2' };

const SAMPLES: SampleSpec[] = [
  {
    file: 'caddy/basic.Caddyfile',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1 } }],
    expect: (c, s) => ({ remoteAddr: c.address, remotePort: '', scheme: 'http', ...withPort(c, s.http), ...path }),
  },
  {
    file: 'caddy/full.Caddyfile',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
  },
  {
    file: 'caddy/prefix.Caddyfile',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPrefix: 1 } }],
    path: '/app/users/1?page=2',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), scriptName: '/app', pathInfo: '/users/1', queryString: 'page=2' }),
    extra: prefixChecks,
  },
  {
    file: 'caddy/tls.Caddyfile',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }],
    tls: true,
    listens: ['http', 'https'],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'https', ...withPort(c, s.https), ...path }),
    // {host} is the host without its port: the redirect goes to the default HTTPS port.
    extra: (t, run) => tlsRedirect(t, run, /^https:\/\/127\.0\.0\.1\/users\/1\?page=2$/),
  },
  {
    file: 'caddy/two-tier.Caddyfile',
    variants: [
      { options: { xFor: 2, xProto: 1, xHost: 1 } },
      { options: { xFor: 2, xProto: 1, xHost: 1, trusted: ['127.0.0.1'] } },
    ],
    listens: ['http', 'inner'],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => twoTierChecks(t, run, { xFor: 2, xProto: 1, xHost: 1 }),
  },
  {
    file: 'caddy/forwarded.Caddyfile',
    variants: [{ options: { forwarded: 1 } }],
    expect: (c, s, answer) => ({ remoteAddr: c.address, remotePort: String(answer.localPort), scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => forwardedChecks(t, run, (c) => `${c.hostname}:${run.slots.http}`, true),
  },
  {
    file: 'caddy/unix-socket.Caddyfile',
    variants: [
      { options: { xFor: 1, xProto: 1, xHost: 1 } },
      { options: { xFor: 1, xProto: 1, xHost: 1, trusted: [], trustUnixSocket: true }, cli: false },
    ],
    apps: 'unix',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: unixSocketChecks,
  },
  {
    file: 'caddy/upstream.Caddyfile',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1 } }],
    apps: 'two',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: upstreamChecks,
  },
];

const binary = await needProxy(t, 'caddy');
if (binary !== undefined) runSamples(t, 'caddy', binary, 'caddy', SAMPLES);
