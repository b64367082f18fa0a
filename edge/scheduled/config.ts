import * as z from 'zod/mini';
import { configVar } from '../lib/config';

/** The jobs a cron can run (docs/monitoring.md). */
export const jobNames = ['health', 'etl', 'report', 'keys'] as const;
export type JobName = (typeof jobNames)[number];

/**
 * CRON_JOBS in wrangler.toml: which jobs each cron of `[triggers] crons` runs, e.g. the health
 * check and the ETL scheduler every five minutes and `"0 7 * * *" = ["report"]`. The handler
 * dispatches on `controller.cron`, the expression exactly as written in `[triggers]`.
 */
export const cronJobsSchema = z.record(
  z.string().check(z.minLength(9), z.maxLength(120)),
  z.array(z.enum(jobNames)).check(z.minLength(1), z.maxLength(jobNames.length)),
);
export type CronJobs = z.infer<typeof cronJobsSchema>;

/** Where notifications can go; each one's URL is a secret (edge/env.ts). */
export const channelNames = ['slack', 'webhook'] as const;
export type ChannelName = (typeof channelNames)[number];

/** The secret that configures each channel: a channel without it cannot deliver. */
export const channelSecrets = {
  slack: 'ALERT_SLACK_WEBHOOK_URL',
  webhook: 'ALERT_WEBHOOK_URL',
} as const satisfies Record<ChannelName, string>;

/** What ALERT_ROUTES routes: the alerts' two severities and the daily report. */
export const routedKinds = ['critical', 'warning', 'report'] as const;

const channels = z.array(z.enum(channelNames)).check(z.maxLength(channelNames.length));

/**
 * ALERT_ROUTES in wrangler.toml: the channels of each severity, and of the daily report.
 * A severity with `[]` is only logged (in production, /edge/health calls that misconfigured:
 * edge/lib/secrets.ts). Absent, everything goes to Slack, the channel docs/monitoring.md sets up:
 * a default that sent warnings to a channel nobody configured dropped them (issue 14, finding 2).
 */
export const alertRoutesSchema = z.strictObject({
  critical: z._default(channels, ['slack']),
  warning: z._default(channels, ['slack']),
  report: z._default(channels, ['slack']),
});
export type AlertRoutes = z.infer<typeof alertRoutesSchema>;

/**
 * MONITORING in wrangler.toml: the health check's thresholds, the alert windows, the history
 * kept in Redis and how webhooks are retried. Minutes for the windows an operator reasons about,
 * milliseconds for the timeouts.
 */
export const monitoringSchema = z
  .strictObject({
    /** Redis key prefix, so two deployments can share a Redis (as RATE_LIMITS.prefix). */
    prefix: z._default(z.string().check(z.regex(/^[\w:.-]{1,64}$/)), 'estate-edge:mon'),
    /** How often the `health` job runs (its cron's period): sizes the history and "stale". */
    interval_minutes: z._default(z.int().check(z.gte(1), z.lte(60)), 5),
    /** History kept for uptime: days × samples per day (2016 for 7 days every 5 minutes). */
    history_days: z._default(z.int().check(z.gte(1), z.lte(31)), 7),
    /** The readiness probe's deadline; a probe that takes longer is "origin down". */
    health_timeout_ms: z._default(z.int().check(z.gte(100), z.lte(60_000)), 10_000),
    /** A readiness answer slower than this makes the `latency` check degraded. */
    slow_ms: z._default(z.int().check(z.gte(10), z.lte(60_000)), 2_000),
    /** Consecutive bad checks before a check counts as down or degraded (and alerts). */
    fail_after: z._default(z.int().check(z.gte(1), z.lte(10)), 2),
    /** The same alert (same check, same state) is not sent again within this window. */
    suppress_minutes: z._default(z.int().check(z.gte(0), z.lte(10_080)), 30),
    /** A check still down or degraded this long after its last alert gets a reminder. */
    remind_minutes: z._default(z.int().check(z.gte(1), z.lte(10_080)), 240),
    /**
     * How far back the `etl` job looks for a source's scheduled time it has not started yet. More
     * than `interval_minutes` lets the next tick catch a slot a failed tick missed; the lock per
     * source and slot keeps it to one run. Without Redis only `interval_minutes` is used.
     */
    etl_catch_up_minutes: z._default(z.int().check(z.gte(1), z.lte(1_440)), 10),
    /** An isolate reuses what it read for /status this long (the page is public: bounded cost). */
    status_cache_seconds: z._default(z.int().check(z.gte(0), z.lte(300)), 30),
    /** Transitions kept for the status page and the report. */
    incidents_kept: z._default(z.int().check(z.gte(10), z.lte(1_000)), 200),
    webhook: z._default(
      z.strictObject({
        /** Attempts per channel, the first included. */
        attempts: z._default(z.int().check(z.gte(1), z.lte(10)), 4),
        /** First retry delay; exponential with jitter after. */
        backoff_ms: z._default(z.int().check(z.gte(1), z.lte(60_000)), 500),
        timeout_ms: z._default(z.int().check(z.gte(100), z.lte(30_000)), 5_000),
      }),
      { attempts: 4, backoff_ms: 500, timeout_ms: 5_000 },
    ),
  })
  .check(
    z.refine((m) => m.remind_minutes > m.suppress_minutes, {
      message: 'remind_minutes must be longer than suppress_minutes',
      path: ['remind_minutes'],
    }),
  );
export type MonitoringConfig = z.infer<typeof monitoringSchema>;

/** The vars and secrets the scheduled jobs and the status page read. */
export type MonitoringBindings = {
  CRON_JOBS?: unknown;
  ALERT_ROUTES?: unknown;
  MONITORING?: unknown;
  ENVIRONMENT?: string;
  ORIGIN_URL: string;
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  ALERT_SLACK_WEBHOOK_URL?: string;
  ALERT_WEBHOOK_URL?: string;
  ALERT_WEBHOOK_SECRET?: string;
  HEARTBEAT_URL?: string;
};

/** MONITORING, checked once per distinct value (an absent var means every default). */
export function monitoringConfig(env: MonitoringBindings): MonitoringConfig {
  return configVar('MONITORING', env.MONITORING ?? {}, monitoringSchema);
}

export function alertRoutes(env: MonitoringBindings): AlertRoutes {
  return configVar('ALERT_ROUTES', env.ALERT_ROUTES ?? {}, alertRoutesSchema);
}

export function cronJobs(env: MonitoringBindings): CronJobs {
  return configVar('CRON_JOBS', env.CRON_JOBS ?? {}, cronJobsSchema);
}

/** Samples the history holds: `history_days` of one every `interval_minutes`. */
export function historyLength(config: MonitoringConfig): number {
  return Math.ceil((config.history_days * 24 * 60) / config.interval_minutes);
}

export const MINUTE_MS = 60_000;
