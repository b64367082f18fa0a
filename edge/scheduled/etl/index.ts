import * as z from 'zod/mini';
import { MINUTE_MS, type MonitoringBindings, monitoringConfig } from '../config';
import { latestFiring, slotOf } from '../cron';
import { describeError, logLine } from '../log';
import { callOrigin, type OriginCallEnv } from '../origin';
import { type MonitorStore, monitorStore } from '../store';
import { readSources } from './sources';

type JobEnv = MonitoringBindings & OriginCallEnv;

/** Where the starts are kept (under MONITORING.prefix), newest first, for the daily report. */
export const etlStartsKey = 'etl:starts';
const STARTS_KEPT = 500;
/** POST /v1/etl/runs answers as soon as the run is recorded; ORIGIN_POLICY gives /v1/etl 30 s. */
const START_TIMEOUT_MS = 30_000;

export const etlStartSchema = z.object({
  at: z.number(),
  /** The source's own scheduled time this start is for, `2026-05-01T07:00`. */
  slot: z.string(),
  source: z.string(),
  /**
   * `started` (202), `already_running` (409: a run of the source was in progress, so the slot is
   * served by it), `refused` (another answer: the source is gone, the edge may not start runs),
   * `unreachable` (no answer, or the tunnel's 502/503/504: the lock is released for a retry).
   */
  outcome: z.enum(['started', 'already_running', 'refused', 'unreachable']),
  run_id: z.nullable(z.number()),
  status: z.number(),
});
export type EtlStart = z.infer<typeof etlStartSchema>;

const startedSchema = z.object({ id: z.int() });

async function start(env: JobEnv, source: string, slot: string, at: number): Promise<EtlStart> {
  const answer = await callOrigin(env, {
    method: 'POST',
    path: '/v1/etl/runs',
    scope: 'etl:run',
    timeoutMs: START_TIMEOUT_MS,
    body: { source },
  });
  const record = { at, slot, source, run_id: null, status: answer.reached ? answer.status : 0 };
  if (!answer.reached || [502, 503, 504].includes(answer.status))
    return { ...record, outcome: 'unreachable' };
  if (answer.status === 202) {
    const started = startedSchema.safeParse(answer.json);
    return { ...record, outcome: 'started', run_id: started.success ? started.data.id : null };
  }
  if (answer.status === 409) return { ...record, outcome: 'already_running' };
  return { ...record, outcome: 'refused' };
}

async function claim(store: MonitorStore, name: string, ttlSeconds: number): Promise<boolean> {
  try {
    return await store.claim(name, ttlSeconds);
  } catch (error) {
    // Without the lock a duplicate trigger could start a source twice; the origin still refuses
    // a second concurrent run (409), and an ETL run is an idempotent merge. Skipping the slot
    // would lose a run for sure, so the start goes ahead.
    logLine('warn', 'monitoring store unavailable: starting without the slot lock', {
      job: 'etl',
      error: describeError(error),
    });
    return true;
  }
}

/**
 * The `etl` job: reads the sources and their cron expressions from the origin, finds those whose
 * latest scheduled time falls in the catch-up window, and starts each once per scheduled time:
 * a lock per source and slot in the store (SET NX EX) makes a trigger that fires twice, or two
 * runs of this job that overlap, start it once. Every attempt is logged and recorded.
 */
export async function runEtlJob(env: JobEnv, at: number): Promise<EtlStart[]> {
  const config = monitoringConfig(env);
  const store = monitorStore(env, { prefix: config.prefix, timeoutMs: 3_000 });
  // Without a lock, a window longer than the trigger's period would start a slot on two ticks.
  const windowMs =
    (store.kind === 'none' ? config.interval_minutes : config.etl_catch_up_minutes) * MINUTE_MS;
  if (store.kind === 'none')
    logLine('warn', 'no monitoring store: ETL starts are not locked or recorded', { job: 'etl' });

  const sources = await readSources(env, config.health_timeout_ms);
  const starts: EtlStart[] = [];
  for (const source of sources) {
    if (!source.enabled || !source.schedule) continue;
    const firing = latestFiring(source.schedule, at);
    if (firing === null) {
      logLine('warn', 'ETL source schedule is not a cron croner reads', {
        job: 'etl',
        source: source.name,
      });
      continue;
    }
    if (firing.getTime() <= at - windowMs) continue;
    const slot = slotOf(firing);
    const lock = `lock:etl:${source.name}:${slot}`;
    // Held well past the window, so no later tick can take the same slot again.
    if (!(await claim(store, lock, (windowMs * 2) / 1000 + 3_600))) {
      logLine('info', 'ETL slot already taken', { job: 'etl', source: source.name, slot });
      continue;
    }
    const result = await start(env, source.name, slot, at);
    if (result.outcome === 'unreachable') await store.release(lock).catch(() => undefined);
    starts.push(result);
    logLine(result.outcome === 'refused' ? 'error' : 'info', 'ETL scheduled start', {
      job: 'etl',
      source: source.name,
      slot,
      outcome: result.outcome,
      run_id: result.run_id,
      status: result.status,
    });
  }
  if (starts.length > 0 && store.kind !== 'none') {
    await store
      .write({ push: [{ list: etlStartsKey, items: starts, keep: STARTS_KEPT }] })
      .catch((error: unknown) =>
        logLine('warn', 'ETL starts not recorded', { job: 'etl', error: describeError(error) }),
      );
  }
  return starts;
}
