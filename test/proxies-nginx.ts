/**
 * The nginx samples in nginx/, end to end: each is checked by `nginx -t` and run by a real nginx in
 * front of the real proxyfix server with the options its header names, and requests over IPv4 and
 * IPv6, with and without forged forwarding headers, must reach the app as the header says.
 * The placeholders that the samples' defaults stand for are listed in test/fixtures/proxies.ts.
 */
import t from 'tap';
import { needProxy, runSamples, type Client, type SampleSpec } from './fixtures/proxies.js';
import { WEBSOCKET_SAMPLE } from './fixtures/websocket.js';
import {
  forwardedChecks, prefixChecks, realipAppending, realipChecks, tlsRedirect, twoTierChecks, unixSocketChecks, upstreamChecks,
} from './fixtures/proxy-shapes.js';

/** The host as nginx's `Host $host` passes it on: without the port, so the port comes from the scheme. */
const bare = (c: Client) => ({ host: c.hostname, serverName: c.hostname, serverPort: '80' });
/** The host as `X-Forwarded-Host $host:$server_port` reports it. */
const withPort = (c: Client, port: number) => ({ host: `${c.hostname}:${port}`, serverName: c.hostname, serverPort: String(port) });
const path = { scriptName: '', pathInfo: '/users/1', queryString: 'page=2' };

const SAMPLES: SampleSpec[] = [
  {
    file: 'nginx/basic.conf',
    variants: [{ options: { xFor: 1, xProto: 1 } }],
    expect: (c) => ({ remoteAddr: c.address, remotePort: '', scheme: 'http', ...bare(c), ...path }),
  },
  {
    file: 'nginx/full.conf',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
  },
  {
    file: 'nginx/prefix.conf',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPrefix: 1 } }],
    path: '/app/users/1?page=2',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), scriptName: '/app', pathInfo: '/users/1', queryString: 'page=2' }),
    extra: prefixChecks,
  },
  {
    file: 'nginx/tls.conf',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1, xPort: 1 } }],
    tls: true,
    listens: ['http', 'https'],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'https', ...withPort(c, s.https), ...path }),
    // `return 301 https://$host$request_uri`: the default HTTPS port, whatever port plain HTTP came in on.
    extra: (t, run) => tlsRedirect(t, run, /^https:\/\/127\.0\.0\.1\/users\/1\?page=2$/),
  },
  {
    file: 'nginx/two-tier.conf',
    variants: [
      { options: { xFor: 2, xProto: 1, xHost: 1 } },
      { options: { xFor: 2, xProto: 1, xHost: 1, trusted: ['127.0.0.1'] } },
    ],
    listens: ['http', 'inner'],
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => twoTierChecks(t, run, { xFor: 2, xProto: 1, xHost: 1 }),
  },
  {
    file: 'nginx/forwarded.conf',
    variants: [{ options: { forwarded: 1 } }],
    expect: (c, s, answer) => ({ remoteAddr: c.address, remotePort: String(answer.localPort), scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: (t, run) => forwardedChecks(t, run, (c) => `${c.hostname}:${run.slots.http}`),
  },
  {
    file: 'nginx/unix-socket.conf',
    variants: [
      { options: { xFor: 1, xProto: 1, xHost: 1 } },
      { options: { xFor: 1, xProto: 1, xHost: 1, trusted: [], trustUnixSocket: true }, cli: false },
    ],
    apps: 'unix',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: unixSocketChecks,
  },
  {
    file: 'nginx/upstream.conf',
    variants: [{ options: { xFor: 1, xProto: 1, xHost: 1 } }],
    apps: 'two',
    expect: (c, s) => ({ remoteAddr: c.address, scheme: 'http', ...withPort(c, s.http), ...path }),
    extra: upstreamChecks,
  },
  {
    file: 'nginx/realip.conf',
    variants: [{ options: { xFor: 1, xProto: 1 } }],
    // Neither test client is a balancer: what they forge is ignored by realip as well as by proxyfix.
    expect: (c) => ({ remoteAddr: c.address, scheme: 'http', ...bare(c), ...path }),
    extra: async (t, run) => {
      await realipChecks(t, run, true);
      await t.test('why the sample does not append', (t) => realipAppending(t, binary!));
    },
  },
  WEBSOCKET_SAMPLE,
];

const binary = await needProxy(t, 'nginx');
if (binary !== undefined) runSamples(t, 'nginx', binary, 'nginx', SAMPLES);
