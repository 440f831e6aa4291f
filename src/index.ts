export type {
  GatewayApp,
  GatewayEnv,
  GatewayHolder,
  GatewayResponse,
  EnvInit,
  FixedField,
  Originals,
} from './gateway.js';
export { createEnv, lintEnv, lintResponse, originalValue, ORIGINALS } from './gateway.js';
export type { ConfigError, ConfigErrorCode } from './errors.js';
export { proxyFix, FIXED, TRACE, type ProxyFixOptions } from './middleware/proxy-fix.js';
export { explain, type FieldOutcome, type FieldTrace, type ForwardedField, type HopTrace, type ProxyFixTrace } from './explain.js';
export { compileTrust, type TrustInput, type TrustPredicate } from './net/trust.js';
export { compose } from './middleware/compose.js';
export type { Middleware } from './gateway.js';
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
export {
  toGatewayEnv,
  toNodeListener,
  writeGatewayResponse,
  type NodeListenerOptions,
  type NodeResponseInfo,
} from './adapters/node.js';
export { serve, type LogSink, type RunningServer, type ServeOptions } from './server/serve.js';
export { inspectApp, type InspectedFields, type Inspection, type InspectOptions } from './server/inspect.js';
