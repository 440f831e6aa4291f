/**
 * `proxyfix`: the gateway contract, the middlewares over it, trust lists and the `explain` trace.
 * It loads no server and no node:http, so a fetch runtime or a bundle pays only for what it uses;
 * the adapters are `proxyfix/node` and `proxyfix/fetch`, the built-in server `proxyfix/server`.
 */
export type {
  GatewayApp,
  GatewayEnv,
  GatewayExt,
  GatewayHolder,
  GatewayResponse,
  EnvInit,
  FixedField,
  Middleware,
  Originals,
} from './gateway.js';
export { createEnv, FIXED, lintEnv, lintResponse, originalValue, ORIGINALS, requestUrl } from './gateway.js';
export { isConfigError, type ConfigError, type ConfigErrorCode, type ProxyFixWarning, type ProxyFixWarningCode, type WarningHandler } from './options.js';
export { explain, proxyFix, type ProxyFixOptions } from './middleware/proxy-fix/index.js';
export { TRACE, type FieldOutcome, type FieldTrace, type ForwardedField, type HopTrace, type ProxyFixTrace } from './trace.js';
export { compileTrust, type TrustInput, type TrustPredicate } from './net/trust.js';
export { compose } from './middleware/compose.js';
export {
  rewriteHeaders,
  REWRITE_TRACE,
  type RewriteFieldTrace,
  type RewriteHeadersOptions,
  type RewriteMapEntry,
  type RewriteTarget,
} from './middleware/rewrite.js';
export { trustGate, STRIPPED, type TrustGateOptions } from './middleware/trust-gate.js';
export { allowedHosts, HOST_CHECK, type AllowedHostsOptions, type HostCheckTrace } from './middleware/allowed-hosts.js';
export { probe, type EchoedOption, type ProbeAnswer, type ProbeFields, type ProbeOptions } from './middleware/probe.js';
