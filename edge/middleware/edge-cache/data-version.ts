import { CACHE_KEY_ORIGIN } from './key';

/**
 * The origin's data version (GET /health/data-version, bumped in the transaction of every ETL run
 * or area load that changes data). It is part of every cache key, so a change makes every older
 * answer unreachable: no purge API needed.
 *
 * How fresh: each isolate remembers the version for `ttlSeconds`, then refreshes it in the
 * background (the request goes on with the one it has); past 3 × ttlSeconds it waits for the
 * refresh. Isolates of one location share what they fetched through the Cache API for
 * ttlSeconds. With the default of 15 s, an ETL run's change is in the keys within 60 s.
 * When the origin cannot be asked, the last known version stays in use, so stale-if-error still
 * finds the answers stored under it.
 */
type Known = { version: string; fetchedAt: number };

type OriginState = { known?: Known; refreshing?: boolean };
// Per origin URL: one in production, one per scenario in tests.
const origins = new Map<string, OriginState>();
const SHARED_KEY = `${CACHE_KEY_ORIGIN}/__data-version`;

export type DataVersionSource = {
  originUrl: string;
  headers: () => Promise<Record<string, string>>;
  ttlSeconds: number;
  waitUntil: (p: Promise<unknown>) => void;
};

export async function dataVersion(source: DataVersionSource): Promise<string | undefined> {
  let state = origins.get(source.originUrl);
  if (!state) {
    state = {};
    origins.set(source.originUrl, state);
  }
  const ttlMs = source.ttlSeconds * 1000;
  const age = state.known ? Date.now() - state.known.fetchedAt : Number.POSITIVE_INFINITY;
  if (age < ttlMs) return state.known?.version;
  const current = state;
  // A promise made in one request must not be awaited by another: workerd warns ("a promise was
  // resolved or rejected from a different request context") and the waiting request can hang.
  // So requests share a flag, never the refresh itself: one background refresh at a time, and a
  // request that must wait (the version is over 3 TTLs old) fetches for itself.
  if (age < 3 * ttlMs) {
    if (!current.refreshing) {
      current.refreshing = true;
      source.waitUntil(
        refresh(source, current, ttlMs).finally(() => {
          current.refreshing = false;
        }),
      );
    }
    return current.known?.version;
  }
  await refresh(source, current, ttlMs);
  return current.known?.version;
}

async function refresh(
  source: DataVersionSource,
  state: OriginState,
  ttlMs: number,
): Promise<void> {
  const cache = caches.default;
  const sharedKey = `${SHARED_KEY}?origin=${encodeURIComponent(source.originUrl)}`;
  const shared = await cache.match(sharedKey).catch(() => undefined);
  const sharedAt = Number(shared?.headers.get('x-fetched-at') ?? 0);
  if (shared && Date.now() - sharedAt < ttlMs) {
    state.known = { version: await shared.text(), fetchedAt: sharedAt };
    return;
  }
  try {
    const res = await fetch(`${source.originUrl.replace(/\/+$/, '')}/health/data-version`, {
      headers: await source.headers(),
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) throw new Error(`status ${res.status}`);
    const body = (await res.json()) as { version?: unknown };
    if (typeof body.version !== 'number' || !Number.isSafeInteger(body.version))
      throw new Error('no version in the answer');
    const known = { version: String(body.version), fetchedAt: Date.now() };
    state.known = known;
    await shared?.body?.cancel();
    await cache.put(
      sharedKey,
      new Response(known.version, {
        headers: { 'Cache-Control': 'max-age=86400', 'X-Fetched-At': String(known.fetchedAt) },
      }),
    );
  } catch (error) {
    // Keep what we had (or what another isolate stored, however old): the version only moves
    // forward, and a stale one still finds stale-if-error answers while the origin is away.
    if (!state.known && shared) state.known = { version: await shared.text(), fetchedAt: 0 };
    // Retried in the background from the next request on, never again blocking one for the
    // 2 s timeout while the origin is away.
    if (state.known) state.known = { version: state.known.version, fetchedAt: Date.now() - ttlMs };
    console.warn(
      JSON.stringify({
        level: 'warn',
        msg: 'data version unavailable',
        error: error instanceof Error ? error.message : String(error),
        using: state.known?.version ?? null,
      }),
    );
  }
}
