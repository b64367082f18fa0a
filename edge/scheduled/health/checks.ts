import * as z from 'zod/mini';
import type { MonitoringConfig } from '../config';
import type { OriginAnswer } from '../origin';

/** What the health job judges, in the order the status page lists them. */
export const checkNames = [
  'origin',
  'database',
  'migrations',
  'etl',
  'backup',
  'disk',
  'latency',
] as const;
export type CheckName = (typeof checkNames)[number];

/** `unknown`: nothing could be learnt this time (the origin did not answer, the database is down). */
export const checkStates = ['up', 'degraded', 'down', 'unknown'] as const;
export type CheckState = (typeof checkStates)[number];

/** For people: alerts, the status page, the report. */
export const checkLabels: Record<CheckName, string> = {
  origin: 'API (origin)',
  database: 'Database',
  migrations: 'Schema migrations',
  etl: 'Data feeds (ETL)',
  backup: 'Backups',
  disk: 'Disk space',
  latency: 'Response time',
};

export type CheckResult = {
  state: CheckState;
  /**
   * Why it is not up, for the operators' channels only (it can name a source or quote the
   * database's error): the public status page never shows it.
   */
  detail: string | null;
};

/** One run of the health check. */
export type Observation = {
  /** The trigger's scheduledTime, epoch ms. */
  at: number;
  /** Status of GET /health/ready, or null when the origin could not be reached. */
  http: number | null;
  /** Time to the readiness answer's headers; null when there was none. */
  latencyMs: number | null;
  checks: Record<CheckName, CheckResult>;
};

/**
 * The parts of the origin's readiness report (origin/routes/health/assess.ts) the edge judges.
 * Loose on purpose: a field or a status word the origin adds later must not turn a healthy answer
 * into "down"; `checks.database.status` is what tells a readiness report from any other JSON.
 */
export const readinessSchema = z.object({
  status: z.string(),
  checks: z.object({
    database: z.object({ status: z.string(), error: z.optional(z.string()) }),
    migrations: z.optional(
      z.object({
        status: z.string(),
        applied: z.optional(z.number()),
        available: z.optional(z.number()),
        error: z.optional(z.string()),
      }),
    ),
    etl: z.optional(
      z.object({
        status: z.string(),
        sources: z.optional(
          z.array(
            z.object({
              name: z.string(),
              enabled: z.boolean(),
              scheduled: z.boolean(),
              stale: z.optional(z.boolean()),
              age_seconds: z.optional(z.nullable(z.number())),
            }),
          ),
        ),
        error: z.optional(z.string()),
      }),
    ),
    backup: z.optional(
      z.object({
        status: z.string(),
        /** The origin's verdict that the data is unprotected (failed, missing, over 26 h). */
        critical: z.optional(z.boolean()),
        age_seconds: z.optional(z.number()),
        finished_at: z.optional(z.string()),
        size_bytes: z.optional(z.nullable(z.number())),
        error: z.optional(z.string()),
        reason: z.optional(z.string()),
        verify: z.optional(z.object({ status: z.string(), age_seconds: z.optional(z.number()) })),
      }),
    ),
    disk: z.optional(
      z.object({
        status: z.string(),
        free_ratio: z.optional(z.number()),
        error: z.optional(z.string()),
      }),
    ),
  }),
});
export type Readiness = z.infer<typeof readinessSchema>;

const clip = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);
const hours = (seconds: number) => `${Math.round((seconds / 3600) * 10) / 10} h`;
const up: CheckResult = { state: 'up', detail: null };
const unknown: CheckResult = { state: 'unknown', detail: null };
const degraded = (detail: string): CheckResult => ({ state: 'degraded', detail: clip(detail) });
const down = (detail: string): CheckResult => ({ state: 'down', detail: clip(detail) });

/**
 * What one readiness answer says about each check. Pure: every threshold is tested without a
 * broken machine. The origin and the database can be `down` (nothing answers without them, so
 * they page someone), and so can the backup when the origin calls it `critical` (failed, missing
 * or over 26 h old: the data is unprotected); the rest are `degraded` at worst.
 *
 * @param failingSources enabled, scheduled sources whose last finished run failed (from
 *   /v1/etl/runs), or null when that could not be asked.
 */
export function observe(
  answer: OriginAnswer,
  failingSources: readonly string[] | null,
  config: MonitoringConfig,
  at: number,
): Observation {
  const none = Object.fromEntries(checkNames.map((n) => [n, unknown])) as Observation['checks'];
  if (!answer.reached) {
    return {
      at,
      http: null,
      latencyMs: null,
      checks: {
        ...none,
        origin: {
          state: 'down',
          detail: answer.timedOut ? answer.error : `unreachable: ${answer.error}`,
        },
      },
    };
  }
  const parsed = readinessSchema.safeParse(answer.json);
  if (!parsed.success) {
    return {
      at,
      http: answer.status,
      latencyMs: answer.ms,
      checks: { ...none, origin: { state: 'down', detail: withoutReport(answer.status) } },
    };
  }
  const { checks } = parsed.data;
  const databaseUp = checks.database.status === 'up';
  const latency: CheckResult =
    answer.ms > config.slow_ms
      ? degraded(`the readiness check took ${answer.ms} ms (slow above ${config.slow_ms} ms)`)
      : up;
  return {
    at,
    http: answer.status,
    latencyMs: answer.ms,
    checks: {
      origin: up,
      database: databaseUp
        ? up
        : {
            state: 'down',
            detail: clip(`database unreachable: ${checks.database.error ?? 'no reason given'}`),
          },
      // Without the database these were not asked: unknown, not a second alert.
      migrations: databaseUp ? migrationsResult(checks.migrations) : unknown,
      etl: databaseUp ? etlResult(checks.etl, failingSources) : unknown,
      backup: backupResult(checks.backup),
      disk: diskResult(checks.disk),
      latency,
    },
  };
}

function withoutReport(status: number): string {
  if (status === 401 || status === 403 || (status >= 300 && status < 400))
    return `answered ${status} instead of a readiness report: Cloudflare Access or the origin refused the edge (check CF_ACCESS_CLIENT_ID/SECRET and EDGE_ASSERTION_SECRET)`;
  if (status === 502 || status === 503 || status === 504 || status === 530)
    return `answered ${status} without a readiness report: the tunnel or the origin process is down`;
  return `answered ${status} without a readiness report`;
}

function migrationsResult(m: Readiness['checks']['migrations']): CheckResult {
  if (!m) return unknown;
  if (m.status === 'ok') return up;
  if (m.status === 'pending' && m.available !== undefined && m.applied !== undefined)
    return degraded(`${m.available - m.applied} migration(s) pending: run npm run migrate`);
  return degraded(`migration status unknown${m.error ? `: ${m.error}` : ''}`);
}

function etlResult(
  etl: Readiness['checks']['etl'],
  failingSources: readonly string[] | null,
): CheckResult {
  if (!etl) return unknown;
  const problems: string[] = [];
  if (etl.status === 'unknown')
    problems.push(`ETL status unknown${etl.error ? `: ${etl.error}` : ''}`);
  for (const s of etl.sources ?? []) {
    if (!s.stale) continue;
    problems.push(
      s.age_seconds == null
        ? `source '${s.name}' has never succeeded`
        : `source '${s.name}' last succeeded ${hours(s.age_seconds)} ago`,
    );
  }
  for (const name of failingSources ?? []) problems.push(`the last run of '${name}' failed`);
  return problems.length === 0 ? up : degraded(problems.join('; '));
}

function backupResult(b: Readiness['checks']['backup']): CheckResult {
  // No backup status file configured: readiness does not count it as a problem, nor do we.
  if (!b || b.status === 'unknown') return unknown;
  if (b.status === 'ok') return up;
  // The origin says whether the data is unprotected (origin/routes/health/assess.ts): that pages.
  const result = b.critical ? down : degraded;
  if (b.status === 'stale')
    return result(`the last backup is ${hours(b.age_seconds ?? 0)} old (over 26 h)`);
  if (b.status === 'failed') {
    const drill = b.verify?.status === 'failed' ? ' or its restore drill' : '';
    return result(`the last backup${drill} failed${b.error ? `: ${b.error}` : ''}`);
  }
  return result(`the backup status is ${b.status}${b.reason ? `: ${b.reason}` : ''}`);
}

function diskResult(d: Readiness['checks']['disk']): CheckResult {
  if (!d) return unknown;
  if (d.status === 'ok') return up;
  if (d.status === 'low' && d.free_ratio !== undefined)
    return degraded(`${Math.round(d.free_ratio * 1000) / 10}% free (under 10%)`);
  return degraded(`disk space unknown${d.error ? `: ${d.error}` : ''}`);
}
