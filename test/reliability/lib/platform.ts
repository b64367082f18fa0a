import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { identityConfigFrom } from '../../../origin/auth/config.js';
import { createUser } from '../../../origin/auth/users.js';
import { type Database, openDatabase } from '../../../origin/db/database.js';
import {
  type RedisRestProcess,
  startRedisRestProcess,
} from '../../../scripts/lib/redis-rest-process.js';
import { type RedisServer, startRedisServer } from '../../../scripts/lib/redis-server.js';
import {
  buildEdgeWorker,
  type EdgeBundle,
  type EdgeWorker,
  type GatewayVars,
  startEdgeWorker,
  type WorkerLog,
} from '../../support/edge-worker.js';
import { freePort } from './children.js';
import { onCleanup } from './cleanup.js';
import { buildTemplate, cloneTemplate } from './database.js';
import { type OriginProcess, startOriginProcess } from './origin-process.js';
import { type PostgresCluster, startPostgresCluster } from './postgres-cluster.js';
import { startToggleProxy, type ToggleProxy } from './toggle-proxy.js';

/** The gateway settings the suite runs with; reported with the results. */
export type GatewaySettings = {
  /** ORIGIN_POLICY as the Workers run it. */
  originPolicy: OriginPolicyInput;
  /** The longest deadline of the routes the load asks (what a slow origin must exceed). */
  originTimeoutMs: number;
  breaker: { failures: number; cooldown_ms: number };
  /** The over-quota key's plan: this many requests per 10 s. */
  quotaKeyLimit: number;
  rateLimitTimeoutMs: number;
};

export type WorkerLogTally = {
  lines: number;
  warnings: number;
  errors: number;
  /** Distinct warning/error messages and how often each was logged. */
  messages: Record<string, number>;
  /**
   * The origin's failures as the Worker saw them, and its breaker's state changes, stamped when
   * the line arrived: which failures opened a breaker (see verdicts.ts slownessWindows).
   */
  events: WorkerEvent[];
  /** Access log lines of requests that took over 5 s (the first 20): where the time went. */
  slowRequests: Record<string, unknown>[];
};

export type WorkerEvent = {
  at: number;
  /** `lookup-timeout`: the origin did not answer an API-key lookup in time (the edge's 503). */
  event: 'timeout' | 'unreachable' | 'open' | 'half-open' | 'closed' | 'lookup-timeout';
};

export type Platform = {
  cluster: PostgresCluster;
  /** The database the origin serves (a clone of the template). */
  databaseName: string;
  databaseUrl: string;
  /** The runner's own small pool to it: checksums, run records. */
  db: Database;
  redis: RedisServer;
  rest: RedisRestProcess;
  origin: OriginProcess;
  proxy: ToggleProxy;
  bundle: EdgeBundle;
  workers: { main: EdgeWorker; closed: EdgeWorker };
  workerLogs: { main: WorkerLogTally; closed: WorkerLogTally };
  adminToken: string;
  quotaKey: string;
  listingIds: number[];
  viewerPaths: string[];
  settings: GatewaySettings;
};

export type PlatformOptions = {
  /** Requests per second the load will send: the over-quota key's limit is derived from it. */
  rate: number;
  /**
   * One deadline for every route instead of wrangler.toml's (10 s, tiles 5 s): --quick shortens
   * it so the slow-origin fault fits a short run.
   */
  originTimeoutMs?: number;
  log: (line: string) => void;
};

const admin = {
  email: 'reliability@estate-edge.example',
  password: 'a long reliability passphrase',
};

/**
 * Everything the parts run against, on loopback only, each piece registered for cleanup as soon
 * as it exists:
 *
 *   load ──▶ Worker `main` (fail-open) ──┐
 *        └─▶ Worker `closed` (fail-closed) ─┴─▶ toggle proxy ──▶ origin process ──▶ private PostgreSQL
 *              │ quotas                                                        (PostGIS, King County)
 *              └──────▶ REST adapter process ──▶ private redis-server
 *
 * The slow parts start side by side: the Worker build, the cluster and its data, Redis.
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { log } = options;
  const edgeAssertionSecret = randomBytes(48).toString('base64url');
  const restToken = randomBytes(24).toString('base64url');
  const identity = identityConfigFrom({});

  let cluster: PostgresCluster | undefined;
  let bundle: EdgeBundle | undefined;
  let redis: RedisServer | undefined;
  let rest: RedisRestProcess | undefined;
  const databaseName = 'reliability_main';
  const started = Date.now();
  const settled = await Promise.allSettled([
    buildEdgeWorker().then((b) => {
      bundle = b;
      onCleanup('the Worker bundle', () => b.dispose());
      log(`  Worker bundle built (wrangler deploy --dry-run) in ${seconds(started)}`);
    }),
    startPostgresCluster().then(async (c) => {
      cluster = c;
      onCleanup('the private PostgreSQL cluster', () => c.destroy());
      log(`  private PostgreSQL on 127.0.0.1:${c.port} in ${seconds(started)}`);
      await buildTemplate(c);
      await cloneTemplate(c, databaseName);
      log(`  database migrated, King County sample loaded, in ${seconds(started)}`);
    }),
    startRedisServer().then(async (r) => {
      redis = r;
      onCleanup('redis-server', () => r.stop());
      rest = await startRedisRestProcess({ redisUrl: r.url, token: restToken });
      onCleanup('the Redis REST adapter', () => rest?.stop());
      log(`  private Redis on ${r.url} behind the REST adapter in ${seconds(started)}`);
    }),
  ]);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  if (!cluster || !bundle || !redis || !rest) throw new Error('the platform did not start');
  const settings = gatewaySettings(bundle, options);

  const databaseUrl = cluster.urlOf(databaseName);
  const db = await openDatabase({ url: databaseUrl, dataDir: '', poolMax: 3 });
  onCleanup('the runner database pool', () => db.close());
  await createUser(db, { ...admin, role: 'admin', audit: { actor: 'reliability suite' } });

  const origin = await startOriginProcess({
    port: await freePort(),
    env: {
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      EDGE_ASSERTION_SECRET: edgeAssertionSecret,
      CURSOR_SECRET: randomBytes(32).toString('base64url'),
      SEED_ON_START: 'false',
      LOG_LEVEL: 'warn',
      ACCESS_TOKEN_TTL_MINUTES: '60',
      // Not the shared backup status file of a developer's machine.
      BACKUP_STATUS_FILE: '',
    },
  });
  onCleanup('the origin process', () => origin.stop());
  log(`  origin process (pid ${origin.pid()}) on ${origin.url}`);
  const proxy = await startToggleProxy(origin.url);
  onCleanup('the toggle proxy', () => proxy.stop());

  const workerLogs = { main: emptyTally(), closed: emptyTally() };
  const quotaStore = { UPSTASH_REDIS_REST_URL: rest.url, UPSTASH_REDIS_REST_TOKEN: restToken };
  const vars = (name: 'main' | 'closed'): GatewayVars => ({
    ...quotaStore,
    RATE_LIMIT_FAIL_MODE: name === 'main' ? 'open' : 'closed',
    RATE_LIMITS: {
      prefix: `reliability:${name}:${randomBytes(4).toString('hex')}`,
      timeout_ms: settings.rateLimitTimeoutMs,
      default_plan: 'anonymous',
      // wrangler.toml's burst guard, unchanged: the load comes from a thousand addresses.
      burst: { limit: 100, period: 10 },
      global: { limit: 100_000, window: '1 s' },
      plans: {
        // High enough never to refuse the steady load: only the over-quota key is meant to.
        anonymous: [{ limit: 1_000_000, window: '1 m' }],
        standard: [{ limit: settings.quotaKeyLimit, window: '10 s' }],
        pro: [{ limit: 1_000_000, window: '1 m' }],
        admin: [{ limit: 1_000_000, window: '1 m' }],
      },
    },
    ORIGIN_POLICY: settings.originPolicy,
  });
  const workers: Partial<Record<'main' | 'closed', EdgeWorker>> = {};
  for (const name of ['main', 'closed'] as const) {
    const worker = await startEdgeWorker({
      bundle,
      originUrl: proxy.url,
      edgeAssertionSecret,
      issuer: identity.issuer,
      audience: identity.audience,
      // wrangler.toml's value: a key lookup is cached a minute, as deployed.
      apiKeyCacheTtl: 60,
      vars: vars(name),
      onLog: (entry) => tallyWorkerLog(workerLogs[name], entry),
    });
    workers[name] = worker;
    onCleanup(`the ${name} Worker`, () => worker.stop());
  }
  const main = workers.main as EdgeWorker;
  log(
    `  Workers main (fail-open) on ${main.url} and closed (fail-closed) on ${workers.closed?.url}`,
  );

  const signIn = await main.fetch('/v1/auth/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': '2001:db8:ffff::1' },
    body: JSON.stringify(admin),
  });
  if (signIn.status !== 200)
    throw new Error(
      `signing in through the Worker answered ${signIn.status}: ${await signIn.text()}`,
    );
  const adminToken = ((await signIn.json()) as { access_token: string }).access_token;
  const created = await main.fetch('/v1/api-keys', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${adminToken}`,
      'CF-Connecting-IP': '2001:db8:ffff::1',
    },
    body: JSON.stringify({
      name: 'over quota on purpose',
      scopes: ['listings:read'],
      plan: 'standard',
    }),
  });
  if (created.status !== 201)
    throw new Error(`creating an API key answered ${created.status}: ${await created.text()}`);
  const quotaKey = ((await created.json()) as { key: string }).key;

  // Every tenth stored listing: ids that exist, most of them asked once (cache MISSes).
  const listingIds = (
    await db.rows<{ id: number }>(sql`SELECT id FROM listings WHERE id % 10 = 0 ORDER BY id`)
  ).map((r) => Number(r.id));
  const page = await main.fetch('/', { headers: { 'CF-Connecting-IP': '2001:db8:ffff::1' } });
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="(\/viewer\/[^"]+)"/g)].map((m) => m[1] as string);
  if (page.status !== 200 || assets.length === 0)
    throw new Error(`the viewer page answered ${page.status} with ${assets.length} assets`);
  const viewerPaths = [
    '/',
    ...new Set(assets),
    '/openapi.json',
    '/v1/tiles/listings.json',
    '/docs',
  ];

  return {
    cluster,
    databaseName,
    databaseUrl,
    db,
    redis,
    rest,
    origin,
    proxy,
    bundle,
    workers: workers as Platform['workers'],
    workerLogs,
    adminToken,
    quotaKey,
    listingIds,
    viewerPaths,
    settings,
  };
}

type OriginPolicyInput = NonNullable<GatewayVars['ORIGIN_POLICY']>;

/**
 * wrangler.toml's ORIGIN_POLICY (deadlines per route, retries) with a 2 s breaker cooldown, so
 * recoveries take seconds, not the deployed 10 s; with `originTimeoutMs`, one deadline for all.
 */
function gatewaySettings(bundle: EdgeBundle, options: PlatformOptions): GatewaySettings {
  const deployed = (bundle.config.vars.ORIGIN_POLICY ?? {}) as OriginPolicyInput;
  const breaker = { failures: deployed.breaker?.failures ?? 5, cooldown_ms: 2_000 };
  const originPolicy: OriginPolicyInput =
    options.originTimeoutMs === undefined
      ? { ...deployed, breaker }
      : { ...deployed, timeout_ms: options.originTimeoutMs, routes: [], breaker };
  // The load asks /v1/listings, /v1/stats, /v1/tiles, /v1/api-keys and the viewer.
  const asked = ['/v1/listings', '/v1/stats', '/v1/tiles', '/v1/api-keys', '/viewer', '/'];
  const deadlineOf = (path: string) =>
    originPolicy.routes?.find((r) => path.startsWith(r.prefix))?.timeout_ms ??
    originPolicy.timeout_ms ??
    10_000;
  return {
    originPolicy,
    originTimeoutMs: Math.max(...asked.map(deadlineOf)),
    breaker,
    // The over-quota key gets about 5 % of the traffic (mix.ts): about half of it over the limit.
    quotaKeyLimit: Math.max(3, Math.round(options.rate * 0.05 * 10 * 0.5)),
    rateLimitTimeoutMs: 1_000,
  };
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

function emptyTally(): WorkerLogTally {
  return { lines: 0, warnings: 0, errors: 0, messages: {}, events: [], slowRequests: [] };
}

/** Counts the Worker's log lines; keeps each warning's or error's message (never a request). */
function tallyWorkerLog(tally: WorkerLogTally, { level, message }: WorkerLog): void {
  tally.lines += 1;
  // The breaker closing is logged at info level, among the access log lines.
  if (message.includes('"origin circuit breaker"') && message.includes('"closed"'))
    tally.events.push({ at: Date.now(), event: 'closed' });
  if (tally.slowRequests.length < 20 && message.includes('"msg":"request"')) {
    const line = JSON.parse(message) as { duration_ms?: number };
    if ((line.duration_ms ?? 0) > 5_000) tally.slowRequests.push(line);
  }
  if (level !== 'warn' && level !== 'error') return;
  if (level === 'warn') tally.warnings += 1;
  else tally.errors += 1;
  let text = message;
  try {
    const parsed = JSON.parse(message) as { msg?: string; state?: string; error?: string };
    if (parsed.msg) text = parsed.msg;
    const event =
      parsed.msg === 'origin timed out'
        ? 'timeout'
        : parsed.msg === 'origin unreachable'
          ? 'unreachable'
          : parsed.msg === 'origin circuit breaker'
            ? parsed.state
            : parsed.msg === 'api key lookup failed' && /timeout|abort/i.test(parsed.error ?? '')
              ? 'lookup-timeout'
              : undefined;
    if (
      event === 'timeout' ||
      event === 'unreachable' ||
      event === 'open' ||
      event === 'half-open' ||
      event === 'lookup-timeout'
    )
      tally.events.push({ at: Date.now(), event });
  } catch {
    // A plain console line: kept as it is.
  }
  const key = `${level}: ${text.slice(0, 160)}`;
  if (key in tally.messages || Object.keys(tally.messages).length < 50)
    tally.messages[key] = (tally.messages[key] ?? 0) + 1;
}
