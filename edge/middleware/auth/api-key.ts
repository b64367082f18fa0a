import {
  CREDENTIALS_EPOCH_MAX_AGE_MS,
  credentialsEpoch,
  knownCredentialsEpoch,
  observeCredentialsEpoch,
  onCredentialsEpochAdvance,
} from '../edge-cache/data-version';
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
 * A remembered answer. `epoch`: the credentials epoch the origin answered under (null when it
 * sent none); `storedAt`: when the lookup was sent; `until`: when it must be asked again anyway.
 */
type Entry = { answer: CachedAnswer; epoch: number | null; storedAt: number; until: number };

/**
 * The Cache API needs a URL. The host is not ours on purpose: these entries can never be
 * served for a real request. The path is SHA-256 of the key: the key itself is never stored.
 * `v2`: entries carry their epoch; the older ones (without) are simply never found.
 */
const CACHE_ORIGIN = 'https://api-key-cache.estate-edge.invalid/v2/';

/**
 * How long this isolate remembers a refused key. Long enough that a key repeated in a loop costs
 * one origin lookup per isolate per period; short enough that a key refused because its owner was
 * disabled works again soon after they are re-enabled (the epoch moving clears it sooner).
 */
const REFUSED_MEMORY_MS = 30_000;
/** Answers this isolate holds in memory at most: random keys cannot grow it without end. */
const MEMORY_LIMIT = 5_000;
/** How long a request waits for another request's lookup of the same key before asking itself. */
const WAIT_FOR_OTHER_LOOKUP_MS = 5_000;

/**
 * Per isolate: answers (valid ones also in the Cache API, shared by the location's isolates;
 * refused ones only here, so random keys cannot fill the shared cache), and the keys being
 * looked up right now. Keyed by the SHA-256 of the key.
 */
const memory = new Map<string, Entry>();
const inFlight = new Set<string>();
const watchedOrigins = new Set<string>();

function remember(hash: string, entry: Entry): void {
  memory.delete(hash);
  if (memory.size >= MEMORY_LIMIT) {
    // Maps iterate in insertion order: the first is the oldest.
    const oldest = memory.keys().next().value;
    if (oldest !== undefined) memory.delete(oldest);
  }
  memory.set(hash, entry);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export type ApiKeyLookupOptions = {
  ttlSeconds: number;
  requestId: string;
  clientIp: string | null;
  /** For the credentials epoch's background refresh (../edge-cache/data-version.ts). */
  waitUntil?: ((p: Promise<unknown>) => void) | undefined;
};

/**
 * Who an API key speaks for: remembered when seen before, else from the origin's
 * `POST /v1/auth/introspect-key`, asked with an assertion whose principal is the edge itself
 * (scope `keys:introspect`). The scopes and plan are the origin's effective ones (the key's, cut
 * to what its owner holds now).
 *
 * What is remembered, and for how long:
 * - A refused key: in this isolate only, for 30 s, so the same bad key sent in a loop (or by 50
 *   requests at once: they wait for the one lookup in flight) costs the origin one lookup.
 * - A valid key: in this isolate and the location's Cache API for up to `ttlSeconds`, never past
 *   the key's expiry, and **never past a change of the credentials epoch**: an answer older than
 *   CREDENTIALS_EPOCH_MAX_AGE_MS (4 s) is used only while the epoch this isolate saw within the
 *   last 4 s is not past the one the answer was made under. So a revocation, a demotion or a
 *   disabled owner reaches every isolate within 4 s however long `ttlSeconds` is
 *   (docs/edge-auth.md). When the epoch cannot be read, cached answers live 4 s at most.
 *
 * @example
 *   const found = await lookupApiKey(c.env, key, { ttlSeconds: 60, requestId, clientIp, waitUntil });
 */
export async function lookupApiKey(
  env: ApiKeyLookupEnv,
  key: string,
  options: ApiKeyLookupOptions,
): Promise<ApiKeyLookup> {
  if (key.length > 200 || !API_KEY_SHAPE.test(key))
    return { status: 'invalid', reason: 'the API key is malformed' };

  watchEpoch(env.ORIGIN_URL);
  const hash = await sha256Hex(key);
  const remembered = await usable(env, memory.get(hash), options);
  if (remembered) return remembered;

  if (inFlight.has(hash)) {
    // Another request is asking about this very key: wait for its answer rather than ask again.
    // Polled, not awaited: a promise from one request must not be awaited by another in workerd
    // (../edge-cache/data-version.ts says why).
    const deadline = Date.now() + WAIT_FOR_OTHER_LOOKUP_MS;
    while (inFlight.has(hash) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const settled = await usable(env, memory.get(hash), options);
    if (settled) return settled;
  }

  // Claimed with no await since the check above, so requests arriving together find it taken.
  inFlight.add(hash);
  try {
    const cache = await caches.open('api-keys');
    const cacheKey = new Request(`${CACHE_ORIGIN}${hash}`);
    const hit = await cache.match(cacheKey);
    if (hit) {
      const entry = (await hit.json().catch(() => null)) as Entry | null;
      const found = await usable(env, entry ?? undefined, options);
      if (found && entry) {
        remember(hash, entry);
        return found;
      }
      await cache.delete(cacheKey);
    }

    const sentAt = Date.now();
    const answer = await introspect(env, key, options);
    if (answer.status === 'unavailable') return answer;
    if (answer.epoch !== null) observeCredentialsEpoch(env.ORIGIN_URL, answer.epoch, sentAt);
    const { epoch, ...found } = answer;
    if (found.status === 'invalid') {
      remember(hash, { answer: found, epoch, storedAt: sentAt, until: sentAt + REFUSED_MEMORY_MS });
      return found;
    }
    // Never past the key's own expiry, so the cache cannot extend a key's life.
    const untilExpiry =
      found.expiresAt !== null
        ? Math.floor((found.expiresAt - Date.now()) / 1000)
        : options.ttlSeconds;
    const maxAge = Math.min(options.ttlSeconds, untilExpiry);
    if (maxAge > 0) {
      const entry: Entry = {
        answer: found,
        epoch,
        storedAt: sentAt,
        until: sentAt + maxAge * 1000,
      };
      remember(hash, entry);
      await cache.put(
        cacheKey,
        new Response(JSON.stringify(entry), {
          headers: { 'Content-Type': 'application/json', 'Cache-Control': `max-age=${maxAge}` },
        }),
      );
    }
    return stillValid(found);
  } finally {
    inFlight.delete(hash);
  }
}

/** The first lookup for an origin asks to be told when its epoch moves, to forget at once. */
function watchEpoch(originUrl: string): void {
  if (watchedOrigins.has(originUrl)) return;
  watchedOrigins.add(originUrl);
  onCredentialsEpochAdvance(originUrl, () => memory.clear());
}

/** The entry's answer if it may still be used now, else undefined (ask the origin). */
async function usable(
  env: ApiKeyLookupEnv,
  entry: Entry | undefined,
  options: ApiKeyLookupOptions,
): Promise<CachedAnswer | undefined> {
  if (!entry || typeof entry.storedAt !== 'number' || typeof entry.until !== 'number')
    return undefined;
  const now = Date.now();
  if (now >= entry.until) return undefined;
  // Refused keys need no epoch: being wrong about them costs a caller 30 s, not a breach.
  if (entry.answer.status === 'invalid') return entry.answer;
  // Already seen past it (another lookup's answer, a refresh): gone, whatever its age.
  const seen = knownCredentialsEpoch(env.ORIGIN_URL);
  if (entry.epoch !== null && seen !== undefined && seen > entry.epoch) return undefined;
  if (now - entry.storedAt < CREDENTIALS_EPOCH_MAX_AGE_MS) return stillValid(entry.answer);
  if (entry.epoch === null) return undefined;
  const epoch = await credentialsEpoch({
    originUrl: env.ORIGIN_URL,
    headers: () => epochHeaders(env, options),
    waitUntil: options.waitUntil,
  });
  if (epoch === undefined || epoch > entry.epoch) return undefined;
  return stillValid(entry.answer);
}

/** The edge asking for itself, bound to the data-version request (an open path at the origin). */
function epochHeaders(
  env: ApiKeyLookupEnv,
  options: ApiKeyLookupOptions,
): Promise<Record<string, string>> {
  const url = originTarget(env.ORIGIN_URL, new URL('/health/data-version', 'https://edge.invalid'));
  return originCredentials(
    env,
    {
      principal: edgePrincipal('keys:introspect'),
      requestId: options.requestId,
      clientIp: options.clientIp,
    },
    { method: 'GET', url },
  );
}

function stillValid(answer: CachedAnswer): CachedAnswer {
  if (answer.status === 'valid' && answer.expiresAt !== null && answer.expiresAt <= Date.now())
    return { status: 'invalid', reason: 'the API key has expired' };
  return answer;
}

/** How long the edge waits for the origin's answer before giving up with 503. */
const INTROSPECTION_TIMEOUT_MS = 5_000;

/** The origin's answer, with the credentials epoch it was made under (null: it sent none). */
type Introspected = (CachedAnswer & { epoch: number | null }) | { status: 'unavailable' };

async function introspect(
  env: ApiKeyLookupEnv,
  key: string,
  options: { requestId: string; clientIp: string | null },
): Promise<Introspected> {
  const target = originTarget(
    env.ORIGIN_URL,
    new URL('/v1/auth/introspect-key', 'https://edge.invalid'),
  );
  const payload = JSON.stringify({ key });
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        // The client's request id, so the lookup shows up beside the request in the origin's logs.
        'X-Request-Id': options.requestId,
        ...(await originCredentials(
          env,
          {
            principal: edgePrincipal('keys:introspect'),
            requestId: options.requestId,
            clientIp: options.clientIp,
          },
          { method: 'POST', url: target, body: payload },
        )),
      },
      body: payload,
      signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS),
    });
  } catch (err) {
    logLookupFailure(options.requestId, err instanceof Error ? err.message : String(err));
    return { status: 'unavailable' };
  }
  if (res.status === 401 || res.status === 404) {
    await res.body?.cancel();
    return {
      status: 'invalid',
      reason: 'the API key is unknown, revoked or expired',
      epoch: null,
    };
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
    credentials_epoch?: unknown;
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
  const epoch = body.credentials_epoch;
  return {
    status: 'valid',
    epoch: typeof epoch === 'number' && Number.isSafeInteger(epoch) ? epoch : null,
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
