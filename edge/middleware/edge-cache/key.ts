import { negotiateRepresentation } from '../../../contract/negotiate';

/**
 * Query parameters that never change an answer and would split the cache: campaign tracking,
 * and credentials (refused by authentication anyway; dropped here too so a key can never hold
 * one).
 */
const ignoredParams =
  /^(utm_[a-z_]*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|_ga|_gl|access_token|api_key|apikey)$/i;

/** Not a real host: Cache API keys only need to be URLs, and this one can never be fetched. */
export const CACHE_KEY_ORIGIN = 'https://edge-cache.estate-edge.internal';

/**
 * The cache key of a request: its path, its query without tracking or credential parameters
 * (sorted by name: the order of different names changes no answer), the representation it gets
 * (contract/negotiate.ts, the very function the origin picks its format with, so
 * `Accept: application/geo+json;q=0` is keyed as the JSON the origin sends it), and the data
 * version. Two requests get the same key exactly when the origin would give them the same answer.
 *
 * A repeated parameter never gets here: the cache refuses it first (contract/query.ts), since
 * sorting would give `a=1&a=2` and `a=2&a=1` one key while the origin reads the first value.
 *
 * @example
 *   cacheKey(new URL('https://x/v1/stats?b=2&a=1&utm_source=mail'), null, '7')
 *   // 'https://edge-cache.estate-edge.internal/v1/stats?a=1&b=2&__v=7'
 */
export function cacheKey(url: URL, accept: string | null, dataVersion: string): string {
  const params = [...url.searchParams].filter(
    ([name]) => !ignoredParams.test(name) && !name.startsWith('__'),
  );
  // Stable: should a repeated name ever reach here, its values keep the client's order.
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = new URLSearchParams(params);
  const representation = negotiateRepresentation(accept);
  // JSON, the default, adds nothing: the keys of plain requests stay as they were.
  if (representation !== 'json') query.append('__accept', representation);
  query.append('__v', dataVersion);
  return `${CACHE_KEY_ORIGIN}${url.pathname}?${query}`;
}
