/**
 * One spelling per query parameter, refused the same way at both ends (issue 13, finding 2).
 *
 * `?price_max=1&price_max=2` is ambiguous: Hono's `c.req.query()` reads the first, other parsers
 * the last or all, and the edge's cache key sorted the values, so the two orders shared one entry
 * while the origin gave them different answers: one caller's answer was served to the other. No
 * route takes a repeated parameter (lists are comma-separated: `status=Active,Pending`), so a
 * repeat is refused with a 400 rather than keyed in order: keying in order would still leave
 * "which one counts" to each parser on the way, and split the cache for nothing. The edge refuses
 * before its cache (edge/middleware/edge-cache), the origin again on every route
 * (origin/http/query-params.ts): defence in depth, from this one rule.
 */

/**
 * The first name given more than once in the query (after percent-decoding, so `price%5Fmax`
 * repeats `price_max`), or undefined when every name appears once.
 *
 * @example
 *   repeatedQueryParameter(new URLSearchParams('a=1&b=2&a=3')) // 'a'
 */
export function repeatedQueryParameter(params: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/** The problem detail for a repeated parameter, the same words from both ends. */
export function repeatedQueryParameterDetail(name: string): string {
  const shown = name.length <= 60 ? name : `${name.slice(0, 60)}…`;
  return `query parameter '${shown}' is given more than once: give it once (lists are comma-separated)`;
}
