/** The public export list: what users import. Adding or removing a name is a deliberate change. */
import t from 'tap';
import * as proxyfix from '../src/index.js';

t.same(Object.keys(proxyfix).sort(), [
  'FIXED',
  'ORIGINALS',
  'TRACE',
  'compileTrust',
  'createEnv',
  'explain',
  'lintEnv',
  'lintResponse',
  'originalValue',
  'proxyFix',
]);
