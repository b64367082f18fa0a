import { type OriginCredentialsEnv, originCredentials } from '../origin-assertion';
import { originTarget } from '../origin-proxy';
import { edgePrincipal, type Principal } from './principal';

/**
 * `ee_<env>_<8-character lookup prefix>_<43-character secret>` (origin/auth/api-keys.ts).
 * Anything else is refused here without asking the origin.
 */
const API_KEY_SHAPE = /^ee_[a-z]{1,10}_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/;

export function looksLikeApiKey(value: string): boolean {
  return value.startsWith('ee_');
}

export type ApiKeyLookupEnv = OriginCredentialsEnv & { ORIGIN_URL: string };

export type ApiKeyLookup =
  | { status: 'valid'; principal: Principal; expiresAt: number | null }
  | { status: 'invalid'; reason: string }
  /** The origin could not answer: not the caller's fault, not cached. */
  | { status: 'unavailable' };

type CachedAnswer = Exclude<ApiKeyLookup, { status: 'unavailable' }>;

/**
 * The Cache API needs a URL. The host is not ours on purpose: these entries can never be
 * served for a real request. The path is SHA-256 of the key: the key itself is never stored.
 */
const CACHE_ORIGIN = 'https://api-key-cache.estate-edge.invalid/v1/';

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Who an API key speaks for: from the Cache API when seen within `ttlSeconds`, else from the
 * origin's `POST /v1/auth/introspect-key`, asked with an assertion whose principal is the edge
 * itself (scope `keys:introspect`). Both answers are cached, so a flood of bad keys costs the
 * origin one lookup per distinct key per TTL. The TTL is the revocation bound: a revoked key
 * keeps working at most that long in each Cloudflare location that cached it.
 *
 * @example
 *   const found = await lookupApiKey(c.env, key, { ttlSeconds: 60, requestId });
 */
export async function lookupApiKey(
  env: ApiKeyLookupEnv,
  key: string,
  options: { ttlSeconds: number; requestId: string; clientIp: string | null },
): Promise<ApiKeyLookup> {
  if (key.length > 200 || !API_KEY_SHAPE.test(key))
    return { status: 'invalid', reason: 'the API key is malformed' };

  const cache = await caches.open('api-keys');
  const cacheKey = new Request(`${CACHE_ORIGIN}${await sha256Hex(key)}`);
  const hit = await cache.match(cacheKey);
  if (hit) return stillValid((await hit.json()) as CachedAnswer);

  const answer = await introspect(env, key, options);
  if (answer.status === 'unavailable') return answer;
  // Never past the key's own expiry, so the cache cannot extend a key's life.
  const untilExpiry =
    answer.status === 'valid' && answer.expiresAt !== null
      ? Math.floor((answer.expiresAt - Date.now()) / 1000)
      : options.ttlSeconds;
  const maxAge = Math.min(options.ttlSeconds, untilExpiry);
  if (maxAge > 0)
    await cache.put(
      cacheKey,
      new Response(JSON.stringify(answer), {
        headers: { 'Content-Type': 'application/json', 'Cache-Control': `max-age=${maxAge}` },
      }),
    );
  return stillValid(answer);
}

function stillValid(answer: CachedAnswer): CachedAnswer {
  if (answer.status === 'valid' && answer.expiresAt !== null && answer.expiresAt <= Date.now())
    return { status: 'invalid', reason: 'the API key has expired' };
  return answer;
}

/** How long the edge waits for the origin's answer before giving up with 503. */
const INTROSPECTION_TIMEOUT_MS = 5_000;

async function introspect(
  env: ApiKeyLookupEnv,
  key: string,
  options: { requestId: string; clientIp: string | null },
): Promise<ApiKeyLookup> {
  const target = originTarget(
    env.ORIGIN_URL,
    new URL('/v1/auth/introspect-key', 'https://edge.invalid'),
  );
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        // The client's request id, so the lookup shows up beside the request in the origin's logs.
        'X-Request-Id': options.requestId,
        ...(await originCredentials(env, {
          principal: edgePrincipal('keys:introspect'),
          requestId: options.requestId,
          clientIp: options.clientIp,
        })),
      },
      body: JSON.stringify({ key }),
      signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS),
    });
  } catch (err) {
    logLookupFailure(options.requestId, err instanceof Error ? err.message : String(err));
    return { status: 'unavailable' };
  }
  if (res.status === 401 || res.status === 404) {
    await res.body?.cancel();
    return { status: 'invalid', reason: 'the API key is unknown, revoked or expired' };
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    logLookupFailure(options.requestId, `origin answered ${res.status}`);
    return { status: 'unavailable' };
  }
  const body = (await res.json().catch(() => null)) as {
    principal?: unknown;
    owner?: unknown;
    scope?: unknown;
    plan?: unknown;
    expires_at?: unknown;
  } | null;
  if (
    !body ||
    typeof body.principal !== 'string' ||
    typeof body.scope !== 'string' ||
    typeof body.plan !== 'string'
  ) {
    logLookupFailure(options.requestId, 'origin answered an unexpected body');
    return { status: 'unavailable' };
  }
  const expiresAt = typeof body.expires_at === 'string' ? Date.parse(body.expires_at) : null;
  return {
    status: 'valid',
    expiresAt: Number.isNaN(expiresAt) ? null : expiresAt,
    principal: {
      id: body.principal,
      type: 'api_key',
      scopes: body.scope.split(' ').filter(Boolean),
      plan: body.plan,
      ...(typeof body.owner === 'string' ? { owner: body.owner } : {}),
    },
  };
}

function logLookupFailure(requestId: string, error: string): void {
  console.error(
    JSON.stringify({ level: 'error', msg: 'api key lookup failed', request_id: requestId, error }),
  );
}
