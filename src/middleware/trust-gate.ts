/**
 * trustGate: forwarding headers from a peer that is not one of our proxies never reach the app.
 *
 * Every forwarding header is an ordinary request header. Behind a proxy that is fine, because the
 * proxy writes (or appends to) them; but a client that reaches the app directly — a forgotten
 * port, a second network interface, a health-check path — sets them all itself, and whatever reads
 * them later (proxyFix, a rewriter, the app's own logging or rate limiting, a library that looks
 * at `X-Real-IP`) believes it. The gate removes them at the door for such a peer, or refuses the
 * request, so that nothing further in can be fooled, whether or not it checks the peer itself.
 *
 * The peer is the socket peer as the server reported it (the original `remoteAddr`), so a fixer
 * that ran earlier in the stack cannot make a client look like a proxy.
 */
import { originalValue, refusal, type GatewayApp, type GatewayEnv, type Middleware } from '../gateway.js';
import { checkOptions, checkTrustUnixSocket, configError, describe, isToken } from '../options.js';
import { bothForms } from '../app-kind.js';
import { compilePeerTrust, compileTrust, type TrustInput } from '../net/trust.js';

export interface TrustGateOptions {
  /**
   * The proxies to trust: addresses, CIDR ranges, named ranges (`loopback`, `private`, …) or a
   * predicate, as for proxyFix. Required: an empty list trusts no peer.
   */
  trusted: TrustInput;
  /**
   * Trust a peer with no address (a Unix socket).
   * @default false
   */
  trustUnixSocket?: boolean;
  /**
   * What to do with a request from an untrusted peer that carries a forwarding header: remove those
   * headers and go on (`strip`), or answer it with `status` (`reject`). A request that carries none
   * goes on either way.
   * @default 'strip'
   */
  onUntrusted?: 'strip' | 'reject';
  /**
   * The status of a rejection. Only with `onUntrusted: 'reject'`.
   * @default 403
   */
  status?: 400 | 403;
  /**
   * More header names to treat as forwarding headers: a rewriter's own (`x-fhost`), a CDN's.
   * Compared like the built-in ones: without case, `_` equal to `-`.
   * @default []
   */
  headers?: readonly string[];
}

/** `env.ext[STRIPPED]`: for a request from an untrusted peer, the forwarding headers it carried. */
export const STRIPPED = 'proxyfix.stripped';

declare module '../gateway.js' {
  interface GatewayExt {
    /** For a request from an untrusted peer, the forwarding headers it carried (`STRIPPED`). */
    'proxyfix.stripped'?: string[];
  }
}

/** Every header whose name starts with this is a forwarding header (`X-Forwarded-For`, `-Ssl`, `-Scheme`, …). */
export const FORWARDING_HEADER_PREFIX = 'x-forwarded-';

/**
 * Headers that carry a client address, or a scheme, host, port, prefix or path as a proxy saw it,
 * besides every `X-Forwarded-*`: the names that request-ip, proxy-addr, Fastify, h3, Django, Rails,
 * ASP.NET Core, realclientip-go and others read. Many are set by one CDN or server only, but those
 * libraries read them wherever the app runs, so a client anywhere can send them.
 *
 * fixtures/forwarding-headers.json names the library that reads each one, with a reference, and
 * test/forwarding-headers.ts keeps it and this list equal. The list lives here, not in the JSON,
 * so the published package needs no data file and no JSON import.
 */
export const FORWARDING_HEADERS: readonly string[] = Object.freeze([
  // Lists and single addresses of the client, in the standard and the common non-standard names.
  'forwarded',
  'forwarded-for',
  'x-forwarded', // a non-standard single header some proxies emit in Forwarded's syntax
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  // CDNs' and platforms' own: request-ip and realclientip-go read them without being asked.
  'cf-connecting-ip',
  'cf-pseudo-ipv4',
  'do-connecting-ip',
  'fastly-client-ip',
  'x-appengine-user-ip',
  'x-0-client-ip',
  'x-azure-clientip',
  'x-azure-socketip',
  // Values from before a proxy or a fixer rewrote them (ingress-nginx, ASP.NET Core's middleware):
  // an app that reads them to show the "original" request takes a client's word for it.
  'x-original-forwarded-for',
  'x-original-for',
  'x-original-host',
  'x-original-proto',
  'x-original-prefix',
  'x-original-port',
  // Scheme flags older front ends send; CodeIgniter and Echo still read them.
  'front-end-https',
  'x-url-scheme',
  // IIS's rewrite headers: frameworks that honour them route by a path the client chose.
  'x-original-url',
  'x-rewrite-url',
]);

const KNOWN_OPTIONS = new Set(['trusted', 'trustUnixSocket', 'onUntrusted', 'status', 'headers']);

/**
 * A header name as CGI-style servers see it: `X_Forwarded_For` and `x-forwarded-for` are one
 * header to them (Traefik GHSA-x677-9fxg-v5c5), so they are one header here.
 */
function canonicalName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

interface CompiledGate {
  peerTrusted(peer: string): boolean;
  forwardingHeaders(env: GatewayEnv): string[];
  /** The status to refuse with; `undefined` to strip the headers instead. */
  reject: 400 | 403 | undefined;
}

function compileGate(options: TrustGateOptions): CompiledGate {
  checkOptions(options, KNOWN_OPTIONS, 'trustGate');
  if (options.trusted === undefined) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'trusted',
      'is required: the proxies whose forwarding headers may reach the app (an empty list trusts none)');
  }
  const peerTrusted = compilePeerTrust(compileTrust(options.trusted), checkTrustUnixSocket(options.trusted, options.trustUnixSocket));
  const onUntrusted = options.onUntrusted ?? 'strip';
  if (onUntrusted !== 'strip' && onUntrusted !== 'reject') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'onUntrusted', `must be 'strip' or 'reject', got ${describe(onUntrusted)}`);
  }
  if (options.status !== undefined) {
    if (onUntrusted !== 'reject') {
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'status', "applies only with `onUntrusted: 'reject'`");
    }
    if (options.status !== 400 && options.status !== 403) {
      throw configError('ERR_PROXYFIX_OPTION_RANGE', 'status', `must be 400 or 403, got ${describe(options.status)}`);
    }
  }
  const extra = options.headers ?? [];
  if (!Array.isArray(extra)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'headers', `must be an array of header names, got ${describe(extra)}`);
  }
  const names = new Set(FORWARDING_HEADERS);
  extra.forEach((name: unknown, i) => {
    if (!isToken(name)) {
      throw configError('ERR_PROXYFIX_OPTION_TYPE', `headers[${i}]`, `must be a header name, got ${describe(name)}`);
    }
    names.add(canonicalName(name));
  });
  return {
    peerTrusted,
    forwardingHeaders(env) {
      const found: string[] = [];
      for (const name of Object.keys(env.headers)) {
        const canonical = canonicalName(name);
        if (canonical.startsWith(FORWARDING_HEADER_PREFIX) || names.has(canonical)) found.push(name);
      }
      return found;
    },
    reject: onUntrusted === 'reject' ? options.status ?? 403 : undefined,
  };
}

/**
 * Wrap a gateway app so that forwarding headers reach it only from trusted proxies. For any other
 * peer they are removed (`strip`, the default) or the request is refused (`reject`); the names
 * found are kept in `env.ext["proxyfix.stripped"]`.
 *
 * Also callable as `trustGate(options)`, which returns a middleware for `compose`.
 *
 * @example
 * app.gatewayApp = trustGate(app.gatewayApp, { trusted: ['10.0.0.0/8'], headers: ['x-fhost'] });
 * // or, stacked:
 * compose(trustGate({ trusted: ['10.0.0.0/8'], onUntrusted: 'reject' }), proxyFix({ … }))(app);
 */
export function trustGate(options: TrustGateOptions): Middleware;
export function trustGate(app: GatewayApp, options: TrustGateOptions): GatewayApp;
export function trustGate(appOrOptions: GatewayApp | TrustGateOptions, options?: TrustGateOptions): GatewayApp | Middleware {
  return bothForms((opts: TrustGateOptions) => {
    const gate = compileGate(opts);
    return (app) => function trustGated(env: GatewayEnv) {
      if (gate.peerTrusted(originalValue(env, 'remoteAddr'))) return app(env);
      const found = gate.forwardingHeaders(env);
      env.ext[STRIPPED] = found;
      if (found.length === 0) return app(env);
      if (gate.reject !== undefined) return refusal(gate.reject, 'forwarding headers are accepted only from this server\'s proxies');
      for (const name of found) delete env.headers[name];
      return app(env);
    };
  }, appOrOptions, options);
}
