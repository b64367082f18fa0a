import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getRequestListener } from '@hono/node-server';
import { Cron } from 'croner';
import { sql } from 'drizzle-orm';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { configVar } from '../edge/lib/config.js';
import { alertRoutesSchema, cronJobsSchema, monitoringSchema } from '../edge/scheduled/config.js';
import { createApp } from '../origin/app.js';
import { upsertSource } from '../origin/etl/sources.js';
import { createLogger } from '../origin/logger.js';
import { type RedisServer, startRedisServer } from '../scripts/lib/redis-server.js';
import { type RedisRest, startRedisRest } from '../scripts/redis-rest/server.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { feedSource, fixture, HEADER } from './support/etl.js';

/**
 * Issue 6 end to end: the Worker bundle as `wrangler deploy` builds it, in workerd (Miniflare),
 * its Cron Triggers fired through Miniflare's `getWorker().scheduled()` with the crons and
 * CRON_JOBS of wrangler.toml, against the real origin (createApp over PostGIS, on a socket that is
 * stopped and restarted on the same port), a real Redis behind the Upstash REST adapter, and a
 * recording server standing in for Slack and the generic webhook. The steps run in order.
 */

const projectRoot = new URL('../', import.meta.url).pathname;
const edgeAssertionSecret = randomBytes(48).toString('base64url');
const restToken = randomBytes(24).toString('base64url');
const FIVE_MINUTES = '*/5 * * * *';
const MINUTE = 60_000;

type Delivery = { path: string; body: Record<string, unknown> };
type ScheduledWorker = {
  scheduled(options: { cron?: string; scheduledTime?: Date }): Promise<{ outcome: string }>;
};

let t: TestDatabase;
let redis: RedisServer;
let rest: RedisRest;
let origin: StoppableServer;
let webhooks: { url: string; deliveries: Delivery[]; server: Server };
let mf: Miniflare;
let bundleDir: string;
const logs: string[] = [];

/** The origin app on a socket that can be stopped (connections dropped) and started again. */
type StoppableServer = { url: string; stop: () => Promise<void>; start: () => Promise<void> };

async function serveOrigin(app: ReturnType<typeof createApp>): Promise<StoppableServer> {
  let server = createServer(getRequestListener(app.fetch));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
    start: async () => {
      server = createServer(getRequestListener(app.fetch));
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
  };
}

/** Records every POST as Slack or a generic webhook receiver would get it, and answers 200. */
async function startWebhooks() {
  const deliveries: Delivery[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    deliveries.push({
      path: req.url ?? '',
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
    });
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deliveries,
    server,
  };
}

/** wrangler.toml as wrangler reads it, for one environment ('' is the top level). */
function wranglerConfig(env: '' | 'staging' | 'production') {
  return unstable_readConfig({
    config: join(projectRoot, 'wrangler.toml'),
    ...(env ? { env } : {}),
  });
}

async function fire(cron: string, at: number): Promise<void> {
  const worker = (await mf.getWorker()) as unknown as ScheduledWorker;
  const result = await worker.scheduled({ cron, scheduledTime: new Date(at) });
  expect(result.outcome).toBe('ok');
}

const alertsTo = (path: string) =>
  webhooks.deliveries.filter((d) => d.path === path && d.body.type === 'alert');
const eventsOf = (d: Delivery | undefined) =>
  ((d?.body.events ?? []) as { check: string; kind: string; severity: string }[]).map(
    (e) => `${e.check}:${e.kind}:${e.severity}`,
  );

beforeAll(async () => {
  t = await createTestDatabase();
  const feed = fixture(`${HEADER}\nSCH-1,A,350000,3,1 Cron Rd,2024-03-01,46.10,-122.90\n`);
  await upsertSource(t.db, { ...feedSource('hourly-feed', feed), schedule: '0 * * * *' });

  const app = createApp({
    db: t.db,
    logger: createLogger('silent'),
    edgeAssertionSecret,
    // No backup status file: readiness reports the backup as unknown, which is not a problem.
    ops: { dataDir: tmpdir() },
  });
  origin = await serveOrigin(app);
  redis = await startRedisServer();
  rest = await startRedisRest({ redisUrl: redis.url, token: restToken, port: 0 });
  webhooks = await startWebhooks();

  // The bundle `wrangler deploy` would upload, built the same way (a broken build fails here).
  bundleDir = await mkdtemp(join(tmpdir(), 'estate-edge-scheduled-'));
  await promisify(execFile)(
    join(projectRoot, 'node_modules/.bin/wrangler'),
    ['deploy', '--dry-run', '--outdir', bundleDir, '--env='],
    { cwd: projectRoot, timeout: 60_000, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
  );
  const config = wranglerConfig('');
  const monitoring = config.vars.MONITORING as Record<string, unknown>;
  mf = new Miniflare({
    modules: true,
    scriptPath: join(bundleDir, 'index.js'),
    modulesRoot: bundleDir,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    bindings: {
      // wrangler.toml's own CRON_JOBS, ALERT_ROUTES and MONITORING; only what must differ here.
      ...(config.vars as Record<string, unknown>),
      ENVIRONMENT: 'e2e',
      ORIGIN_URL: origin.url,
      EDGE_ASSERTION_SECRET: edgeAssertionSecret,
      UPSTASH_REDIS_REST_URL: rest.url,
      UPSTASH_REDIS_REST_TOKEN: restToken,
      ALERT_SLACK_WEBHOOK_URL: `${webhooks.url}/slack`,
      ALERT_WEBHOOK_URL: `${webhooks.url}/hook`,
      MONITORING: { ...monitoring, webhook: { attempts: 3, backoff_ms: 10, timeout_ms: 5_000 } },
    },
    ratelimits: Object.fromEntries(
      config.ratelimits.map((r: { name: string; simple: { limit: number; period?: 10 | 60 } }) => [
        r.name,
        { simple: r.simple },
      ]),
    ),
    handleStructuredLogs: ({ message }: { level: string; message: string }) => {
      logs.push(message);
    },
  });
  await mf.ready;
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
  await origin?.stop().catch(() => undefined);
  webhooks?.server.close();
  await rest?.close();
  await redis?.stop();
  await t?.drop();
});

describe('wrangler.toml', () => {
  it.each(['', 'staging', 'production'] as const)(
    'environment "%s" has a job for every cron trigger, and a health cadence MONITORING agrees with',
    (env) => {
      const config = wranglerConfig(env);
      const crons = (config.triggers.crons ?? []) as string[];
      const jobs = configVar('CRON_JOBS', config.vars.CRON_JOBS, cronJobsSchema);
      const monitoring = configVar('MONITORING', config.vars.MONITORING, monitoringSchema);
      expect(() =>
        configVar('ALERT_ROUTES', config.vars.ALERT_ROUTES, alertRoutesSchema),
      ).not.toThrow();

      expect(crons.length).toBeGreaterThan(0);
      expect(Object.keys(jobs).sort()).toEqual([...crons].sort());
      const health = Object.entries(jobs).find(([, names]) => names.includes('health'))?.[0];
      expect(health).toBeDefined();
      const [a, b] = new Cron(health as string, { timezone: 'Etc/UTC', paused: true }).nextRuns(2);
      expect(((b?.getTime() ?? 0) - (a?.getTime() ?? 0)) / MINUTE).toBe(
        monitoring.interval_minutes,
      );
    },
  );
});

describe('health checks and alerts, through the real Worker', () => {
  // Minutes 20 to 40 past the hour: the hourly feed's slot (:00) stays out of the ETL window.
  const base = Date.parse('2026-05-01T07:20:00Z');

  it('sends no alert while the origin is up', async () => {
    await fire(FIVE_MINUTES, base);

    expect(webhooks.deliveries).toEqual([]);
    expect(
      logs.some((l) => l.includes('"msg":"health check"') && l.includes('"origin":"up"')),
    ).toBe(true);
  });

  it('sends one critical alert to each channel when the origin is stopped for two checks', async () => {
    await origin.stop();

    await fire(FIVE_MINUTES, base + 5 * MINUTE);
    expect(webhooks.deliveries).toEqual([]);
    await fire(FIVE_MINUTES, base + 10 * MINUTE);
    await fire(FIVE_MINUTES, base + 15 * MINUTE);

    expect(alertsTo('/hook')).toHaveLength(1);
    expect(eventsOf(alertsTo('/hook')[0])).toEqual(['origin:down:critical']);
    const slackMessages = webhooks.deliveries.filter((d) => d.path === '/slack');
    expect(slackMessages).toHaveLength(1);
    expect(slackMessages[0]?.body).toMatchObject({
      text: expect.stringContaining('[e2e] CRITICAL: API (origin) down'),
      blocks: expect.any(Array),
    });
  });

  it('sends one recovery when the origin is back', async () => {
    await origin.start();

    await fire(FIVE_MINUTES, base + 20 * MINUTE);
    await fire(FIVE_MINUTES, base + 25 * MINUTE);

    expect(alertsTo('/hook').map(eventsOf)).toEqual([
      ['origin:down:critical'],
      ['origin:recovered:critical'],
    ]);
    expect(webhooks.deliveries.filter((d) => d.path === '/slack')).toHaveLength(2);
  });
});

describe('ETL scheduling, through the real Worker', () => {
  const slot = Date.parse('2026-05-01T08:00:00Z');

  async function runsOfFeed() {
    return t.db.rows<{ id: number; status: string; trigger: string }>(sql`
      SELECT r.id, r.status, r.trigger FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id
      WHERE s.name = 'hourly-feed' ORDER BY r.id`);
  }

  async function untilFinished() {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const runs = await runsOfFeed();
      if (runs.length > 0 && runs.every((r) => r.status !== 'running')) return runs;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the ETL run did not finish within 30 s');
  }

  it('starts the due source exactly once for two triggers of the same slot, concurrent or not', async () => {
    await Promise.all([fire(FIVE_MINUTES, slot), fire(FIVE_MINUTES, slot)]);
    // Finished before the next triggers: without the lock they would start a second run (no 409).
    const [run] = await untilFinished();
    await fire(FIVE_MINUTES, slot);
    await fire(FIVE_MINUTES, slot + 5 * MINUTE);

    const runs = await runsOfFeed();
    expect(runs).toHaveLength(1);
    expect(run).toMatchObject({ status: 'succeeded', trigger: 'api' });
    expect(logs.filter((l) => l.includes('"msg":"ETL scheduled start"'))).toHaveLength(1);
    expect(
      logs.filter((l) => l.includes('"msg":"ETL slot already taken"')).length,
    ).toBeGreaterThanOrEqual(2);
    // The origin recorded who started it: the edge, with the one scope it needed.
    const [audit] = await t.db.rows<{ actor: string | null }>(
      sql`SELECT actor FROM audit_log WHERE action = 'etl.run.start' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit?.actor).toBe('edge');
  });
});
