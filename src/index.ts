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
