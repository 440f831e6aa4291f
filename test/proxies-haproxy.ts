/**
 * The HAProxy samples in haproxy/, end to end: each is checked by `haproxy -c` and run by a real
 * HAProxy 2.6 in front of the real proxyfix server with the options its header names, and requests
 * over IPv4 and IPv6, with and without forged forwarding headers, must reach the app as the header
 * says. The placeholders that the samples' defaults stand for are listed in test/fixtures/proxies.ts.
 * HAProxy can do every shape nginx can; realip.cfg takes one balancer hop where nginx walks several.
 */
import t from 'tap';
import { needProxy, runSamples, type Client, type SampleSpec } from './fixtures/proxies.js';
import {
  forwardedChecks, prefixChecks, realipChecks, tlsRedirect, twoTierChecks, unixSocketChecks, upstreamChecks,
} from './fixtures/proxy-shapes.js';

/**
 * HAProxy passes the client's Host on unchanged, and X-Forwarded-Host is the host with the port the
 * frontend accepted the request on: the same for these clients, which name the port.
 */
const withPort = (c: Client, port: number) => ({ host: `${c.hostname}:${port}`, serverName: c.hostname, serverPort: String(port) });
const path = { scriptName: '', pathInfo: '/users/1', queryString: 'page=2' };

const SAMPLES: SampleSpec[] = [
  {
    file: 'haproxy/basic.cfg',
    variants: [{ options: { xFor: 1, xProto: 1 } }],
    expect: (c, s) => ({ remoteAddr: c.address, remotePort: '', scheme: 'http', ...withPort(c, s.http), ...path }),
  },
  {
    file: 'haproxy/full.cfg',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
  },
  {
    file: 'haproxy/prefix.cfg',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPrefix: 1 } }],
    path: '/app/users/1?page=2',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), scriptName: '/app', pathInfo: '/users/1', queryString: 'page=2' }),
    extra: prefixChecks,
  },
  {
    file: 'haproxy/tls.cfg',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }],
    tls: true,
    listens: ['http', 'https'],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'https', ...withPort(c, s.https), ...path }),
    // `redirect scheme https` keeps the Host as sent, port and all.
    extra: (t, run) => tlsRedirect(t, run, new RegExp(`^https://127\\.0\\.0\\.1:${run.slots.http}/users/1\\?page=2$`)),
  },
  {
    file: 'haproxy/two-tier.cfg',
    variants: [
      { options: { xFor: 2, xProto: 1, xHost: 1 } },
      { options: { xFor: 2, xProto: 1, xHost: 1, trusted: ['127.0.0.1'] } },
    ],
    listens: ['http', 'inner'],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => twoTierChecks(t, run, { xFor: 2, xProto: 1, xHost: 1 }),
  },
  {
    file: 'haproxy/forwarded.cfg',
    variants: [{ options: { forwarded: 1 } }],
    expect: (c, s, answer) => ({ remoteAddr: c.address, remotePort: String(answer.localPort), scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => forwardedChecks(t, run, (c) => `${c.hostname}:${run.slots.http}`),
  },
  {
    file: 'haproxy/unix-socket.cfg',
    variants: [
      { options: { xFor: 1, xProto: 1, xHost: 1 } },
      { options: { xFor: 1, xProto: 1, xHost: 1, trusted: [], trustUnixSocket: true }, cli: false },
    ],
    apps: 'unix',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: unixSocketChecks,
  },
  {
    file: 'haproxy/upstream.cfg',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1 } }],
    apps: 'two',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: upstreamChecks,
  },
  {
    file: 'haproxy/realip.cfg',
    variants: [{ options: { xFor: 1, xProto: 1 } }],
    // Neither test client is a balancer: what they forge is ignored by HAProxy as well as by proxyfix.
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => realipChecks(t, run, false),
  },
];

const binary = await needProxy(t, 'haproxy');
if (binary !== undefined) runSamples(t, 'haproxy', binary, 'haproxy', SAMPLES);
