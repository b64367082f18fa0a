import type { Context, MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { repeatedQueryParameter, repeatedQueryParameterDetail } from '../../../contract/query';
import { settingsOf } from '../../lib/settings';
import { type TraceVariables, traceOf } from '../../lib/trace';
import type { Principal } from '../auth/principal';
import type { OriginRequest } from '../origin-assertion';
import { originTarget } from '../origin-proxy';
import { problemResponse } from '../problem';
import { type CacheRule, ruleFor } from './config';
import { dataVersion } from './data-version';
import { cacheKey } from './key';

export type EdgeCacheBindings = {
  /** JSON (a TOML array of tables): per-route TTLs, see ./config.ts. */
  CACHE_RULES: unknown;
  /** Seconds an isolate trusts the data version it knows (default 15). */
  DATA_VERSION_TTL?: string;
  ORIGIN_URL: string;
};

type EdgeCacheEnv = {
  Bindings: EdgeCacheBindings;
  Variables: RequestIdVariables & TraceVariables & { principal: Principal };
};

export type EdgeCacheOptions<E extends EdgeCacheEnv> = {
  /**
   * A fresh answer from the origin, for background refreshes (the proxy, detached), fetched with
   * `request.method`: always GET, whatever the client's method. A refresh a HEAD started must
   * not bring back (and store) the origin's empty HEAD answer.
   */
  revalidate: (c: Context<E>, request: { method: 'GET' }) => Promise<Response>;
  /**
   * Headers the origin needs from the edge (assertion, Access) to read the data version, for
   * `request` (the assertion is bound to it).
   */
  originHeaders: (c: Context<E>, request: OriginRequest) => Promise<Record<string, string>>;
};

/** When the copy was stored (epoch ms) and what the origin said about caching it. */
const STORED_AT = 'x-edge-stored-at';
const ORIGIN_CACHE_CONTROL = 'x-edge-origin-cache-control';
/** Keys being refreshed by this isolate: stale-while-revalidate sends one refresh, not one per hit. */
const refreshing = new Set<string>();

/**
 * Answers GETs that are the same for every caller from the Cache API: fresh copies as `HIT`,
 * copies within `swr` as `STALE` while one background refresh runs, and copies within `sie` as
 * `STALE` with a `Warning` when the origin fails. The key is the normalised URL plus the data
 * version (./key.ts, ./data-version.ts), so an ETL run that changes data retires every older
 * answer without a purge. Runs after authentication and rate limiting: a hit is authorised and
 * counted like any request. HEADs are answered from the GET's entry and never stored; a query
 * that repeats a parameter is refused (400) before any key is made.
 *
 * Not Hono's `cache` middleware: it skips every request with an Authorization header (all of
 * ours, once a client signs in), has no notion of staleness or of a version in the key, and
 * stores what the origin says rather than per-route TTLs from config.
 *
 * @example
 *   app.use(
 *     edgeCache({
 *       revalidate: (c, { method }) => forward(c, { detached: true, method }),
 *       originHeaders,
 *     }),
 *   );
 */
export function edgeCache<E extends EdgeCacheEnv>(
  options: EdgeCacheOptions<E>,
): MiddlewareHandler<E> {
  return async function edgeCache(c, next) {
    const trace = traceOf(c);
    const method = c.req.method;
    const url = new URL(c.req.url);
    const rule =
      method === 'GET' || method === 'HEAD'
        ? ruleFor(settingsOf(c.env).CACHE_RULES, url.pathname)
        : undefined;
    // Before the key is made: sorted, `a=1&a=2` and `a=2&a=1` would share one while the origin
    // reads the first value (contract/query.ts). Uncached requests meet the same rule at the origin.
    const repeated = rule ? repeatedQueryParameter(url.searchParams) : undefined;
    if (repeated !== undefined) {
      trace.cache = 'BYPASS';
      return problemResponse(c, { status: 400, detail: repeatedQueryParameterDetail(repeated) });
    }
    const version = rule
      ? await dataVersion({
          originUrl: c.env.ORIGIN_URL,
          headers: () =>
            options.originHeaders(c, {
              method: 'GET',
              url: originTarget(c.env.ORIGIN_URL, new URL('/health/data-version', url)),
            }),
          ttlSeconds: settingsOf(c.env).DATA_VERSION_TTL,
          waitUntil: (p) => c.executionCtx.waitUntil(p),
        })
      : undefined;
    if (!rule || version === undefined) {
      trace.cache = 'BYPASS';
      await next();
      c.res.headers.set('X-Cache', 'BYPASS');
      return;
    }

    const key = cacheKey(url, c.req.header('accept') ?? null, version);
    const cache = caches.default;
    const stored = await cache.match(key);
    const age = stored
      ? (Date.now() - Number(stored.headers.get(STORED_AT) ?? 0)) / 1000
      : Number.POSITIVE_INFINITY;
    if (stored && age < rule.ttl) return serve(c, stored, 'HIT', age);
    if (stored && age < rule.ttl + rule.swr) {
      if (!refreshing.has(key)) {
        refreshing.add(key);
        c.executionCtx.waitUntil(
          options
            .revalidate(c, { method: 'GET' })
            .then((fresh) =>
              storable(fresh) ? put(cache, key, fresh, rule) : fresh.body?.cancel(),
            )
            .catch(() => undefined)
            .finally(() => refreshing.delete(key)),
        );
      }
      return serve(c, stored, 'STALE', age);
    }

    await next();
    if (stored && c.res.status >= 500 && age < rule.ttl + rule.sie) {
      // stale-if-error (RFC 5861): the last good answer beats an error page.
      await c.res.body?.cancel();
      const stale = serve(c, stored, 'STALE', age, '111 - "Revalidation Failed"');
      c.res = undefined; // so Hono does not copy the error's headers (no-store...) onto it
      c.res = stale;
      return;
    }
    if (stored) await stored.body?.cancel();
    trace.cache = 'MISS';
    // Only a GET's answer is ever stored: the origin answers HEAD with a GET's headers and no
    // body, which stored under the GET's key blanked it for every later GET (issue 13, finding 1).
    // A HEAD that misses is forwarded as the HEAD it is, not turned into a GET to fill the entry:
    // the origin does the same work either way (Hono runs the GET handler for a HEAD), and a GET
    // would pull a whole body through the tunnel for a client that asked for none (monitors and
    // link checkers, rarely followed by the same GET). HEADs are answered from an entry a GET made.
    if (method === 'GET' && storable(c.res))
      c.executionCtx.waitUntil(put(cache, key, c.res.clone(), rule));
    c.res.headers.set('X-Cache', 'MISS');
  };

  function serve(
    c: Context<E>,
    stored: Response,
    result: 'HIT' | 'STALE',
    age: number,
    warning?: string,
  ): Response {
    traceOf(c).cache = result;
    const headers = new Headers(stored.headers);
    headers.delete(STORED_AT);
    headers.delete(ORIGIN_CACHE_CONTROL);
    const cacheControl = stored.headers.get(ORIGIN_CACHE_CONTROL);
    if (cacheControl)
      headers.set('Cache-Control', clientCacheControl(cacheControl, c.get('principal')));
    else headers.delete('Cache-Control');
    headers.set('Age', String(Math.floor(age)));
    headers.set('X-Cache', result);
    if (result === 'STALE') headers.set('Warning', warning ?? '110 - "Response is Stale"');
    const etag = stored.headers.get('etag');
    if (etag && etagMatches(c.req.header('if-none-match'), etag)) {
      stored.body?.cancel();
      return c.newResponse(null, { status: 304, headers });
    }
    // A HEAD gets the GET's headers (its Content-Length included) and no body (RFC 9110 §9.3.2).
    if (c.req.method === 'HEAD') stored.body?.cancel();
    return c.newResponse(c.req.method === 'HEAD' ? null : stored.body, {
      status: stored.status as ContentfulStatusCode,
      headers,
    });
  }
}

/** Only plain successes that say nothing against shared caching, and nothing personal. */
function storable(res: Response): boolean {
  if (res.status !== 200 || res.headers.has('set-cookie')) return false;
  if (/\b(private|no-store|no-cache)\b/i.test(res.headers.get('cache-control') ?? '')) return false;
  const vary = res.headers.get('vary');
  // The key covers what Accept negotiates (./key.ts) and the Cache API handles Accept-Encoding.
  return (
    !vary ||
    vary.split(',').every((v) => ['accept', 'accept-encoding'].includes(v.trim().toLowerCase()))
  );
}

async function put(cache: Cache, key: string, res: Response, rule: CacheRule): Promise<void> {
  const headers = new Headers(res.headers);
  const cacheControl = headers.get('cache-control');
  if (cacheControl) headers.set(ORIGIN_CACHE_CONTROL, cacheControl);
  // The Cache API's own expiry: long enough for every stale use the rule allows.
  headers.set('Cache-Control', `public, max-age=${rule.ttl + Math.max(rule.swr, rule.sie)}`);
  headers.set(STORED_AT, String(Date.now()));
  // Per-request headers must not be replayed to the next caller: CORS ones included, which the
  // cors middleware set for this caller's Origin (the next caller may have another, or none).
  for (const name of [...headers.keys()])
    if (name.startsWith('access-control-')) headers.delete(name);
  for (const name of ['x-request-id', 'server-timing', 'date', 'age', 'warning', 'x-cache'])
    headers.delete(name);
  await cache.put(key, new Response(res.body, { status: res.status, headers }));
}

/**
 * A copy may go back with the origin's Cache-Control, but `public` becomes `private` for a
 * signed-in caller: a shared cache between them and us must not hand it to someone the edge
 * would have refused.
 */
function clientCacheControl(value: string, principal: Principal | undefined): string {
  return principal && principal.type !== 'anonymous'
    ? value.replace(/\bpublic\b/i, 'private')
    : value;
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const weak = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || weak(t) === weak(etag));
}
