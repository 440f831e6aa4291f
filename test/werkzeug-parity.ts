/**
 * Differential test against real Werkzeug: on valid requests, proxyFix must give what Werkzeug's
 * ProxyFix gives, except for the deviations the README lists, each applied here by name.
 */
import t from 'tap';
import fc from 'fast-check';
import { createEnv } from '../src/gateway.js';
import { defaultPort } from '../src/net/port.js';
import { count, forValue, host, listHeader, port, prefix, scheme, type ForValue } from './fixtures/arbitraries.js';
import { fixed } from './fixtures/run.js';
import { findPython, startWerkzeug } from './fixtures/werkzeug.js';

const python = findPython();
if (python === undefined && !process.env.CI) {
  t.plan(0, 'Werkzeug not found: pip install werkzeug==3.1.8, or apt-get install python3-werkzeug');
} else {
  t.test('proxyFix equals Werkzeug ProxyFix on valid requests', async (t) => {
    t.ok(python, 'CI must run the Werkzeug differential: a python3 that imports werkzeug');
    const werkzeug = await startWerkzeug(python!);
    t.teardown(() => werkzeug.close());
    t.comment(`oracle: Werkzeug ${werkzeug.version} under ${werkzeug.python}`);

    const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 4 });
    const request = fc.record({
      counts: fc.record({ xFor: count, xProto: count, xHost: count, xPort: count, xPrefix: count }),
      peer: forValue.filter((v) => v.port === ''),
      scheme: fc.constantFrom('http', 'https'),
      host: optional(host),
      path: fc.constantFrom('/', '/users/1', '/a/b/'),
      xFor: optional(listHeader(forValue, (v) => v.text)),
      xProto: optional(listHeader(scheme, (v) => v)),
      xHost: optional(listHeader(host, (v) => v)),
      xPort: optional(listHeader(port, (v) => v)),
      xPrefix: optional(listHeader(prefix, (v) => v)),
    });

    let compared = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.host !== undefined) headers.host = r.host;
        if (r.xFor) headers['x-forwarded-for'] = r.xFor.header;
        if (r.xProto) headers['x-forwarded-proto'] = r.xProto.header;
        if (r.xHost) headers['x-forwarded-host'] = r.xHost.header;
        if (r.xPort) headers['x-forwarded-port'] = r.xPort.header;
        if (r.xPrefix) headers['x-forwarded-prefix'] = r.xPrefix.header;
        const start = createEnv({ remoteAddr: r.peer.address, scheme: r.scheme, host: r.host ?? '', url: r.path, headers });

        const theirs = await werkzeug.run({
          counts: { x_for: r.counts.xFor, x_proto: r.counts.xProto, x_host: r.counts.xHost, x_port: r.counts.xPort, x_prefix: r.counts.xPrefix },
          environ: {
            REMOTE_ADDR: start.remoteAddr, 'wsgi.url_scheme': start.scheme, SERVER_NAME: start.serverName,
            SERVER_PORT: start.serverPort, SCRIPT_NAME: start.scriptName, PATH_INFO: start.pathInfo,
          },
          headers,
        });
        const ours = await fixed(r.counts, { ...start, headers });

        // Which values Werkzeug picked: the one `count` places from the right, when there are enough.
        const picked = <T>(list: { values: T[] } | undefined, n: number): T | undefined =>
          list && n > 0 && list.values.length >= n ? list.values[list.values.length - n] : undefined;
        const pickedFor = picked<ForValue>(r.xFor, r.counts.xFor);
        const pickedHost = picked(r.xHost, r.counts.xHost);
        const pickedPort = picked(r.xPort, r.counts.xPort);

        const expected = {
          remoteAddr: theirs.REMOTE_ADDR,
          scheme: theirs['wsgi.url_scheme'],
          host: theirs.HTTP_HOST ?? '',
          serverName: theirs.SERVER_NAME,
          serverPort: theirs.SERVER_PORT,
          scriptName: theirs.SCRIPT_NAME,
          pathInfo: theirs.PATH_INFO,
        };
        // Deviation 1: a for-value's port goes to remotePort, not into remoteAddr.
        if (pickedFor !== undefined) expected.remoteAddr = pickedFor.address;
        // Deviation 2: scriptName never ends with a slash.
        expected.scriptName = expected.scriptName!.replace(/\/+$/, '');
        // Deviation 3: a forwarded host without a port gets the scheme's port, not the app server's.
        if (pickedHost !== undefined && !/:\d+$/.test(pickedHost) && pickedPort === undefined) {
          expected.serverPort = defaultPort(expected.scheme!);
        }
        const actual = {
          remoteAddr: ours.remoteAddr, scheme: ours.scheme, host: ours.host, serverName: ours.serverName,
          serverPort: ours.serverPort, scriptName: ours.scriptName, pathInfo: ours.pathInfo,
        };
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          throw new Error(`mismatch\n  werkzeug: ${JSON.stringify(theirs)}\n  expected: ${JSON.stringify(expected)}\n  proxyfix: ${JSON.stringify(actual)}`);
        }
        // The remote port is ours alone: taken from the picked value, or unknown.
        if (pickedFor !== undefined && ours.remotePort !== pickedFor.port) throw new Error(`remotePort ${ours.remotePort}`);
        compared++;
      }),
      { numRuns: 2000 },
    );
    t.equal(compared, 2000, 'requests compared with 0 mismatches');
  });
}
