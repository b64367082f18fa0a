import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../origin/app.js';
import { identityConfigFrom } from '../origin/auth/config.js';
import { createUser } from '../origin/auth/users.js';
import { declaredSourcesFile } from '../origin/bootstrap.js';
import { readDataVersion } from '../origin/db/data-version.js';
import { runSource } from '../origin/etl/run.js';
import type { SourceInput } from '../origin/etl/source-config.js';
import { upsertSource } from '../origin/etl/sources.js';
import { createLogger } from '../origin/logger.js';
import { viewerConfigFromEnv, viewerCsp } from '../origin/viewer/config.js';
import { type RedisRestProcess, startRedisRestProcess } from '../scripts/lib/redis-rest-process.js';
import { type RedisServer, startRedisServer } from '../scripts/lib/redis-server.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import {
  buildEdgeWorker,
  type EdgeBundle,
  type EdgeWorker,
  type EdgeWorkerOptions,
  startEdgeWorker,
  type WorkerLog,
} from './support/edge-worker.js';
import { feedSource, fixture, HEADER } from './support/etl.js';
import {
  type DelayingProxy,
  type OriginServer,
  startDelayingProxy,
  startOriginServer,
} from './support/origin-server.js';

/**
 * Issue 5 end to end: the real Worker bundle (workerd, via Miniflare) in front of the real origin
 * (createApp over PostGIS, data loaded by the real ETL, on a socket), counting quotas in a real
 * Redis behind the Upstash REST adapter. Then the parts fail one at a time: Redis stops, the
 * origin stops and comes back, the origin is slow. Windows, TTLs and cooldowns are short so the
 * file runs in well under a minute; every wait polls against a deadline.
 *
 * Several Workers share one bundle, each with the vars its scenario needs: `main` (the gateway as
 * configured, fail-open), `closed` (RATE_LIMIT_FAIL_MODE=closed), `ceiling` (a global ceiling of
 * 20) and `slow` (behind a delaying proxy, 300 ms deadline on /v1/stats). The describe blocks
 * run in order and share the origin, its database and Redis.
 */

const identity = identityConfigFrom({});
const edgeAssertionSecret = randomBytes(48).toString('base64url');
const restToken = randomBytes(24).toString('base64url');
const admin = { email: 'admin@gateway.example', password: 'a long enough passphrase' };

/** King County's sample rows (the shipped source) and a two-listing feed far south of them. */
const SAMPLE_ROWS = 200;
const KING_COUNTY_BBOX = '-122.6,47.0,-121.0,47.9';
const FEED_BBOX = '-122.95,46.05,-122.85,46.15';
const feedCsv = (price: number) =>
  `${HEADER}\nGW-1,A,${price},3,1 Gateway Rd,2024-03-01,46.10,-122.90\nGW-2,P,410000,2,2 Gateway Rd,2024-03-02,46.11,-122.91\n`;

const DATA_VERSION_TTL_S = 1;
const ANONYMOUS_QUOTA = 5;
const KEY_QUOTA = 3;
const GLOBAL_CEILING = 20;
const BREAKER = { failures: 3, cooldown_ms: 1_000 };
const SLOW_ROUTE_TIMEOUT_MS = 300;
const ORIGIN_DELAY_MS = 2_000;

// Hour windows: a sliding window weighs the previous fixed window, so a burst that straddles a
// window boundary could admit one request more than the limit; in an hour that cannot happen
// within a test run, and "exactly N pass" stays exact.
const rateLimits = (prefix: string, global?: { limit: number; window: '1 h' }) => ({
  prefix: `e2e:${prefix}:${randomBytes(4).toString('hex')}`,
  // Generous: a loaded machine must not turn a slow answer into a fail-open one.
  timeout_ms: 3_000,
  default_plan: 'anonymous',
  burst: { limit: 100, period: 10 as const },
  ...(global ? { global } : {}),
  plans: {
    anonymous: [{ limit: ANONYMOUS_QUOTA, window: '1 h' as const }],
    standard: [{ limit: KEY_QUOTA, window: '1 h' as const }],
    pro: [{ limit: 1_000, window: '1 h' as const }],
    admin: [{ limit: 1_000, window: '1 h' as const }],
  },
});

let t: TestDatabase;
let origin: OriginServer;
let slowOrigin: DelayingProxy;
let redis: RedisServer;
let rest: RedisRestProcess;
let bundle: EdgeBundle;
const workers: Record<'main' | 'closed' | 'ceiling' | 'slow', EdgeWorker | undefined> = {
  main: undefined,
  closed: undefined,
  ceiling: undefined,
  slow: undefined,
};
const logs: Record<keyof typeof workers, WorkerLog[]> = {
  main: [],
  closed: [],
  ceiling: [],
  slow: [],
};
let adminToken: string;

function worker(name: keyof typeof workers): EdgeWorker {
  const w = workers[name];
  if (!w) throw new Error(`the ${name} Worker did not start`);
  return w;
}

beforeAll(async () => {
  // The slow parts side by side: the Worker build, the database and its ETL loads, Redis and its
  // REST adapter (a tsx child). Settled, not raced: afterAll must find whatever did start.
  const settled = await Promise.allSettled([
    buildEdgeWorker().then((b) => {
      bundle = b;
    }),
    createTestDatabase().then(async (db) => {
      t = db;
      await loadListings(db);
    }),
    startRedisServer().then(async (r) => {
      redis = r;
      rest = await startRedisRestProcess({ redisUrl: r.url, token: restToken });
    }),
  ]);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;

  origin = await startOriginServer(
    createApp({
      db: t.db,
      logger: createLogger('silent'),
      identity,
      edgeAssertionSecret,
    }),
  );
  slowOrigin = await startDelayingProxy({ target: origin.url, delayMs: ORIGIN_DELAY_MS });
  await createUser(t.db, { ...admin, role: 'admin', audit: { actor: 'test' } });

  const base = (name: keyof typeof workers): EdgeWorkerOptions => ({
    bundle,
    originUrl: origin.url,
    edgeAssertionSecret,
    issuer: identity.issuer,
    audience: identity.audience,
    onLog: (entry) => logs[name].push(entry),
  });
  const quotaStore = { UPSTASH_REDIS_REST_URL: rest.url, UPSTASH_REDIS_REST_TOKEN: restToken };
  const started = await Promise.allSettled([
    startEdgeWorker({
      ...base('main'),
      vars: {
        ...quotaStore,
        RATE_LIMIT_FAIL_MODE: 'open',
        RATE_LIMITS: rateLimits('main'),
        DATA_VERSION_TTL: DATA_VERSION_TTL_S,
        CACHE_RULES: [
          { prefix: '/v1/listings', ttl: 60, sie: 3_600 },
          // Fresh for one second only, so the origin-down test soon has a copy past its TTL.
          { prefix: '/v1/stats', ttl: 1, sie: 3_600 },
        ],
        ORIGIN_POLICY: { timeout_ms: 5_000, retries: 1, retry_backoff_ms: 20, breaker: BREAKER },
      },
    }).then((w) => {
      workers.main = w;
    }),
    startEdgeWorker({
      ...base('closed'),
      vars: { ...quotaStore, RATE_LIMIT_FAIL_MODE: 'closed', RATE_LIMITS: rateLimits('closed') },
    }).then((w) => {
      workers.closed = w;
    }),
    startEdgeWorker({
      ...base('ceiling'),
      vars: {
        ...quotaStore,
        RATE_LIMITS: {
          ...rateLimits('ceiling', { limit: GLOBAL_CEILING, window: '1 h' }),
          // Per address, far above what the load test sends: only the ceiling can refuse.
          plans: { anonymous: [{ limit: 1_000, window: '1 h' }] },
        },
      },
    }).then((w) => {
      workers.ceiling = w;
    }),
    startEdgeWorker({
      ...base('slow'),
      originUrl: slowOrigin.url,
      vars: {
        // Nothing cached: no data-version fetch, the one request the proxy sees is the test's.
        CACHE_RULES: [],
        ORIGIN_POLICY: {
          timeout_ms: 10_000,
          routes: [{ prefix: '/v1/stats', timeout_ms: SLOW_ROUTE_TIMEOUT_MS }],
        },
      },
    }).then((w) => {
      workers.slow = w;
    }),
  ]);
  for (const s of started) if (s.status === 'rejected') throw s.reason;

  const signIn = await send('main', 'POST', '/v1/auth/token', { body: admin });
  if (signIn.status !== 200) printLogs();
  expect(signIn.status).toBe(200);
  adminToken = signIn.json.access_token as string;
});

afterAll(async () => {
  await Promise.allSettled(Object.values(workers).map((w) => w?.stop()));
  await Promise.allSettled([slowOrigin?.stop(), origin?.stop(), rest?.stop()]);
  await Promise.allSettled([redis?.stop(), bundle?.dispose()]);
  await t?.drop();
});

// A failing scenario is easier to read with what the Workers logged during it.
const logMarks = { main: 0, closed: 0, ceiling: 0, slow: 0 };
function printLogs() {
  for (const name of Object.keys(logs) as (keyof typeof workers)[])
    for (const line of logs[name].slice(logMarks[name]).slice(-40))
      console.log(`[${name} worker] ${line.level}: ${line.message}`);
}
afterEach(({ task }) => {
  if (task.result?.state === 'fail') printLogs();
  for (const name of Object.keys(logs) as (keyof typeof workers)[])
    logMarks[name] = logs[name].length;
});

/** The shipped King County source over its first rows, and the small feed, both by the real ETL. */
async function loadListings(db: TestDatabase): Promise<void> {
  const shipped = (JSON.parse(readFileSync(declaredSourcesFile, 'utf8')) as SourceInput[]).find(
    (s) => s.name === 'king-county',
  ) as SourceInput & { location: string };
  const lines = readFileSync(shipped.location, 'utf8').split('\n');
  await upsertSource(db.db, {
    ...shipped,
    location: fixture(`${lines.slice(0, SAMPLE_ROWS + 1).join('\n')}\n`),
  });
  await upsertSource(db.db, feedSource('gateway-feed', fixture(feedCsv(500_000))));
  for (const source of ['king-county', 'gateway-feed'])
    expect((await runSource(db.db, source)).status).toBe('succeeded');
}

type Answer = {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
  ms: number;
};

let addresses = 0;
/**
 * A client address of its own for every request unless one is given (IPv6 documentation range):
 * the anonymous quota is per address, and only the rate-limit tests mean to use one up.
 */
const freshIp = () => `2001:db8::${(++addresses).toString(16)}`;

/** A request through one of the Workers, as a client behind Cloudflare would send it. */
async function send(
  name: keyof typeof workers,
  method: string,
  path: string,
  options: { ip?: string; token?: string; apiKey?: string; body?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'CF-Connecting-IP': options.ip ?? freshIp() };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['X-API-Key'] = options.apiKey;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const started = performance.now();
  const res = await worker(name).fetch(path, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let json: Record<string, unknown> = {};
  if (/json/.test(res.headers.get('content-type') ?? '') && text)
    json = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, text, json, ms };
}

const get = (
  name: keyof typeof workers,
  path: string,
  options: { ip?: string; token?: string; apiKey?: string } = {},
) => send(name, 'GET', path, options);

/** Polls `probe` until it returns something other than undefined; fails at the deadline. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The Worker's access log line for one request (middleware/access-log), once workerd wrote it. */
function accessLog(
  name: keyof typeof workers,
  requestId: string | null,
): Record<string, unknown> | undefined {
  for (const { message } of logs[name]) {
    if (!message.startsWith('{')) continue;
    const line = JSON.parse(message) as Record<string, unknown>;
    if (line.msg === 'request' && line.request_id === requestId) return line;
  }
  return undefined;
}

type Health = {
  isolate: {
    rate_limits: { failOpen: number; failClosed: number; limited: number; burst: number };
    origin_breakers: { state: string; opened_at: string | null }[];
  };
};
async function edgeHealth(name: keyof typeof workers): Promise<Health> {
  const res = await get(name, '/edge/health');
  expect(res.status).toBe(200);
  return res.json as Health;
}

describe('the edge cache in front of the real origin', () => {
  const listings = `/v1/listings?bbox=${KING_COUNTY_BBOX}&limit=5&sort=price`;

  it('answers a second identical request from the cache without calling the origin', async () => {
    const first = await get('main', listings);
    expect(first.status).toBe(200);
    expect(first.headers.get('X-Cache')).toBe('MISS');
    expect(first.json.items).toHaveLength(5);

    const second = await get('main', listings);
    expect(second.status).toBe(200);
    expect(second.headers.get('X-Cache')).toBe('HIT');
    expect(second.headers.get('Age')).toMatch(/^\d+$/);
    expect(second.text).toBe(first.text);
    expect(origin.count(listings)).toBe(1);
  });

  it('answers the same query with its parameters in another order from the cache', async () => {
    const reordered = `/v1/listings?sort=price&limit=5&bbox=${KING_COUNTY_BBOX}`;
    const res = await get('main', reordered);
    expect(res.status).toBe(200);
    expect(res.headers.get('X-Cache')).toBe('HIT');
    expect(origin.count(reordered)).toBe(0);
    expect(origin.count(listings)).toBe(1);
  });

  it('never caches a personal route: GET /v1/api-keys with a token is a BYPASS both times', async () => {
    const before = origin.count('/v1/api-keys');
    for (const _ of [1, 2]) {
      const res = await get('main', '/v1/api-keys', { token: adminToken });
      expect(res.status).toBe(200);
      expect(res.headers.get('X-Cache')).toBe('BYPASS');
    }
    expect(origin.count('/v1/api-keys')).toBe(before + 2);
  });

  it('serves the new data as a MISS within 3 × DATA_VERSION_TTL (1 s) after an ETL run changes it', async () => {
    const feed = `/v1/listings?bbox=${FEED_BBOX}&sort=price`;
    const priceOf = (a: Answer) =>
      (a.json.items as { source_key: string; list_price: number }[]).find(
        (i) => i.source_key === 'GW-1',
      )?.list_price;
    const cached = await get('main', feed);
    expect(priceOf(cached)).toBe(500_000);
    expect((await get('main', feed)).headers.get('X-Cache')).toBe('HIT');

    const versionBefore = (await readDataVersion(t.db)).version;
    await upsertSource(t.db, feedSource('gateway-feed', fixture(feedCsv(650_000))));
    const run = await runSource(t.db, 'gateway-feed');
    expect(run).toMatchObject({ status: 'succeeded', rowsUpdated: 1 });
    expect((await readDataVersion(t.db)).version).toBeGreaterThan(versionBefore);
    const changedAt = performance.now();

    // Until the Worker learns the new version, the old copy is still the fresh one for its key.
    const fresh = await until(
      'a MISS with the new price',
      async () => {
        const res = await get('main', feed);
        expect(res.status).toBe(200);
        if (res.headers.get('X-Cache') === 'HIT') {
          expect(priceOf(res)).toBe(500_000);
          return undefined;
        }
        return res;
      },
      10_000,
    );
    const tookMs = performance.now() - changedAt;
    expect(fresh.headers.get('X-Cache')).toBe('MISS');
    expect(priceOf(fresh)).toBe(650_000);
    // The isolate refreshes a version older than the TTL in the background (one request still
    // gets the old one) and waits for it past 3 × TTL: the latter is the bound.
    expect(tookMs).toBeLessThan(3 * DATA_VERSION_TTL_S * 1000);
    console.log(`new data served ${Math.round(tookMs)} ms after the ETL run`);
    const again = await get('main', feed);
    expect(again.headers.get('X-Cache')).toBe('HIT');
    expect(priceOf(again)).toBe(650_000);
  });
});

describe('the map viewer through the edge', () => {
  it("keeps the origin's Content-Security-Policy on the viewer's page", async () => {
    const page = await get('main', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toContain('text/html');
    expect(page.headers.get('Content-Security-Policy')).toBe(viewerCsp(viewerConfigFromEnv()));
    expect(page.headers.get('Content-Security-Policy')).not.toContain("default-src 'none'");
    expect(page.text).toContain('<html');
  });
});

describe('rate limits counted in the real Redis', () => {
  const path = `/v1/listings?bbox=${KING_COUNTY_BBOX}&limit=1`;

  it('refuses the request after the quota with 429, Retry-After, RateLimit headers and a problem naming the limit', async () => {
    const ip = freshIp();
    for (let n = 1; n <= ANONYMOUS_QUOTA; n++) {
      const passed = await get('main', path, { ip });
      expect(passed.status).toBe(200);
      expect(passed.headers.get('RateLimit-Limit')).toBe(String(ANONYMOUS_QUOTA));
      expect(passed.headers.get('RateLimit-Remaining')).toBe(String(ANONYMOUS_QUOTA - n));
    }
    const refused = await get('main', path, { ip });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3_600);
    expect(refused.headers.get('RateLimit-Limit')).toBe(String(ANONYMOUS_QUOTA));
    expect(refused.headers.get('RateLimit-Remaining')).toBe('0');
    expect(refused.headers.get('RateLimit-Reset')).toBe(String(retryAfter));
    expect(refused.headers.get('RateLimit-Policy')).toBe(`${ANONYMOUS_QUOTA};w=3600`);
    expect(refused.headers.get('Content-Type')).toContain('application/problem+json');
    expect(refused.json).toMatchObject({
      type: 'urn:estate-edge:problem:rate-limited',
      status: 429,
      detail: expect.stringContaining(
        `anonymous plan (${ANONYMOUS_QUOTA} requests per 1 h per address)`,
      ),
    });
    // Another address has its own quota.
    expect((await get('main', path)).status).toBe(200);
  });

  it('counts two API keys of one owner against the owner too: one used up uses up the other', async () => {
    const keys: string[] = [];
    for (const name of ['gateway key a', 'gateway key b']) {
      const created = await send('main', 'POST', '/v1/api-keys', {
        token: adminToken,
        body: { name, scopes: ['listings:read'], plan: 'standard' },
      });
      expect(created.status).toBe(201);
      keys.push(created.json.key as string);
    }
    const [a, b] = keys as [string, string];
    // One address for both: what is counted is the key, not where it comes from.
    const ip = freshIp();
    for (let n = 1; n <= KEY_QUOTA; n++)
      expect((await get('main', path, { ip, apiKey: a })).status).toBe(200);
    const refused = await get('main', path, { ip, apiKey: a });
    expect(refused.status).toBe(429);
    expect(refused.json.detail).toContain(`standard plan (${KEY_QUOTA} requests per 1 h)`);

    // Both belong to the admin who made them: ten keys are not ten quotas (issue 13, finding 5).
    const other = await get('main', path, { ip, apiKey: b });
    expect(other.status).toBe(429);
    expect(other.json.detail).toContain('shared by every API key of its owner');
    // Another principal of the plan is counted apart: the admin's own token is not standard.
    expect((await get('main', path, { ip, token: adminToken })).status).toBe(200);
  });

  it(`holds the global ceiling under concurrent load: exactly ${GLOBAL_CEILING} of 60 requests from different addresses pass`, async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => get('ceiling', `/v1/stats?bbox=${KING_COUNTY_BBOX}`)),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(GLOBAL_CEILING);
    expect(statuses.filter((s) => s === 429)).toHaveLength(60 - GLOBAL_CEILING);
    const refused = answers.find((a) => a.status === 429);
    expect(refused?.json.detail).toContain(`service-wide ceiling of ${GLOBAL_CEILING} requests`);
  });
});

describe('when Redis stops', () => {
  const path = `/v1/listings?bbox=${KING_COUNTY_BBOX}&limit=2`;

  beforeAll(async () => {
    // While Redis is up, the fail-closed Worker serves: its 503 below is Redis's absence.
    expect((await get('closed', path)).status).toBe(200);
    await redis.stop();
  });

  it('still serves requests with RATE_LIMIT_FAIL_MODE=open and logs that quotas are off', async () => {
    const failOpenBefore = (await edgeHealth('main')).isolate.rate_limits.failOpen;
    const ip = freshIp();
    for (let n = 1; n <= ANONYMOUS_QUOTA + 2; n++) {
      const res = await get('main', path, { ip });
      expect(res.status).toBe(200);
      // Nothing was counted, so nothing is announced.
      expect(res.headers.has('RateLimit-Limit')).toBe(false);
    }
    const warning = await until(
      'the "quotas are off" warning',
      () =>
        logs.main
          .filter((l) => l.level === 'warn')
          .map((l) => JSON.parse(l.message) as { msg?: string; reason?: string })
          .find((l) => l.msg?.startsWith('quotas are off')),
      5_000,
    );
    expect(warning.reason).toEqual(expect.any(String));
    expect((await edgeHealth('main')).isolate.rate_limits.failOpen).toBeGreaterThanOrEqual(
      failOpenBefore + ANONYMOUS_QUOTA + 2,
    );
  });

  it('answers 503 with Retry-After when the fail mode is closed', async () => {
    const res = await get('closed', path);
    expect(res.status).toBe(503);
    expect(res.headers.get('Retry-After')).toMatch(/^\d+$/);
    expect(res.headers.get('Content-Type')).toContain('application/problem+json');
    expect(res.json.detail).toContain('quotas cannot be checked');
  });

  it('counts again once Redis is back: the request after the quota is 429 again', async () => {
    await redis.start();
    // The adapter reconnects within a second; until then requests pass uncounted.
    await until(
      'quotas to be counted again',
      async () => ((await get('main', path)).headers.has('RateLimit-Limit') ? true : undefined),
      10_000,
    );
    const ip = freshIp();
    for (let n = 1; n <= ANONYMOUS_QUOTA; n++)
      expect((await get('main', path, { ip })).status).toBe(200);
    expect((await get('main', path, { ip })).status).toBe(429);
    expect((await get('closed', path)).status).toBe(200);
  });
});

describe('when the origin stops and comes back', () => {
  const stats = `/v1/stats?bbox=${KING_COUNTY_BBOX}&group=type`;
  let cachedBody: string;

  beforeAll(async () => {
    const primed = await get('main', stats);
    expect(primed.status).toBe(200);
    expect(primed.headers.get('X-Cache')).toBe('MISS');
    cachedBody = primed.text;
    await origin.stop();
  });

  it('answers uncached routes 502 or 503 with Retry-After, and opens the breaker after a few failures', async () => {
    const seen: number[] = [];
    const open = await until(
      'the breaker to open',
      async () => {
        const res = await get('main', '/');
        expect([502, 503]).toContain(res.status);
        expect(res.headers.get('Retry-After')).toMatch(/^\d+$/);
        expect(res.headers.get('Content-Type')).toContain('application/problem+json');
        seen.push(res.status);
        return res.status === 503 ? res : undefined;
      },
      5_000,
    );
    expect(open.json.type).toBe('urn:estate-edge:problem:origin-unavailable');
    expect(Number(open.headers.get('Retry-After'))).toBeLessThanOrEqual(
      Math.ceil(BREAKER.cooldown_ms / 1000),
    );
    // Each failed attempt counts (a request is tried twice: retries 1).
    expect(seen.filter((s) => s === 502).length).toBeLessThanOrEqual(BREAKER.failures);
    const breakers = (await edgeHealth('main')).isolate.origin_breakers;
    expect(breakers).toContainEqual({ state: 'open', opened_at: expect.any(String) });
    // The request that opened it had tried once; the next one does not try the origin at all.
    const next = await get('main', '/');
    expect(next.status).toBe(503);
    const line = await until(
      'its access log line',
      () => accessLog('main', next.headers.get('X-Request-Id')),
      5_000,
    );
    expect(line).toMatchObject({ status: 503, origin_attempts: 0, breaker: 'open' });
  });

  it('serves a cached route stale, with a Warning and the old body, while the origin is down', async () => {
    // Fresh for 1 s after it was stored (a HIT); past that the origin is asked, fails, and the
    // copy is served within its stale-if-error window.
    const stale = await until(
      'a STALE answer',
      async () => {
        const res = await get('main', stats);
        expect(res.status).toBe(200);
        return res.headers.get('X-Cache') === 'STALE' ? res : undefined;
      },
      5_000,
    );
    expect(stale.headers.get('Warning')).toMatch(/^11[01] /);
    expect(stale.text).toBe(cachedBody);
  });

  it('recovers within the breaker cooldown plus 2 s once the origin is back on the same port', async () => {
    expect([502, 503]).toContain((await get('main', '/')).status);
    await origin.start();
    const restarted = performance.now();
    await until(
      'the Worker to reach the origin again',
      async () => ((await get('main', '/')).status === 200 ? true : undefined),
      BREAKER.cooldown_ms + 5_000,
    );
    const tookMs = performance.now() - restarted;
    console.log(`the Worker reached the restarted origin after ${Math.round(tookMs)} ms`);
    expect(tookMs).toBeLessThan(BREAKER.cooldown_ms + 2_000);
    const breakers = (await edgeHealth('main')).isolate.origin_breakers;
    expect(breakers.map((b) => b.state)).toEqual(['closed']);
    const fresh = await get('main', stats);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('X-Cache')).not.toBe('STALE');
  });
});

describe('when the origin is slow', () => {
  it('answers 504 problem+json at the route deadline and aborts the upstream request', async () => {
    const path = `/v1/stats?bbox=${KING_COUNTY_BBOX}`;
    const res = await get('slow', path);
    expect(res.status).toBe(504);
    expect(res.headers.get('Content-Type')).toContain('application/problem+json');
    expect(res.json).toMatchObject({
      type: 'urn:estate-edge:problem:origin-timeout',
      detail: expect.stringContaining(`${SLOW_ROUTE_TIMEOUT_MS} ms`),
    });
    expect(res.ms).toBeGreaterThanOrEqual(SLOW_ROUTE_TIMEOUT_MS);
    expect(res.ms).toBeLessThan(SLOW_ROUTE_TIMEOUT_MS + 1_000);

    // The edge hung up on the proxy before the proxy would have answered: the fetch was aborted,
    // not left running to its end. Timeouts are not retried: one exchange.
    const exchange = await until(
      'the proxy to see the edge hang up',
      () => {
        const [only] = slowOrigin.exchanges;
        return only && only.outcome !== 'pending' ? only : undefined;
      },
      ORIGIN_DELAY_MS,
    );
    expect(slowOrigin.exchanges).toHaveLength(1);
    expect(exchange.path).toBe(path);
    expect(exchange.outcome).toBe('client-closed');
    expect(exchange.afterMs).toBeLessThan(ORIGIN_DELAY_MS);
  });
});
