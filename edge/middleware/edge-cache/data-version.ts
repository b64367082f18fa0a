import { CACHE_KEY_ORIGIN } from './key';

/**
 * The origin's data version (GET /health/data-version, bumped in the transaction of every ETL run
 * or area load that changes data). It is part of every cache key, so a change makes every older
 * answer unreachable: no purge API needed.
 *
 * How fresh: each isolate remembers the version for `ttlSeconds`, then refreshes it in the
 * background (the request goes on with the one it has); only past DATA_VERSION_MAX_STALE_MS
 * (10 min, or 3 × ttlSeconds if longer) does a request wait for the refresh. Isolates of one
 * location share what they fetched through the Cache API: fresh for ttlSeconds, and a new
 * isolate's starting point within the same bound. Under traffic (a request per ttlSeconds), an
 * ETL run's change is in the keys within 2 × ttlSeconds plus a round trip (30 s by default).
 * When the origin cannot be asked, the last known version stays in use, so stale-if-error still
 * finds the answers stored under it.
 *
 * The same answer carries the **credentials epoch** (origin/db/data-version.ts): it grows when an
 * API key is revoked or its owner demoted or disabled. It has its own, much shorter bound
 * (CREDENTIALS_EPOCH_MAX_AGE_MS, below), read by the API-key lookup (../auth/api-key.ts), and
 * every fetch made for either one refreshes both.
 */
type Known = { version: string; fetchedAt: number };
/** `observedAt`: when the request that read it was sent, so its age is never understated. */
type Epoch = { value: number; observedAt: number };

type OriginState = {
  known?: Known;
  refreshing?: boolean;
  epoch?: Epoch;
  /** When an epoch refresh last failed: requests do not each wait 2 s on a dead origin. */
  epochFailedAt?: number;
  /** Called when the epoch moves forward: the API-key lookup drops what it remembers. */
  onEpochAdvance?: () => void;
};
// Per origin URL: one in production, one per scenario in tests.
const origins = new Map<string, OriginState>();
const SHARED_KEY = `${CACHE_KEY_ORIGIN}/__data-version`;

/**
 * How old a credentials epoch may be and still be trusted: the bound on how long a revoked key, or
 * a demoted or disabled owner's, keeps working at the edge (docs/edge-auth.md promises 5 s; the
 * second left over covers the request in flight and the clocks). Refreshed in the background
 * from half of it on, so a steady stream of requests rarely waits for it.
 */
export const CREDENTIALS_EPOCH_MAX_AGE_MS = 4_000;
/** A failed epoch refresh is not retried by a waiting request for this long. */
const EPOCH_RETRY_MS = 1_000;

export type DataVersionSource = {
  originUrl: string;
  headers: () => Promise<Record<string, string>>;
  ttlSeconds: number;
  waitUntil: (p: Promise<unknown>) => void;
};

function stateOf(originUrl: string): OriginState {
  let state = origins.get(originUrl);
  if (!state) {
    state = {};
    origins.set(originUrl, state);
  }
  return state;
}

/**
 * How old a known version may be and still be served while the refresh runs in the background:
 * past it, the request waits for the origin. Stale-while-revalidate for the version itself, so
 * the first request after an idle minute (or an isolate's first, from the location's shared
 * copy) does not wait a round trip through the tunnel (issue 15). docs/edge-gateway.md, "The data
 * version", gives the bound this makes.
 */
export const DATA_VERSION_MAX_STALE_MS = 10 * 60_000;

export async function dataVersion(source: DataVersionSource): Promise<string | undefined> {
  const state = stateOf(source.originUrl);
  const ttlMs = source.ttlSeconds * 1000;
  const maxStaleMs = Math.max(3 * ttlMs, DATA_VERSION_MAX_STALE_MS);
  // A new isolate starts from what another isolate of this location stored, however old within
  // the bound: one Cache API lookup, no origin round trip.
  if (!state.known) await adoptShared(source.originUrl, state, maxStaleMs);
  const age = state.known ? Date.now() - state.known.fetchedAt : Number.POSITIVE_INFINITY;
  if (age < ttlMs) return state.known?.version;
  const current = state;
  // A promise made in one request must not be awaited by another: workerd warns ("a promise was
  // resolved or rejected from a different request context") and the waiting request can hang.
  // So requests share a flag, never the refresh itself: one background refresh at a time, and a
  // request that must wait (no version known, or one older than maxStaleMs) fetches for itself.
  if (age < maxStaleMs) {
    if (!current.refreshing) {
      current.refreshing = true;
      source.waitUntil(
        refresh(source, current, ttlMs, 'version').finally(() => {
          current.refreshing = false;
        }),
      );
    }
    return current.known?.version;
  }
  await refresh(source, current, ttlMs, 'version');
  return current.known?.version;
}

export type CredentialsEpochSource = Omit<DataVersionSource, 'ttlSeconds' | 'waitUntil'> & {
  /** For the background refresh; without it, a request waits once the epoch is too old. */
  waitUntil?: ((p: Promise<unknown>) => void) | undefined;
};

/**
 * The credentials epoch as seen at most CREDENTIALS_EPOCH_MAX_AGE_MS ago, or undefined when it
 * cannot be known that fresh (the origin does not answer, or sends none): then the caller must
 * trust nothing cached for longer than that bound.
 *
 * @example
 *   const epoch = await credentialsEpoch({ originUrl: env.ORIGIN_URL, headers, waitUntil });
 */
export async function credentialsEpoch(
  source: CredentialsEpochSource,
): Promise<number | undefined> {
  const state = stateOf(source.originUrl);
  const now = Date.now();
  const age = state.epoch ? now - state.epoch.observedAt : Number.POSITIVE_INFINITY;
  const freshFor = CREDENTIALS_EPOCH_MAX_AGE_MS / 2;
  if (age < freshFor) return state.epoch?.value;
  if (age < CREDENTIALS_EPOCH_MAX_AGE_MS && source.waitUntil) {
    if (!state.refreshing) {
      state.refreshing = true;
      source.waitUntil(
        refresh(source, state, freshFor, 'epoch').finally(() => {
          state.refreshing = false;
        }),
      );
    }
    return state.epoch?.value;
  }
  if (age >= CREDENTIALS_EPOCH_MAX_AGE_MS && now - (state.epochFailedAt ?? 0) < EPOCH_RETRY_MS)
    return undefined;
  await refresh(source, state, freshFor, 'epoch');
  const epoch = state.epoch;
  return epoch && Date.now() - epoch.observedAt < CREDENTIALS_EPOCH_MAX_AGE_MS
    ? epoch.value
    : undefined;
}

/** The highest epoch this isolate has seen for the origin, however old; undefined: none yet. */
export function knownCredentialsEpoch(originUrl: string): number | undefined {
  return origins.get(originUrl)?.epoch?.value;
}

/**
 * Record an epoch read elsewhere (an API-key lookup answer carries the one it was made under).
 * The epoch only grows, so a lower value than the one known is old news and ignored.
 */
export function observeCredentialsEpoch(
  originUrl: string,
  value: number,
  observedAt: number,
): void {
  observe(stateOf(originUrl), value, observedAt);
}

/** `onAdvance` is called whenever this isolate learns a higher epoch for the origin. */
export function onCredentialsEpochAdvance(originUrl: string, onAdvance: () => void): void {
  stateOf(originUrl).onEpochAdvance = onAdvance;
}

function observe(state: OriginState, value: number, observedAt: number): void {
  if (!Number.isSafeInteger(value)) return;
  const known = state.epoch;
  if (!known || value > known.value) {
    state.epoch = { value, observedAt };
    if (known) state.onEpochAdvance?.();
  } else if (value === known.value && observedAt > known.observedAt) {
    state.epoch = { value, observedAt };
  }
}

async function adoptShared(originUrl: string, state: OriginState, maxStaleMs: number) {
  const shared = await caches.default.match(sharedKeyOf(originUrl)).catch(() => undefined);
  if (!shared) return;
  const sharedAt = Number(shared.headers.get('x-fetched-at') ?? 0);
  const version = await shared.text();
  if (!state.known && Date.now() - sharedAt < maxStaleMs)
    state.known = { version, fetchedAt: sharedAt };
}

const sharedKeyOf = (originUrl: string) => `${SHARED_KEY}?origin=${encodeURIComponent(originUrl)}`;

async function refresh(
  source: Pick<DataVersionSource, 'originUrl' | 'headers'>,
  state: OriginState,
  /** How young the copy another isolate stored must be to be used instead of asking. */
  sharedFreshMs: number,
  purpose: 'version' | 'epoch',
): Promise<void> {
  const cache = caches.default;
  const sharedKey = sharedKeyOf(source.originUrl);
  const shared = await cache.match(sharedKey).catch(() => undefined);
  const sharedAt = Number(shared?.headers.get('x-fetched-at') ?? 0);
  const sharedEpoch = shared?.headers.get('x-credentials-epoch');
  const sharedUsable =
    shared && Date.now() - sharedAt < sharedFreshMs && (purpose === 'version' || sharedEpoch);
  if (shared && sharedUsable) {
    const version = await shared.text();
    // An epoch refresh may find a copy older than the version this isolate knows: keep the newer.
    if (!state.known || sharedAt >= state.known.fetchedAt)
      state.known = { version, fetchedAt: sharedAt };
    if (sharedEpoch) observe(state, Number(sharedEpoch), sharedAt);
    return;
  }
  const sentAt = Date.now();
  try {
    const res = await fetch(`${source.originUrl.replace(/\/+$/, '')}/health/data-version`, {
      headers: await source.headers(),
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) throw new Error(`status ${res.status}`);
    const body = (await res.json()) as { version?: unknown; credentials_epoch?: unknown };
    if (typeof body.version !== 'number' || !Number.isSafeInteger(body.version))
      throw new Error('no version in the answer');
    const known = { version: String(body.version), fetchedAt: Date.now() };
    state.known = known;
    const epoch =
      typeof body.credentials_epoch === 'number' && Number.isSafeInteger(body.credentials_epoch)
        ? body.credentials_epoch
        : undefined;
    if (epoch !== undefined) observe(state, epoch, sentAt);
    else if (purpose === 'epoch') state.epochFailedAt = Date.now();
    await shared?.body?.cancel();
    await cache.put(
      sharedKey,
      new Response(known.version, {
        headers: {
          'Cache-Control': 'max-age=86400',
          // The send time, as for this isolate: another isolate must not think it fresher.
          'X-Fetched-At': String(epoch === undefined ? known.fetchedAt : sentAt),
          ...(epoch === undefined ? {} : { 'X-Credentials-Epoch': String(epoch) }),
        },
      }),
    );
  } catch (error) {
    if (purpose === 'epoch') {
      // Nothing else changes: an old epoch is simply not trusted past its bound (fail closed),
      // and the data version keeps its own schedule.
      state.epochFailedAt = Date.now();
      await shared?.body?.cancel();
    } else {
      // Keep what we had (or what another isolate stored, however old): the version only moves
      // forward, and a stale one still finds stale-if-error answers while the origin is away.
      if (!state.known && shared) state.known = { version: await shared.text(), fetchedAt: 0 };
      // Retried in the background from the next request on, never again blocking one for the
      // 2 s timeout while the origin is away.
      if (state.known)
        state.known = { version: state.known.version, fetchedAt: Date.now() - sharedFreshMs };
    }
    console.warn(
      JSON.stringify({
        level: 'warn',
        msg: purpose === 'epoch' ? 'credentials epoch unavailable' : 'data version unavailable',
        error: error instanceof Error ? error.message : String(error),
        using: state.known?.version ?? null,
      }),
    );
  }
}
