/**
 * `proxyfix/server`: the built-in HTTP server (`serve`, what `proxyfix serve` runs) and the
 * inspection app that shows a request as the app sees it after fixing.
 */
export { serve, type LogSink, type RunningServer, type ServableApp, type ServeOptions } from './server/serve.js';
export type { AppInterface } from './adapters/interface.js';
export { inspectApp, type InspectedFields, type Inspection, type InspectOptions } from './server/inspect.js';
