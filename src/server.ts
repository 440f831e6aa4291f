/**
 * `proxyfix/server`: the built-in HTTP server (`serve`, what `proxyfix serve` runs), the inspection
 * app that shows a request as the app sees it after fixing, and `check`, which proves a live proxy
 * chain safe through a probe (what `proxyfix check` runs).
 */
export { serve, type LogSink, type RunningServer, type ServableApp, type ServeOptions } from './server/serve.js';
export type { ProxyProtocolOptions } from './server/settings.js';
export { PROXY_PROTOCOL, type ProxyProtocolRecord } from './server/proxy-protocol.js';
export type { AppInterface } from './adapters/interface.js';
export { inspectApp, type InspectedFields, type Inspection, type InspectOptions } from './server/inspect.js';
export {
  check,
  runCheck,
  type CheckOptions,
  type CheckReport,
  type CheckRun,
  type Finding,
  type FindingId,
  type Recommendation,
  type Severity,
} from './check/index.js';
