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
import { setField, type FixedField, type GatewayEnv } from './gateway.js';
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

/** Validate `value` for `field` and gather what it changes; false, changing nothing, when it does not parse. */
export function applyValue(field: FixedField, value: string, changes: Changes, env: GatewayEnv, schemes: readonly string[]): boolean {
  switch (field) {
    case 'remoteAddr': {
      const client = parseAddress(value);
      if (client === undefined) return false;
      setClient(changes, client);
      return true;
    }
    case 'remotePort':
      if (parsePort(value) === undefined) return false;
      changes.remotePort = value;
      return true;
    case 'scheme': {
      const scheme = parseScheme(value, schemes);
      if (scheme === undefined) return false;
      changes.scheme = connectionScheme(scheme, env.scheme);
      return true;
    }
    case 'host': {
      const host = parseHost(value);
      if (host === undefined) return false;
      changes.host = host.host;
      changes.serverName = host.name;
      changes.serverPort = host.port !== '' ? host.port : defaultPort(changes.scheme ?? env.scheme);
      return true;
    }
    case 'serverName': {
      const host = parseHost(value);
      if (host === undefined || host.port !== '') return false;
      changes.serverName = host.name;
      return true;
    }
    case 'serverPort': {
      if (parsePort(value) === undefined) return false;
      // The port goes into the host too, when there is a valid one: a host that arrived invalid
      // (a bare `2001:db8::a`) is left as it came, never made into another invalid one.
      const host = parseHost(changes.host ?? env.host);
      if (host !== undefined) changes.host = `${host.name}:${value}`;
      changes.serverPort = value;
      return true;
    }
    case 'scriptName': {
      const prefix = parsePrefix(value);
      if (prefix === undefined) return false;
      changes.scriptName = prefix;
      return true;
    }
  }
}

/** Write what was gathered, recording each replaced value as the original. */
export function writeChanges(env: GatewayEnv, changes: Changes): void {
  for (const field of FIELD_ORDER) {
    const value = changes[field];
    if (value !== undefined) setField(env, field, value);
  }
}
