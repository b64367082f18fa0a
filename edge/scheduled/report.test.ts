import { describe, expect, it } from 'vitest';
import type { ScenarioRoute } from '../test/recorder-contract';
import { scenario } from '../test/scenario';
import { etlStartsKey } from './etl';
import { historyKeys } from './health/history';
import {
  DAILY,
  MINUTE,
  monitoringVars,
  readiness,
  readyRoute,
  recordingWebhook,
  runCron,
  testRedis,
} from './testing';

type ReportBody = {
  type: string;
  title: string;
  lines: string[];
  report: Record<string, unknown>;
};

const reportAt = Date.parse('2026-05-01T07:00:00Z');
const hoursAgo = (h: number) => reportAt - h * 60 * MINUTE;

const run = (
  id: number,
  source: string,
  status: string,
  startedHoursAgo: number,
  rows: number[],
) => ({
  id,
  source,
  status,
  started_at: new Date(hoursAgo(startedHoursAgo)).toISOString(),
  rows: { read: 0, inserted: rows[0], updated: rows[1], unchanged: 0, rejected: rows[2] },
  error: status === 'failed' ? 'the feed answered 500' : null,
});

async function setup(routes: Record<string, ScenarioRoute> = {}) {
  const origin = await scenario({
    routes: {
      'GET /v1/stats': {
        body: { group: 'type', groups: [{ count: 21_000 }, { count: 597 }], truncated: false },
      },
      'GET /v1/etl/runs': {
        body: {
          items: [
            run(12, 'king-county', 'succeeded', 2, [120, 33, 4]),
            run(11, 'mls-feed', 'failed', 5, [0, 0, 0]),
            run(10, 'king-county', 'succeeded', 20, [10, 2, 8]),
            run(9, 'king-county', 'succeeded', 30, [999, 999, 999]),
          ],
          next_before_id: null,
        },
      },
      ...readyRoute(
        readiness({
          backup: {
            status: 'ok',
            age_seconds: 3 * 3600,
            size_bytes: 1_200_000_000,
            verify: { status: 'ok', age_seconds: 3600 },
          },
        }),
      ),
      ...routes,
    },
  });
  const hook = await recordingWebhook();
  const { prefix, vars } = monitoringVars(
    {},
    {
      ORIGIN_URL: origin.originUrl,
      ALERT_WEBHOOK_URL: hook.url,
      ALERT_ROUTES: { report: ['webhook'] },
    },
  );
  return { origin, hook, prefix, vars };
}

/** A day of history: 10 checks in the last 24 h, 2 of them with the origin down. */
async function seedHistory(prefix: string) {
  const redis = testRedis();
  const samples = Array.from({ length: 10 }, (_, i) => ({
    at: hoursAgo(i * 2 + 1),
    http: i < 2 ? null : 200,
    ms: i < 2 ? null : (i + 1) * 10,
    c: i < 2 ? 'x??????' : 'uuuuuuu',
  }));
  const older = { at: hoursAgo(30), http: null, ms: null, c: 'x??????' };
  await redis.rpush(
    `${prefix}:${historyKeys.samples}`,
    ...[...samples, older].map((s) => JSON.stringify(s)),
  );
  await redis.rpush(
    `${prefix}:${historyKeys.incidents}`,
    JSON.stringify({ at: hoursAgo(1), check: 'origin', from: 'up', to: 'down' }),
    JSON.stringify({ at: hoursAgo(40), check: 'origin', from: 'up', to: 'down' }),
  );
  await redis.rpush(
    `${prefix}:${etlStartsKey}`,
    JSON.stringify({
      at: hoursAgo(2),
      slot: 'x',
      source: 'king-county',
      outcome: 'started',
      run_id: 12,
      status: 202,
    }),
    JSON.stringify({
      at: hoursAgo(3),
      slot: 'y',
      source: 'king-county',
      outcome: 'already_running',
      run_id: null,
      status: 409,
    }),
  );
}

describe('the daily report', () => {
  it('sends listings, ETL runs and rejects, uptime, p95 latency and the backup for the last 24 h', async () => {
    const { origin, hook, prefix, vars } = await setup();
    await seedHistory(prefix);

    await runCron(vars, { cron: DAILY, at: reportAt });

    const [report] = await hook.delivered<ReportBody>();
    expect(report?.title).toBe('[test] Daily report 2026-05-01');
    expect(report?.lines).toEqual([
      'Listings: 21,597 with a location; in 24 h the ETL added 130 and updated 35',
      'ETL runs (24 h): 3 (2 succeeded, 1 failed), 12 rows rejected; failed: mls-feed #11',
      'Scheduled starts (24 h): 1 started, 1 already running, 0 failed',
      'Uptime (24 h): 80% over 10 checks, p95 latency 100 ms, 1 incident(s)',
      'Backup: ok, last finished 3 h ago (1.2 GB); restore drill ok',
    ]);
    expect(report?.report).toMatchObject({
      listings: { total: 21_597, inserted_24h: 130, updated_24h: 35 },
      health: { checks: 10, uptime: 0.8, p95_latency_ms: 100, incidents: 1 },
    });
    const scopes = (await origin.counts()).requests.map(
      (r) => `${r.path.split('?')[0]} ${r.scope}`,
    );
    expect(scopes.sort()).toEqual([
      '/health/ready ops:read',
      '/v1/etl/runs etl:read',
      '/v1/stats stats:read',
    ]);
  });

  it('is sent once a day even when the trigger fires twice', async () => {
    const { hook, vars } = await setup();

    await Promise.all([
      runCron(vars, { cron: DAILY, at: reportAt }),
      runCron(vars, { cron: DAILY, at: reportAt }),
    ]);
    await runCron(vars, { cron: DAILY, at: reportAt + MINUTE });

    expect(await hook.delivered()).toHaveLength(1);
  });

  it('says which figures it could not get instead of leaving them out', async () => {
    const { hook, vars } = await setup({
      'GET /v1/stats': { status: 500, body: { detail: 'boom' } },
      'GET /v1/etl/runs': { status: 403, body: { detail: 'needs etl:read' } },
    });

    await runCron(vars, { cron: DAILY, at: reportAt });

    const [report] = await hook.delivered<ReportBody>();
    expect(report?.lines[0]).toBe('Listings: unavailable (answered 500)');
    expect(report?.lines[1]).toBe('ETL runs (24 h): unavailable (answered 403)');
    expect(report?.lines).toContain(
      'Uptime (24 h): no checks recorded, p95 latency n/a, 0 incident(s)',
    );
  });
});
