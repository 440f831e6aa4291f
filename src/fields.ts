/**
 * Applying a forwarded value to the env: one rule for every middleware that sets fields.
 *
 * A value is applied only once it parses for its field (the rules are in ./net/), and fields that
 * belong together move together: a host brings the name and port it carries, or the port its
 * scheme implies; a port rewrites the port inside the host. Werkzeug leaves the app server's own
 * port in place when a forwarded host has none, a port no client used; the scheme tells the real one.
 * So the order values are applied in matters: the scheme before the host, the host before the port.
 *
 * Changes are gathered first, each reading the env as the request arrived plus what this pass has
 * gathered so far, and written last by `writeChanges`, which records the originals once.
 */
import { ORIGINALS, type FixedField, type GatewayEnv, type Originals } from './gateway.js';
import { parseAddress, type ReportedAddress } from './net/address.js';
import { parseHost } from './net/host.js';
import { defaultPort, parsePort } from './net/port.js';
import { parsePrefix } from './net/prefix.js';
import { connectionScheme, parseScheme } from './net/scheme.js';

/** What a middleware is about to write, field by field. */
export type Changes = Partial<Record<FixedField, string>>;

/**
 * The order rewriteHeaders applies fields in, and every middleware writes them in: the scheme
 * before the host (a host without a port takes the scheme's), and the name and port after the host,
 * so that an explicit one wins over what the host implied. proxyFix applies in Werkzeug's order,
 * which agrees on the scheme, the host and the port.
 */
export const FIELD_ORDER: readonly FixedField[] = ['remoteAddr', 'remotePort', 'scheme', 'host', 'serverName', 'serverPort', 'scriptName'];

/** The client's address, and its port or none: the peer's port belongs to the peer, not to the client. */
export function setClient(changes: Changes, client: ReportedAddress): void {
  changes.remoteAddr = client.address;
  changes.remotePort = client.port;
}

/**
 * Validate `value` for `field` and gather what it changes; false, changing nothing, when it does not parse.
 * One function per field below, so that a caller that knows its field (proxyFix's per-request path)
 * calls the rule directly; this dispatch serves callers whose field is data (rewriteHeaders, the trace).
 */
export function applyValue(field: FixedField, value: string, changes: Changes, env: GatewayEnv, schemes: readonly string[]): boolean {
  switch (field) {
    case 'remoteAddr':
      return applyAddress(value, changes);
    case 'remotePort':
      if (parsePort(value) === undefined) return false;
      changes.remotePort = value;
      return true;
    case 'scheme':
      return applyScheme(value, changes, env, schemes);
    case 'host':
      return applyHost(value, changes, env);
    case 'serverName': {
      const host = parseHost(value);
      if (host === undefined || host.port !== '') return false;
      changes.serverName = host.name;
      return true;
    }
    case 'serverPort':
      return applyPort(value, changes, env);
    case 'scriptName':
      return applyPrefix(value, changes);
  }
}

/** A client address, with the port it carries or none. */
export function applyAddress(value: string, changes: Changes): boolean {
  const client = parseAddress(value);
  if (client === undefined) return false;
  setClient(changes, client);
  return true;
}

/** A scheme; a WebSocket request stays one. */
export function applyScheme(value: string, changes: Changes, env: GatewayEnv, schemes: readonly string[]): boolean {
  const scheme = parseScheme(value, schemes);
  if (scheme === undefined) return false;
  changes.scheme = connectionScheme(scheme, env.scheme);
  return true;
}

/** A host, with the name and port it carries, or the port of the scheme gathered so far. */
export function applyHost(value: string, changes: Changes, env: GatewayEnv): boolean {
  const host = parseHost(value);
  if (host === undefined) return false;
  changes.host = host.host;
  changes.serverName = host.name;
  changes.serverPort = host.port !== '' ? host.port : defaultPort(changes.scheme ?? env.scheme);
  return true;
}

/**
 * A port, which goes into the host too. `hostName` is the name of `changes.host` when the caller
 * knows it, having set both with `applyHost` (proxyFix, whose host comes just before the port):
 * the host is then not parsed a second time.
 */
export function applyPort(value: string, changes: Changes, env: GatewayEnv, hostName?: string): boolean {
  if (parsePort(value) === undefined) return false;
  // The port goes into the host too, when there is a valid one: a host that arrived invalid
  // (a bare `2001:db8::a`) is left as it came, never made into another invalid one.
  const name = hostName ?? parseHost(changes.host ?? env.host)?.name;
  if (name !== undefined) changes.host = `${name}:${value}`;
  changes.serverPort = value;
  return true;
}

/** A path prefix, without its trailing slashes. */
export function applyPrefix(value: string, changes: Changes): boolean {
  const prefix = parsePrefix(value);
  if (prefix === undefined) return false;
  changes.scriptName = prefix;
  return true;
}

/**
 * Write what was gathered, recording each replaced value as the original, once: the first recorder
 * wins, so the true original survives a stack; an unchanged value is not recorded. Written out
 * field by field, in FIELD_ORDER, rather than looped over it: a field named by a variable makes
 * every access to the env and the record a slow generic one, and this runs on every request.
 */
export function writeChanges(env: GatewayEnv, changes: Changes): void {
  const { remoteAddr, remotePort, scheme, host, serverName, serverPort, scriptName } = changes;
  if (remoteAddr !== undefined && remoteAddr !== env.remoteAddr) {
    const originals = originalsOf(env);
    originals.remoteAddr ??= env.remoteAddr;
    env.remoteAddr = remoteAddr;
  }
  if (remotePort !== undefined && remotePort !== env.remotePort) {
    const originals = originalsOf(env);
    originals.remotePort ??= env.remotePort;
    env.remotePort = remotePort;
  }
  if (scheme !== undefined && scheme !== env.scheme) {
    const originals = originalsOf(env);
    originals.scheme ??= env.scheme;
    env.scheme = scheme;
  }
  if (host !== undefined && host !== env.host) {
    const originals = originalsOf(env);
    originals.host ??= env.host;
    env.host = host;
  }
  if (serverName !== undefined && serverName !== env.serverName) {
    const originals = originalsOf(env);
    originals.serverName ??= env.serverName;
    env.serverName = serverName;
  }
  if (serverPort !== undefined && serverPort !== env.serverPort) {
    const originals = originalsOf(env);
    originals.serverPort ??= env.serverPort;
    env.serverPort = serverPort;
  }
  if (scriptName !== undefined && scriptName !== env.scriptName) {
    const originals = originalsOf(env);
    originals.scriptName ??= env.scriptName;
    env.scriptName = scriptName;
  }
}

/** The env's record of originals, made when the first field is replaced. */
function originalsOf(env: GatewayEnv): Originals {
  let originals = env.ext[ORIGINALS];
  if (originals === undefined) {
    originals = {};
    env.ext[ORIGINALS] = originals;
  }
  return originals;
}

/**
 * An empty `Changes` whose every field exists from the start: one shape for every request, so that
 * gathering and writing read and write it at fixed places rather than growing it key by key. A
 * literal, which the engine copies whole, rather than a class, whose fields are defined one by one.
 */
export function pendingChanges(): Changes {
  return {
    remoteAddr: undefined, remotePort: undefined, scheme: undefined, host: undefined,
    serverName: undefined, serverPort: undefined, scriptName: undefined,
  };
}
