/** The public export list: what users import. Adding or removing a name is a deliberate change. */
import t from 'tap';
import * as proxyfix from '../src/index.js';

t.same(Object.keys(proxyfix).sort(), [
  'FIXED',
  'HOST_CHECK',
  'ORIGINALS',
  'REWRITE_TRACE',
  'STRIPPED',
  'TRACE',
  'allowedHosts',
  'compileTrust',
  'compose',
  'createEnv',
  'explain',
  'inspectApp',
  'lintEnv',
  'lintResponse',
  'originalValue',
  'proxyFix',
  'rewriteHeaders',
  'serve',
  'toGatewayEnv',
  'toNodeListener',
  'trustGate',
  'writeGatewayResponse',
]);
