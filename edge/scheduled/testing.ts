import {
  createExecutionContext,
  createScheduledController,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Redis } from '@upstash/redis/cloudflare';
import { inject } from 'vitest';
import type { Env } from '../env';
import worker from '../index';
import {
  type WebhookAttempt,
  type WebhookBehaviour,
  webhookControlPath,
  webhookPath,
} from '../test/recorder-contract';

/** The crons of wrangler.toml's [triggers], as CRON_JOBS maps them. */
export const FIVE_MINUTES = '*/5 * * * *';
export const DAILY = '0 7 * * *';
export const MINUTE = 60_000;

/**
 * Vars for a Worker whose monitoring lives in the run's private Redis (behind the REST adapter)
 * under a prefix of its own, so tests never share history; quick webhook retries; no status memo.
 */
export function monitoringVars(
  monitoring: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  const prefix = `test:mon:${crypto.randomUUID()}`;
  return {
    prefix,
    vars: {
      UPSTASH_REDIS_REST_URL: inject('quotaStoreUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('quotaStoreToken'),
      MONITORING: {
        prefix,
        status_cache_seconds: 0,
        webhook: { attempts: 3, backoff_ms: 5, timeout_ms: 2_000 },
        ...monitoring,
      },
      ...extra,
    } as Record<string, unknown>,
  };
}

/** The run's Redis, read directly to check what the jobs wrote. */
export function testRedis(): Redis {
  return new Redis({
    url: inject('quotaStoreUrl'),
    token: inject('quotaStoreToken'),
    automaticDeserialization: false,
    enableTelemetry: false,
  });
}

/** A list the jobs wrote (newest first), parsed. */
export async function storedList<T = Record<string, unknown>>(
  prefix: string,
  name: string,
): Promise<T[]> {
  const items = await testRedis().lrange<string>(`${prefix}:${name}`, 0, -1);
  return items.map((item) => JSON.parse(item) as T);
}

/** A stand-in for a Slack or generic webhook, recording every delivery attempt. */
export async function recordingWebhook(behaviour: WebhookBehaviour = {}) {
  const id = crypto.randomUUID();
  const control = `${inject('originUrl')}${webhookControlPath}${id}`;
  const set = async (b: WebhookBehaviour) => {
    const res = await fetch(control, { method: 'POST', body: JSON.stringify(b) });
    await res.body?.cancel();
  };
  await set(behaviour);
  const attempts = async () =>
    ((await (await fetch(control)).json()) as { attempts: WebhookAttempt[] }).attempts;
  return {
    url: `${inject('originUrl')}${webhookPath}${id}`,
    set,
    attempts,
    /** The bodies of the deliveries that were answered 200, parsed. */
    delivered: async <T = Record<string, unknown>>() =>
      (await attempts()).filter((a) => a.status === 200).map((a) => JSON.parse(a.body) as T),
  };
}

/**
 * Fires the real Worker's scheduled handler as a Cron Trigger would, at `at` (its
 * scheduledTime), with `vars` over the test bindings, and waits for its background work.
 */
export async function runCron(
  vars: Record<string, unknown>,
  { cron = FIVE_MINUTES, at }: { cron?: string; at: number },
): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron, scheduledTime: at }),
    { ...env, ...vars } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

type Check = { status: string; [field: string]: unknown };

/** A readiness report as origin/routes/health/assess.ts writes it; every check ok by default. */
export function readiness(checks: Partial<Record<string, Check>> = {}) {
  const all = {
    database: { status: 'up', driver: 'postgres', latency_ms: 1.2 },
    migrations: { status: 'ok', applied: 5, available: 5 },
    etl: { status: 'ok', sources: [] },
    backup: { status: 'ok', finished_at: new Date().toISOString(), age_seconds: 3600 },
    disk: { status: 'ok', free_bytes: 50, total_bytes: 100, free_ratio: 0.5 },
    ...checks,
  };
  const down = all.database.status !== 'up';
  const degraded = Object.values(all).some((c) => c?.status !== 'ok' && c?.status !== 'up');
  return { status: down ? 'down' : degraded ? 'degraded' : 'ok', problems: [], checks: all };
}

/** `GET /health/ready` answering `body` (503 when its database is down, as the origin does). */
export function readyRoute(body: ReturnType<typeof readiness>) {
  return { 'GET /health/ready': { status: body.status === 'down' ? 503 : 200, body } };
}
