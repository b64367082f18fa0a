import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../origin/app.js';
import { createApiKey } from '../../origin/auth/api-keys.js';
import { identityConfigFrom } from '../../origin/auth/config.js';
import { createUser } from '../../origin/auth/users.js';
import { createLogger } from '../../origin/logger.js';
import {
  type RedisRestProcess,
  startRedisRestProcess,
} from '../../scripts/lib/redis-rest-process.js';
import { type RedisServer, startRedisServer } from '../../scripts/lib/redis-server.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import {
  buildEdgeWorker,
  type EdgeBundle,
  type EdgeWorker,
  type EdgeWorkerOptions,
  startEdgeWorker,
} from '../support/edge-worker.js';
import { type OriginServer, startOriginServer } from '../support/origin-server.js';

/**
 * Issue 13, finding 10 (security settings fail open on a typo), finding 6 (bad credentials are
 * never rate-limited) and the per-owner quotas of finding 5, as an attacker or a tired operator
 * would meet them: the real Worker bundle in workerd in front of the real origin on PostGIS,
 * quotas in a real Redis behind the Upstash REST adapter. Before strict settings, the burst guard
 * ahead of authentication and owner quotas, every case here passed the attacker through:
 * `Closed` served fail-open, `False` served anonymous callers, 150 random keys cost 150 origin
 * lookups without a 429, and ten keys of one user were ten quotas.
 */

const projectRoot = new URL('../../', import.meta.url).pathname;
const identity = identityConfigFrom({});
const edgeAssertionSecret = randomBytes(32).toString('base64url');
const restToken = randomBytes(24).toString('base64url');
/** Small, and a minute long: 150 requests in a row cannot fit in two windows' worth (2 × 50). */
const BURST = { limit: 50, period: 60 } as const;
const OWNER_QUOTA = 5;
const KEYS_PER_OWNER = 10;

let t: TestDatabase;
let bundle: EdgeBundle;
let origin: OriginServer;
let redis: RedisServer;
let rest: RedisRestProcess;
const workers: Record<'main' | 'failModeTypo' | 'anonymousTypo', EdgeWorker | undefined> = {
  main: undefined,
  failModeTypo: undefined,
  anonymousTypo: undefined,
};
/** Ten keys of one user, and one key of another. */
let ownerKeys: string[] = [];
let otherOwnerKey: string;

function worker(name: keyof typeof workers): EdgeWorker {
  const w = workers[name];
  if (!w) throw new Error(`the ${name} Worker did not start`);
  return w;
}

let addresses = 0;
const freshIp = () => `2001:db8:13::${(++addresses).toString(16)}`;

beforeAll(async () => {
  const settled = await Promise.allSettled([
    buildEdgeWorker().then((b) => {
      bundle = b;
    }),
    createTestDatabase().then((db) => {
      t = db;
    }),
    startRedisServer().then(async (r) => {
      redis = r;
      rest = await startRedisRestProcess({ redisUrl: r.url, token: restToken });
    }),
  ]);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;

  origin = await startOriginServer(
    createApp({ db: t.db, logger: createLogger('silent'), identity, edgeAssertionSecret }),
  );
  const audit = { actor: 'test' };
  const owner = await createUser(t.db, {
    email: 'owner@config.example',
    password: 'a long enough passphrase',
    role: 'user',
    plan: 'standard',
    audit,
  });
  const other = await createUser(t.db, {
    email: 'other@config.example',
    password: 'a long enough passphrase',
    role: 'user',
    plan: 'standard',
    audit,
  });
  const keyOf = async (userId: number, name: string) =>
    (
      await createApiKey(t.db, {
        creator: { userId, scopes: ['listings:read'], plan: 'standard' },
        name,
        scopes: ['listings:read'],
        plan: 'standard',
        audit,
      })
    ).key;
  ownerKeys = [];
  for (let n = 0; n < KEYS_PER_OWNER; n++) ownerKeys.push(await keyOf(owner.id, `key ${n}`));
  otherOwnerKey = await keyOf(other.id, 'the other owner');

  const base: EdgeWorkerOptions = {
    bundle,
    originUrl: origin.url,
    edgeAssertionSecret,
    issuer: identity.issuer,
    audience: identity.audience,
    burstLimit: BURST,
    vars: {
      UPSTASH_REDIS_REST_URL: rest.url,
      UPSTASH_REDIS_REST_TOKEN: restToken,
      // Nothing cached: every request is the origin's or the edge's own refusal.
      CACHE_RULES: [],
      RATE_LIMITS: {
        prefix: `attack:config:${randomBytes(4).toString('hex')}`,
        timeout_ms: 3_000,
        default_plan: 'anonymous',
        burst: BURST,
        plans: {
          anonymous: [{ limit: 1_000, window: '1 h' }],
          // An hour: no window boundary inside a test run, so "exactly N pass" stays exact.
          standard: [{ limit: OWNER_QUOTA, window: '1 h' }],
          pro: [{ limit: 1_000, window: '1 h' }],
          admin: [{ limit: 1_000, window: '1 h' }],
        },
      },
    },
  };
  const started = await Promise.allSettled([
    startEdgeWorker(base).then((w) => {
      workers.main = w;
    }),
    startEdgeWorker({ ...base, uncheckedVars: { RATE_LIMIT_FAIL_MODE: 'Closed' } }).then((w) => {
      workers.failModeTypo = w;
    }),
    startEdgeWorker({ ...base, uncheckedVars: { ANONYMOUS_ACCESS: 'False' } }).then((w) => {
      workers.anonymousTypo = w;
    }),
  ]);
  for (const s of started) if (s.status === 'rejected') throw s.reason;
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(Object.values(workers).map((w) => w?.stop()));
  await Promise.allSettled([origin?.stop(), rest?.stop()]);
  await Promise.allSettled([redis?.stop(), bundle?.dispose()]);
  await t?.drop();
});

type Answer = { status: number; type: string; json: Record<string, unknown>; text: string };

async function get(
  name: keyof typeof workers,
  path: string,
  options: { ip?: string; apiKey?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'CF-Connecting-IP': options.ip ?? freshIp() };
  if (options.apiKey) headers['X-API-Key'] = options.apiKey;
  const res = await worker(name).fetch(path, { headers });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const json = /json/.test(type) && text ? (JSON.parse(text) as Record<string, unknown>) : {};
  return { status: res.status, type, json, text };
}

const listings = '/v1/listings?limit=1';

describe('a security setting with a typo (finding 10)', () => {
  it.each([
    ['failModeTypo', 'RATE_LIMIT_FAIL_MODE', 'Closed'],
    ['anonymousTypo', 'ANONYMOUS_ACCESS', 'False'],
  ] as const)(
    '%s: %s=%s answers 503 problem+json naming the variable, never the permissive default',
    async (name, variable, value) => {
      const before = origin.requests.length;
      for (const path of [listings, '/v1/stats', '/status.json', '/no/such/path']) {
        const res = await get(name, path);
        expect(res.status, path).toBe(503);
        expect(res.type, path).toContain('application/problem+json');
        expect(res.json.status, path).toBe(503);
        expect(String(res.json.detail), path).toContain(variable);
        // What it must hold, not what it holds.
        expect(String(res.json.detail), path).not.toContain(value);
      }
      // Refused at the door: nothing reached the origin.
      expect(origin.requests.length).toBe(before);
    },
  );

  it.each([
    ['failModeTypo', 'RATE_LIMIT_FAIL_MODE'],
    ['anonymousTypo', 'ANONYMOUS_ACCESS'],
  ] as const)(
    '%s: /edge/health says the Worker is misconfigured and names %s',
    async (name, variable) => {
      const res = await get(name, '/edge/health');
      expect(res.json.status).not.toBe('ok');
      expect(res.status).toBe(503);
      expect(res.text).toContain(variable);
    },
  );

  it('serves as before when every setting is valid', async () => {
    const health = await get('main', '/edge/health');
    expect(health.status).toBe(200);
    expect(health.json.status).toBe('ok');
    expect((await get('main', listings)).status).toBe(200);
  });
});

describe('bad credentials from one address (finding 6)', () => {
  const randomKey = () =>
    `ee_live_${randomBytes(8).toString('hex').slice(0, 8)}_${randomBytes(32).toString('base64url').slice(0, 43)}`;

  it('meets the burst guard before the origin has looked up 150 random keys', async () => {
    const ip = freshIp();
    const lookupsBefore = origin.count('/v1/auth/introspect-key');
    const statuses: number[] = [];
    let refused: Answer | undefined;
    for (let n = 0; n < 150; n++) {
      const res = await get('main', listings, { ip, apiKey: randomKey() });
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    const lookups = origin.count('/v1/auth/introspect-key') - lookupsBefore;

    expect(refused, `statuses: ${[...new Set(statuses)].join(', ')}`).toBeDefined();
    expect(refused?.json).toMatchObject({
      type: 'urn:estate-edge:problem:rate-limited',
      detail: expect.stringContaining('burst guard'),
    });
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(2 * BURST.limit);
    expect(lookups).toBeLessThanOrEqual(2 * BURST.limit);
    expect(lookups).toBeLessThan(150);
    // Another address is not held back by this one's burst.
    expect((await get('main', listings)).status).toBe(200);
  });
});

describe("ten API keys of one owner (finding 5's quotas)", () => {
  it(`share one owner quota: ${OWNER_QUOTA} requests pass across the ten keys, then 429`, async () => {
    // Every key once, each from its own address: only the owner is common to them.
    const statuses: number[] = [];
    let refused: Answer | undefined;
    for (const key of ownerKeys) {
      const res = await get('main', listings, { apiKey: key });
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    expect(statuses).toEqual([
      ...Array<number>(OWNER_QUOTA).fill(200),
      ...Array<number>(KEYS_PER_OWNER - OWNER_QUOTA).fill(429),
    ]);
    expect(refused?.json).toMatchObject({
      type: 'urn:estate-edge:problem:rate-limited',
      detail: expect.stringContaining('owner'),
    });
    // Another user's key is counted against another owner.
    expect((await get('main', listings, { apiKey: otherOwnerKey })).status).toBe(200);
  });
});

describe('the build check (npm run build:edge)', () => {
  const checker = (config: string) =>
    promisify(execFile)(
      join(projectRoot, 'node_modules/.bin/tsx'),
      ['scripts/check-worker-config.ts', '--config', config],
      {
        cwd: projectRoot,
        timeout: 60_000,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      },
    );
  let dir: string;
  let toml: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'estate-edge-config-'));
    toml = await readFile(join(projectRoot, 'wrangler.toml'), 'utf8');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs as part of build:edge, before the dry-run deploy', async () => {
    const pkg = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const build = pkg.scripts['build:edge'] ?? '';
    expect(build).toContain('check-worker-config');
    expect(build.indexOf('check-worker-config')).toBeLessThan(build.indexOf('wrangler deploy'));
  });

  it('accepts wrangler.toml as it is', async () => {
    const copy = join(dir, 'valid.toml');
    await writeFile(copy, toml);
    await expect(checker(copy)).resolves.toBeDefined();
  });

  it.each([
    ['production', 'RATE_LIMIT_FAIL_MODE = "open"', 'RATE_LIMIT_FAIL_MODE = "Closed"'],
    ['staging', 'ANONYMOUS_ACCESS = "true"', 'ANONYMOUS_ACCESS = "False"'],
  ])(
    'rejects a typo in the %s vars, naming the environment and the variable',
    async (env, from, to) => {
      // The n-th occurrence: top level first, then staging, then production.
      const index = env === 'staging' ? 1 : 2;
      const parts = toml.split(from);
      expect(parts.length).toBe(4);
      const broken = parts
        .map((p, i) => (i === 0 ? p : `${i === index + 1 ? to : from}${p}`))
        .join('');
      const copy = join(dir, `${env}.toml`);
      await writeFile(copy, broken);

      const failure = await checker(copy).then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      );
      expect(failure, 'the checker accepted a typo').toBeDefined();
      expect(failure?.code).not.toBe(0);
      const variable = to.split(' ')[0] as string;
      expect(failure?.stderr).toContain(variable);
      expect(failure?.stderr).toContain(env);
    },
  );
});
