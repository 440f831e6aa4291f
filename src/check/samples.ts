/**
 * The sample configs shipped in nginx/, haproxy/ and caddy/, as the check needs them: which proxy,
 * which deployment shape, and the counts their header comments name. The check points a user at
 * the sample closest to the chain it found, so they can compare their config with one that is
 * tested end to end. test/check-samples.ts holds this table against the files' own header comments.
 */
import type { CountOptions } from './recommend.js';

export type ProxyName = 'nginx' | 'haproxy' | 'caddy';

/** What a sample is for; the README's table of shapes says more. */
export type Shape = 'basic' | 'full' | 'prefix' | 'tls' | 'two-tier' | 'forwarded' | 'unix-socket' | 'upstream' | 'realip' | 'websocket';

export interface Sample {
  file: string;
  proxy: ProxyName;
  shape: Shape;
  /** The counts its header names (trust lists aside). */
  counts: CountOptions;
}

const ONE = { xFor: 1, xProto: 1 };
const HOST = { xFor: 1, xProto: 1, xHost: 1 };
const FULL = { xFor: 1, xProto: 1, xHost: 1, xPort: 1 };
const PREFIX = { xFor: 1, xProto: 1, xHost: 1, xPrefix: 1 };
const TWO = { xFor: 2, xProto: 1, xHost: 1 };
const FORWARDED = { forwarded: 1 };

const EXTENSIONS: Record<ProxyName, string> = { nginx: '.conf', haproxy: '.cfg', caddy: '.Caddyfile' };

/** Per proxy, its shapes and their counts, in the order a tie is broken: the plainer shapes first. */
const TABLE: Record<ProxyName, readonly [Shape, CountOptions][]> = {
  nginx: [['basic', ONE], ['full', FULL], ['prefix', PREFIX], ['tls', FULL], ['two-tier', TWO], ['forwarded', FORWARDED],
    ['realip', ONE], ['upstream', HOST], ['websocket', HOST], ['unix-socket', HOST]],
  haproxy: [['basic', ONE], ['full', FULL], ['prefix', PREFIX], ['tls', FULL], ['two-tier', TWO], ['forwarded', FORWARDED],
    ['realip', ONE], ['upstream', HOST], ['unix-socket', HOST]],
  // Caddy writes X-Forwarded-Host itself, so its basic shape counts it.
  caddy: [['basic', HOST], ['full', FULL], ['prefix', PREFIX], ['tls', FULL], ['two-tier', TWO], ['forwarded', FORWARDED],
    ['upstream', HOST], ['unix-socket', HOST]],
};

export const SAMPLES: readonly Sample[] = (Object.keys(TABLE) as ProxyName[]).flatMap((proxy) =>
  TABLE[proxy].map(([shape, counts]): Sample => ({ file: `${proxy}/${shape}${EXTENSIONS[proxy]}`, proxy, shape, counts })));

/** What the check found that tells shapes with the same counts apart. */
export interface Found {
  counts: CountOptions;
  /** From the answer's `Server` header; `undefined` when it names none of the three (HAProxy sends none). */
  proxy: ProxyName | undefined;
  /** The URL is https://. */
  https: boolean;
  /** The app's peer is a Unix socket. */
  unixSocket: boolean;
  /** Proxies that append to the addresses' header. */
  proxies: number;
  /** The proxies strip a path prefix: the URL's path is longer than the one the app got. */
  mounted: boolean;
}

/** The proxy a `Server` header names, if one of the three. */
export function proxyNamed(server: string | undefined): ProxyName | undefined {
  if (server === undefined) return undefined;
  if (/^nginx\b/i.test(server)) return 'nginx';
  if (/^caddy\b/i.test(server)) return 'caddy';
  return /^haproxy\b/i.test(server) ? 'haproxy' : undefined;
}

/**
 * How far what was found is from what the shape is about: a point for each trait the shape has
 * that was not found (a tls sample for plain HTTP) and for each trait found that belongs to
 * another shape (a Unix socket peer, for the basic sample).
 */
function misfit(shape: Shape, found: Found): number {
  const traits: [Shape, boolean][] = [
    ['tls', found.https], ['unix-socket', found.unixSocket], ['two-tier', found.proxies >= 2], ['prefix', found.mounted],
  ];
  return traits.filter(([traitShape, present]) => (shape === traitShape) !== present).length;
}

const COUNTS = ['xFor', 'xProto', 'xHost', 'xPort', 'xPrefix', 'forwarded'] as const;

/**
 * The sample closest to what was found: one for the same proxy first (its config is what the user
 * compares), then the shape that fits what was found (HTTPS, a Unix socket, two proxies, a path
 * prefix: facts of the deployment, where a count may be the very mistake found), then the nearest
 * counts; ties go to the plainer shape. With the proxy unknown, the samples
 * of the same shape for the other proxies come as `others`.
 */
export function closestSample(found: Found): { file: string; shape: Shape; others: string[] } {
  const distance = (sample: Sample) =>
    (found.proxy !== undefined && sample.proxy !== found.proxy ? 10_000 : 0) +
    misfit(sample.shape, found) * 100 +
    COUNTS.reduce((sum, option) => sum + Math.abs((sample.counts[option] ?? 0) - (found.counts[option] ?? 0)), 0);
  // With nothing forwarded, no sample is closer than another: the plainest, the basic one.
  const nothing = COUNTS.every((option) => (found.counts[option] ?? 0) === 0);
  let best = SAMPLES.find((sample) => sample.proxy === (found.proxy ?? 'nginx'))!;
  for (const sample of nothing ? [] : SAMPLES) if (distance(sample) < distance(best)) best = sample;
  const others = found.proxy === undefined
    ? SAMPLES.filter((sample) => sample.shape === best.shape && sample.proxy !== best.proxy).map((sample) => sample.file)
    : [];
  return { file: best.file, shape: best.shape, others };
}
