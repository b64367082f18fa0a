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
 * The cache key of a request: its path, its query sorted by name then value without tracking or
 * credential parameters, the representation it asked for (the listings answer GeoJSON for
 * `Accept: application/geo+json`), and the data version. Two requests get the same key exactly
 * when the origin would give them the same answer.
 *
 * @example
 *   cacheKey(new URL('https://x/v1/stats?b=2&a=1&utm_source=mail'), null, '7')
 *   // 'https://edge-cache.estate-edge.internal/v1/stats?a=1&b=2&__v=7'
 */
export function cacheKey(url: URL, accept: string | null, dataVersion: string): string {
  const params = [...url.searchParams].filter(
    ([name]) => !ignoredParams.test(name) && !name.startsWith('__'),
  );
  params.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  const query = new URLSearchParams(params);
  if (accept?.toLowerCase().includes('application/geo+json')) query.append('__accept', 'geojson');
  query.append('__v', dataVersion);
  return `${CACHE_KEY_ORIGIN}${url.pathname}?${query}`;
}
