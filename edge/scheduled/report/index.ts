import * as z from 'zod/mini';
import { deliver } from '../alerts/deliver';
import type { ReportNotification } from '../alerts/notification';
import { historyLength, type MonitoringBindings, monitoringConfig } from '../config';
import { etlStartSchema, etlStartsKey } from '../etl';
import { readinessSchema } from '../health/checks';
import {
  decodeIncident,
  decodeSample,
  historyKeys,
  isAvailable,
  percentile,
  share,
} from '../health/history';
import { describeError, logLine } from '../log';
import { callOrigin, type OriginCallEnv } from '../origin';
import { monitorStore } from '../store';

type JobEnv = MonitoringBindings & OriginCallEnv;

const DAY_MS = 24 * 3_600_000;
/** The stats and runs queries scan tables: more time than a probe, less than ORIGIN_POLICY's /v1/etl. */
const REPORT_TIMEOUT_MS = 30_000;
/** Pages of 200 runs read back to cover 24 h; more runs than that in a day is itself the news. */
const MAX_RUN_PAGES = 5;

const statsSchema = z.object({ groups: z.array(z.object({ count: z.number() })) });
const runSchema = z.object({
  id: z.number(),
  source: z.string(),
  status: z.string(),
  started_at: z.string(),
  rows: z.object({
    inserted: z.number(),
    updated: z.number(),
    rejected: z.number(),
  }),
  error: z.optional(z.nullable(z.string())),
});
const runPageSchema = z.object({
  items: z.array(runSchema),
  next_before_id: z.nullable(z.number()),
});
type Run = z.infer<typeof runSchema>;

type Figure<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Listings with a location: /v1/stats over the whole world grouped by type, summed. The origin
 * has no "how many listings" endpoint (see docs/monitoring.md for the one proposed).
 */
async function listingsTotal(env: JobEnv): Promise<Figure<number>> {
  const answer = await callOrigin(env, {
    path: '/v1/stats?bbox=-180,-90,180,90&group=type',
    scope: 'stats:read',
    timeoutMs: REPORT_TIMEOUT_MS,
  });
  const parsed =
    answer.reached && answer.status === 200 ? statsSchema.safeParse(answer.json) : null;
  if (!parsed?.success)
    return { ok: false, reason: answer.reached ? `answered ${answer.status}` : answer.error };
  return { ok: true, value: parsed.data.groups.reduce((sum, g) => sum + g.count, 0) };
}

/** The ETL runs started since `since`, newest first, from GET /v1/etl/runs (keyset pages). */
async function runsSince(env: JobEnv, since: number): Promise<Figure<Run[]>> {
  const runs: Run[] = [];
  let before: number | null = null;
  for (let page = 0; page < MAX_RUN_PAGES; page += 1) {
    const answer = await callOrigin(env, {
      path: `/v1/etl/runs?limit=200${before === null ? '' : `&before_id=${before}`}`,
      scope: 'etl:read',
      timeoutMs: REPORT_TIMEOUT_MS,
    });
    const parsed =
      answer.reached && answer.status === 200 ? runPageSchema.safeParse(answer.json) : null;
    if (!parsed?.success)
      return { ok: false, reason: answer.reached ? `answered ${answer.status}` : answer.error };
    const recent = parsed.data.items.filter((r) => Date.parse(r.started_at) >= since);
    runs.push(...recent);
    before = parsed.data.next_before_id;
    if (before === null || recent.length < parsed.data.items.length) break;
  }
  return { ok: true, value: runs };
}

async function backupStatus(env: JobEnv) {
  const answer = await callOrigin(env, {
    path: '/health/ready',
    // The backup's details are for ops:read (origin/routes/health/audience.ts).
    scope: 'ops:read',
    timeoutMs: REPORT_TIMEOUT_MS,
  });
  const parsed = answer.reached ? readinessSchema.safeParse(answer.json) : null;
  if (!parsed?.success)
    return {
      ok: false as const,
      reason: answer.reached ? `answered ${answer.status}` : answer.error,
    };
  return { ok: true as const, value: parsed.data.checks.backup ?? null };
}

const count = (n: number) => n.toLocaleString('en-US');
const hours = (seconds: number) => `${Math.round((seconds / 3600) * 10) / 10} h`;
const bytes = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${n} B`;
const percent = (ratio: number) => `${Math.round(ratio * 10_000) / 100}%`;

/**
 * The `report` job, once a day at its cron's hour: listings and their changes, ETL runs and
 * rejects, the scheduler's starts, uptime and p95 latency of the health checks, and the backup,
 * over the last 24 h, sent to ALERT_ROUTES.report. Once per day even if triggered twice (a lock
 * per date). A figure that cannot be had is reported as such, not left out.
 */
export async function runReportJob(env: JobEnv, at: number): Promise<ReportNotification | null> {
  const config = monitoringConfig(env);
  const store = monitorStore(env, { prefix: config.prefix, timeoutMs: 3_000 });
  const day = new Date(at).toISOString().slice(0, 10);
  const since = at - DAY_MS;
  let history = store.kind !== 'none';
  if (history) {
    try {
      if (!(await store.claim(`lock:report:${day}`, 26 * 3600))) {
        logLine('info', 'daily report already sent', { job: 'report', day });
        return null;
      }
    } catch (error) {
      history = false;
      logLine('warn', 'monitoring store unavailable: the report has no history', {
        job: 'report',
        error: describeError(error),
      });
    }
  }

  const [listings, runs, backup, samples, incidents, starts] = await Promise.all([
    listingsTotal(env),
    runsSince(env, since),
    backupStatus(env),
    history ? store.list(historyKeys.samples, historyLength(config)).catch(() => null) : null,
    history ? store.list(historyKeys.incidents, config.incidents_kept).catch(() => null) : null,
    history ? store.list(etlStartsKey, 500).catch(() => null) : null,
  ]);

  const lines: string[] = [];
  const data: Record<string, unknown> = { day, since: new Date(since).toISOString() };

  const changed = runs.ok
    ? runs.value.reduce(
        (sum, r) => ({
          inserted: sum.inserted + r.rows.inserted,
          updated: sum.updated + r.rows.updated,
          rejected: sum.rejected + r.rows.rejected,
        }),
        { inserted: 0, updated: 0, rejected: 0 },
      )
    : null;
  data.listings = {
    total: listings.ok ? listings.value : null,
    inserted_24h: changed?.inserted ?? null,
    updated_24h: changed?.updated ?? null,
  };
  lines.push(
    `Listings: ${listings.ok ? `${count(listings.value)} with a location` : `unavailable (${listings.reason})`}` +
      (changed
        ? `; in 24 h the ETL added ${count(changed.inserted)} and updated ${count(changed.updated)}`
        : ''),
  );

  if (runs.ok) {
    const byStatus: Record<string, number> = {};
    for (const r of runs.value) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const failed = runs.value.filter((r) => r.status === 'failed' || r.status === 'abandoned');
    data.etl = {
      runs: runs.value.length,
      by_status: byStatus,
      rows_rejected: changed?.rejected ?? 0,
      failed: failed.map((r) => ({ id: r.id, source: r.source, status: r.status, error: r.error })),
    };
    const statuses = Object.entries(byStatus)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    lines.push(
      `ETL runs (24 h): ${runs.value.length}${statuses ? ` (${statuses})` : ''}, ${count(changed?.rejected ?? 0)} rows rejected` +
        (failed.length ? `; failed: ${failed.map((r) => `${r.source} #${r.id}`).join(', ')}` : ''),
    );
  } else {
    data.etl = null;
    lines.push(`ETL runs (24 h): unavailable (${runs.reason})`);
  }

  if (starts) {
    const recent = starts
      .map((s) => etlStartSchema.safeParse(s))
      .flatMap((s) => (s.success && s.data.at >= since ? [s.data] : []));
    const by = (o: string) => recent.filter((s) => s.outcome === o).length;
    data.scheduled_starts = {
      started: by('started'),
      already_running: by('already_running'),
      refused: by('refused'),
      unreachable: by('unreachable'),
    };
    lines.push(
      `Scheduled starts (24 h): ${by('started')} started, ${by('already_running')} already running, ${by('refused') + by('unreachable')} failed`,
    );
  }

  if (samples) {
    const day24 = samples.flatMap((raw) => {
      const s = decodeSample(raw);
      return s && s.at > since && s.at <= at ? [s] : [];
    });
    const uptime = share(day24, (s) => isAvailable(s.checks));
    const p95 = percentile(
      day24.flatMap((s) => (s.latencyMs === null ? [] : [s.latencyMs])),
      95,
    );
    const outages = (incidents ?? []).flatMap((raw) => {
      const i = decodeIncident(raw);
      return i && i.at > since && i.to !== 'up' ? [i] : [];
    }).length;
    data.health = { checks: day24.length, uptime, p95_latency_ms: p95, incidents: outages };
    lines.push(
      `Uptime (24 h): ${uptime === null ? 'no checks recorded' : `${percent(uptime)} over ${day24.length} checks`}` +
        `, p95 latency ${p95 === null ? 'n/a' : `${Math.round(p95)} ms`}, ${outages} incident(s)`,
    );
  } else {
    data.health = null;
    lines.push('Uptime (24 h): unavailable (no monitoring store, or it did not answer)');
  }

  if (backup.ok && backup.value) {
    const b = backup.value;
    data.backup = b;
    const age = b.age_seconds !== undefined ? `, last finished ${hours(b.age_seconds)} ago` : '';
    const size = typeof b.size_bytes === 'number' ? ` (${bytes(b.size_bytes)})` : '';
    const drill = b.verify ? `; restore drill ${b.verify.status}` : '';
    lines.push(`Backup: ${b.status}${age}${size}${drill}`);
  } else {
    data.backup = null;
    lines.push(
      `Backup: ${backup.ok ? 'not reported by the origin' : `unavailable (${backup.reason})`}`,
    );
  }

  const notification: ReportNotification = {
    type: 'report',
    environment: env.ENVIRONMENT ?? 'unknown',
    at,
    title: `[${env.ENVIRONMENT ?? 'unknown'}] Daily report ${day}`,
    lines,
    data,
  };
  const deliveries = await deliver(env, config, notification);
  logLine('info', 'daily report', {
    job: 'report',
    day,
    deliveries: deliveries.map((d) => `${d.channel}:${d.outcome}`),
  });
  return notification;
}
