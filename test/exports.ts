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
  'fixedOf',
  'fromFetchHandler',
  'fromNodeListener',
  'fromUpgradeListener',
  'inspectApp',
  'lintEnv',
  'lintResponse',
  'originalValue',
  'proxyFix',
  'proxyFixExpress',
  'proxyFixFetch',
  'proxyFixNode',
  'proxyFixUpgrade',
  'requestUrl',
  'rewriteHeaders',
  'serve',
  'toFetchHandler',
  'toGatewayEnv',
  'toNodeListener',
  'toNodeMiddleware',
  'toUpgradeListener',
  'trustGate',
  'writeGatewayResponse',
]);

// The subpath entries: what `proxyfix/node` and `proxyfix/fetch` users import.
const node = await import('../src/node.js');
t.same(Object.keys(node).sort(), [
  'NODE_NEXT',
  'NODE_REQUEST',
  'NODE_RESPONSE',
  'UPGRADE',
  'fixedOf',
  'fromNodeListener',
  'fromUpgradeListener',
  'presentToNode',
  'proxyFixExpress',
  'proxyFixNode',
  'proxyFixUpgrade',
  'toGatewayEnv',
  'toNodeListener',
  'toNodeMiddleware',
  'toUpgradeListener',
  'writeGatewayResponse',
], 'proxyfix/node');
const fetchEntry = await import('../src/fetch.js');
t.same(Object.keys(fetchEntry).sort(), [
  'FETCH_ARGS',
  'FETCH_REQUEST',
  'fixedOf',
  'fromFetchHandler',
  'proxyFixFetch',
  'requestToEnv',
  'toFetchHandler',
  'toFetchResponse',
], 'proxyfix/fetch');
