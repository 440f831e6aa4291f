export type {
  GatewayApp,
  GatewayEnv,
  GatewayHolder,
  GatewayResponse,
  EnvInit,
  FixedField,
  Originals,
} from './gateway.js';
export { createEnv, lintEnv, lintResponse, originalValue, ORIGINALS, requestUrl } from './gateway.js';
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
  fromNodeListener,
  toGatewayEnv,
  toNodeListener,
  toNodeMiddleware,
  writeGatewayResponse,
  type NodeListener,
  type NodeMiddleware,
  type NodeListenerOptions,
  type NodeResponseInfo,
} from './adapters/node.js';
export { fromFetchHandler, toFetchHandler, type FetchHandler, type FetchHandlerOptions, type GetPeer, type PeerInfo } from './adapters/fetch.js';
export { fromUpgradeListener, toUpgradeListener, type UpgradeListener, type UpgradeListenerOptions } from './adapters/upgrade.js';
export { fixedOf, type FixedRequest } from './adapters/fixed.js';
export { proxyFixExpress, proxyFixNode, proxyFixUpgrade } from './node.js';
export { proxyFixFetch, type ProxyFixFetchOptions } from './fetch.js';
export type { AppInterface } from './adapters/interface.js';
export { serve, type LogSink, type RunningServer, type ServableApp, type ServeOptions } from './server/serve.js';
export { inspectApp, type InspectedFields, type Inspection, type InspectOptions } from './server/inspect.js';
