import * as z from 'zod/mini';
import { deliver } from '../alerts/deliver';
import type { AlertNotification } from '../alerts/notification';
import { historyLength, type MonitoringBindings, monitoringConfig } from '../config';
import { slotOf } from '../cron';
import { describeError, logLine } from '../log';
import { callOrigin, type OriginCallEnv } from '../origin';
import { type MonitorStore, monitorStore } from '../store';
import { type AlertEvent, currentProblems, evaluate, parseMemory, type Severity } from './alerts';
import { type CheckName, checkNames, type Observation, observe, readinessSchema } from './checks';
import { heartbeat } from './heartbeat';
import { encodeSample, historyKeys } from './history';

export type JobEnv = MonitoringBindings & OriginCallEnv;

const runsPageSchema = z.object({
  items: z.array(z.object({ source: z.string(), status: z.string() })),
});

/**
 * Enabled, scheduled sources whose newest finished run failed, from GET /v1/etl/runs (readiness
 * only knows "stale", 26 h after the last success; a failed run is worth a warning now).
 * Null when the runs could not be read: "unknown" is not "failing".
 */
async function failingSources(
  env: JobEnv,
  timeoutMs: number,
  scheduled: readonly string[],
): Promise<string[] | null> {
  if (scheduled.length === 0) return [];
  const answer = await callOrigin(env, {
    path: '/v1/etl/runs?limit=100',
    scope: 'etl:read',
    timeoutMs,
  });
  const page =
    answer.reached && answer.status === 200 ? runsPageSchema.safeParse(answer.json) : null;
  if (!page?.success) {
    logLine('warn', 'ETL runs unavailable to the health check', {
      job: 'health',
      status: answer.reached ? answer.status : 0,
      request_id: answer.requestId,
    });
    return null;
  }
  return scheduled.filter((name) => {
    const last = page.data.items.find((r) => r.source === name && r.status !== 'running');
    return last?.status === 'failed' || last?.status === 'abandoned';
  });
}

/** GET /health/ready (and the ETL runs when the database answers), judged per check. */
export async function probeOrigin(
  env: JobEnv,
  at: number,
): Promise<{ observation: Observation; requestId: string }> {
  const config = monitoringConfig(env);
  const answer = await callOrigin(env, {
    path: '/health/ready',
    // /health is open at the origin, but readiness shows its details (the feeds judged below,
    // backup, disk) only to ops:read or the private network (origin/routes/health/audience.ts).
    scope: 'ops:read',
    timeoutMs: config.health_timeout_ms,
  });
  let failing: string[] | null = null;
  const readiness = answer.reached ? readinessSchema.safeParse(answer.json) : null;
  if (readiness?.success && readiness.data.checks.database.status === 'up') {
    const scheduled = (readiness.data.checks.etl?.sources ?? [])
      .filter((s) => s.enabled && s.scheduled)
      .map((s) => s.name);
    failing = await failingSources(env, config.health_timeout_ms, scheduled);
  }
  return { observation: observe(answer, failing, config, at), requestId: answer.requestId };
}

export type HealthRun = {
  skipped: boolean;
  /** Whether the check was recorded (and judged against the previous ones). */
  history: boolean;
  observation?: Observation;
  events: AlertEvent[];
};

/** The store, or null (logged) when it is absent or cannot be asked right now. */
async function claimRun(store: MonitorStore, at: number, ttlSeconds: number) {
  if (store.kind === 'none') {
    logLine('warn', 'no monitoring store: the check is not recorded, alerts repeat every run', {
      job: 'health',
      hint: 'set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN',
    });
    return { store: null, claimed: true };
  }
  try {
    return { store, claimed: await store.claim(`lock:health:${slotOf(at)}`, ttlSeconds) };
  } catch (error) {
    logLine('warn', 'monitoring store unavailable: the check is not recorded', {
      job: 'health',
      error: describeError(error),
    });
    return { store: null, claimed: true };
  }
}

const rank: Record<Severity, number> = { warning: 1, critical: 2 };

/**
 * The `health` job: probe the origin's readiness, record the result in the history, judge each
 * check against the previous runs (health/alerts.ts) and send what changed as one notification.
 * Runs once per trigger slot (a lock in the store), so a trigger that fires twice neither counts
 * a failure twice nor alerts twice.
 */
export async function runHealthJob(env: JobEnv, at: number): Promise<HealthRun> {
  const config = monitoringConfig(env);
  const { store, claimed } = await claimRun(
    monitorStore(env, { prefix: config.prefix, timeoutMs: 3_000 }),
    at,
    config.interval_minutes * 60 * 2,
  );
  if (!claimed) {
    logLine('info', 'health check already ran for this slot', { job: 'health', slot: slotOf(at) });
    return { skipped: true, history: true, events: [] };
  }

  const { observation, requestId } = await probeOrigin(env, at);
  let events: AlertEvent[] | null = null;
  let suppressed: { check: CheckName }[] = [];
  if (store) {
    try {
      const result = evaluate(
        parseMemory(await store.get(historyKeys.memory)),
        observation,
        config,
      );
      // Recorded before anything is sent: a receiver that hangs cannot lose the state.
      await store.write({
        set: { [historyKeys.memory]: result.memory },
        push: [
          {
            list: historyKeys.samples,
            items: [encodeSample(observation)],
            keep: historyLength(config),
          },
          { list: historyKeys.incidents, items: result.transitions, keep: config.incidents_kept },
        ],
      });
      events = result.events;
      suppressed = result.suppressed;
    } catch (error) {
      logLine('warn', 'monitoring store unavailable: the check is not recorded', {
        job: 'health',
        error: describeError(error),
      });
    }
  }
  const history = events !== null;
  events ??= currentProblems(observation);

  const worst = events.reduce<Severity | null>(
    (w, e) => (w === null || rank[e.severity] > rank[w] ? e.severity : w),
    null,
  );
  const deliveries =
    worst === null
      ? []
      : await deliver(env, config, {
          type: 'alert',
          environment: env.ENVIRONMENT ?? 'unknown',
          at,
          severity: worst,
          events,
          history,
        } satisfies AlertNotification);

  const beat = await heartbeat(env, config, observation);

  logLine('info', 'health check', {
    job: 'health',
    slot: slotOf(at),
    request_id: requestId,
    http: observation.http,
    latency_ms: observation.latencyMs,
    checks: Object.fromEntries(checkNames.map((n) => [n, observation.checks[n].state])),
    recorded: history,
    alerts: events.map((e) => `${e.check}:${e.kind}`),
    suppressed: suppressed.map((s) => s.check),
    deliveries: deliveries.map((d) => `${d.channel}:${d.outcome}`),
    heartbeat: beat.outcome,
  });
  return { skipped: false, history, observation, events };
}
