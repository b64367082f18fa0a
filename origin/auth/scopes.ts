/** The scopes, roles and plans both ends share live in contract/scopes.ts; re-exported here. */
export {
  formatScopes,
  hasScope,
  impliedBy,
  isScope,
  parseScopes,
  planAtMost,
  readScopes,
  roleScopes,
  type Scope,
  scopes,
} from '../../contract/scopes.js';
