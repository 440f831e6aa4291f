/**
 * One upstream connection, many clients: a real nginx with `upstream { keepalive …; }` sends the
 * requests of different clients one after another over the same connection to a node server, where
 * an Express app runs behind proxyFixNode. Each request must get its own client's address and host:
 * nothing may be cached on the socket, which outlives every request on it.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import { proxyFixNode } from '../src/node.js';
import type { Client } from './fixtures/proxy-clients.js';
import { needProxy, startProxy } from './fixtures/real-proxies.js';
import { defer, tempDir } from './fixtures/teardown.js';

/** In the sample configs' form (nginx on 80, the app on 127.0.0.1:8000): startProxy fills in the test's ports. */
const CONFIG = `
upstream proxyfix_app {
    server 127.0.0.1:8000;
    keepalive 4;
}

server {
    listen 80;
    listen [::]:80;

    location / {
        proxy_pass http://proxyfix_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host:$server_port;
        proxy_set_header X-Forwarded-Port "";
        proxy_set_header X-Forwarded-Prefix "";
        proxy_set_header Forwarded "";
    }
}
`;

/** Four clients, each with an address and a host name of its own. */
const CLIENTS: (Client & { host: string })[] = [
  { label: 'a', connect: '127.0.0.1', address: '127.0.0.2', hostname: '127.0.0.1', host: 'a.example' },
  { label: 'b', connect: '127.0.0.1', address: '127.0.0.3', hostname: '127.0.0.1', host: 'b.example' },
  { label: 'c', connect: '127.0.0.1', address: '127.0.0.4', hostname: '127.0.0.1', host: 'c.example' },
  { label: 'd', connect: '::1', address: '::1', hostname: '[::1]', host: 'd.example' },
];

/** What the app saw of one request, and which upstream connection it came on. */
interface Seen {
  client: string;
  connection: number;
  ip: string | undefined;
  ips: string[];
  hostname: string;
  protocol: string;
  /** req.socket is a per-request view, never the connection itself. */
  viewed: boolean;
}

async function startApp(t: Test) {
  const records: Seen[] = [];
  const ids = new WeakMap<Socket, number>();
  let connections = 0;
  const app = express();
  app.get('/who', (req, res) => {
    // res.socket is the connection itself; req.socket has been replaced by the request's view of it.
    records.push({
      client: String(req.query.client),
      connection: ids.get(res.socket!)!,
      ip: req.ip,
      ips: req.ips,
      hostname: req.hostname,
      protocol: req.protocol,
      viewed: req.socket !== res.socket,
    });
    res.json({ ip: req.ip });
  });
  const server = http.createServer(proxyFixNode(app, { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] }));
  server.on('connection', (socket: Socket) => ids.set(socket, ++connections));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(t, () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, records, connections: () => connections };
}

/** One request from `client` to nginx, each on a new client connection; resolves with the app's answer. */
function ask(client: (typeof CLIENTS)[number], port: number, forge: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: client.connect, port, localAddress: client.address, agent: false,
      path: `/who?client=${client.label}`,
      headers: { Host: client.host, ...(forge ? { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Host': 'evil.example' } : {}) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

const binary = await needProxy(t, 'nginx');
if (binary !== undefined) {
  t.test('clients sharing one keep-alive upstream connection each see their own address and host', async (t) => {
    const app = await startApp(t);
    const { slots } = await startProxy(t, 'nginx', binary, 'upstream keep-alive (test/nginx-upstream-keepalive.ts)', tempDir(t),
      { app: app.port, app2: 0 }, ['http'], CONFIG);

    const expected = (label: string) => {
      const client = CLIENTS.find((c) => c.label === label)!;
      // req.ips stays [] (README): the forwarding headers are spent, so Express finds no chain to list.
      return { ip: client.address, ips: [], hostname: client.host, protocol: 'http', viewed: true };
    };
    const check = (records: Seen[], what: string) => {
      for (const [i, r] of records.entries()) {
        t.strictSame({ ip: r.ip, ips: r.ips, hostname: r.hostname, protocol: r.protocol, viewed: r.viewed }, expected(r.client),
          `${what} #${i + 1} (client ${r.client}, upstream connection ${r.connection})`);
      }
    };

    // One at a time, the clients taking turns: nginx reuses its idle connection for each.
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      for (const client of CLIENTS) {
        const answer = await ask(client, slots.http, round % 2 === 1);
        t.equal(answer.status, 200, `round ${round + 1}, client ${client.label}: answered`);
      }
    }
    const sequential = app.records.slice();
    t.equal(sequential.length, rounds * CLIENTS.length, 'every request reached the app');
    check(sequential, 'in turn');

    const clientsPerConnection = new Map<number, Set<string>>();
    for (const r of sequential) {
      if (!clientsPerConnection.has(r.connection)) clientsPerConnection.set(r.connection, new Set());
      clientsPerConnection.get(r.connection)!.add(r.client);
    }
    const shared = [...clientsPerConnection.values()].filter((clients) => clients.size > 1);
    t.ok(clientsPerConnection.size < sequential.length,
      `nginx reused upstream connections (${clientsPerConnection.size} for ${sequential.length} requests)`);
    t.ok(shared.length > 0, 'at least one upstream connection carried requests from several clients',
      { clientsPerConnection: Object.fromEntries([...clientsPerConnection].map(([id, clients]) => [id, [...clients]])) });
    let switches = 0;
    for (let i = 1; i < sequential.length; i++) {
      if (sequential[i]!.connection === sequential[i - 1]!.connection && sequential[i]!.client !== sequential[i - 1]!.client) switches++;
    }
    t.ok(switches > 0, `requests from different clients followed each other on one connection (${switches} times)`);

    // All at once, several times: the pool's connections are taken by whichever request comes next.
    for (let burst = 0; burst < 3; burst++) {
      const answers = await Promise.all([...CLIENTS, ...CLIENTS].map((client, i) => ask(client, slots.http, i % 2 === 0)));
      t.strictSame(answers.map((a) => a.status), answers.map(() => 200), `burst ${burst + 1}: every request answered`);
    }
    const concurrent = app.records.slice(sequential.length);
    t.equal(concurrent.length, 3 * 2 * CLIENTS.length, 'every concurrent request reached the app');
    check(concurrent, 'at once');
    t.ok(app.connections() < sequential.length + concurrent.length,
      `fewer upstream connections than requests overall (${app.connections()} for ${sequential.length + concurrent.length})`);
  });
}
