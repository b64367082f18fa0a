import type { TraceVariables } from './lib/trace';
import type { AuthVariables } from './middleware/auth';

/**
 * Everything the Worker receives in `env`.
 *
 * Vars come from wrangler.toml through `Cloudflare.Env`, generated into
 * edge/worker-configuration.d.ts by `wrangler types` (rerun it after editing wrangler.toml).
 * Those types only say "a string" or "an object": code reads vars through `settingsOf(env)`
 * (lib/settings.ts), which parses all of them once per isolate with one schema, exactly.
 * Secrets are not in wrangler.toml, so they are declared here, one documented member each,
 * set with `npx wrangler secret put <NAME> --env staging|production` and, for `wrangler dev`,
 * in .dev.vars (`npm start` passes them with `wrangler dev --var`).
 */
export interface Env extends Cloudflare.Env {
  /**
   * Signs the X-Edge-Assertion the origin requires (docs/edge-auth.md): at least 32 random
   * bytes, the same value as the origin's EDGE_ASSERTION_SECRET. Without it every forwarded
   * request fails with 500 (the edge fails closed) and /edge/health answers 503 naming it;
   * `secrets.required` in wrangler.toml makes `wrangler deploy` refuse a Worker without it.
   */
  EDGE_ASSERTION_SECRET: string;
  /**
   * Cloudflare Access service token (tunnel/README.md), sent to the origin as
   * CF-Access-Client-Id / CF-Access-Client-Secret when both are set. Required (and listed in
   * wrangler.toml's `secrets.required`) where CF_ACCESS_SERVICE_TOKEN is "required": staging and
   * production, whose tunnel admits only Access; /edge/health answers 503 without them.
   */
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
  /**
   * The Upstash-compatible REST endpoint that holds the quotas (Upstash, SRH, or locally
   * `npm run redis-rest`) and its token. Unset: quotas are off (the burst guard still works),
   * and RATE_LIMIT_FAIL_MODE=closed refuses every request. docs/edge-gateway.md.
   */
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  /**
   * A Slack incoming-webhook URL (`https://hooks.slack.com/services/…`): alerts and the daily
   * report as `{ text, blocks }`, for the severities ALERT_ROUTES sends to `slack`. The URL is the
   * credential: never logged. Unset: that channel is skipped with a warning, and in production
   * /edge/health answers 503 naming it while ALERT_ROUTES sends anything to Slack. docs/monitoring.md.
   */
  ALERT_SLACK_WEBHOOK_URL?: string;
  /** Any HTTPS endpoint taking the generic alert JSON (ALERT_ROUTES' `webhook`). Optional. */
  ALERT_WEBHOOK_URL?: string;
  /**
   * When set, deliveries to ALERT_WEBHOOK_URL carry X-Estate-Edge-Timestamp and
   * X-Estate-Edge-Signature (`v1=` HMAC-SHA256 of `<timestamp>.<body>`) for the receiver to check.
   */
  ALERT_WEBHOOK_SECRET?: string;
  /**
   * An outside heartbeat (a healthchecks.io ping URL or the like): each `health` run whose API
   * answered GETs it, and that service alerts when the pings stop: the monitor's own monitor.
   * Optional; a credential (anyone holding it can ping), never logged. docs/monitoring.md.
   */
  HEARTBEAT_URL?: string;
}

/** The Hono environment of the edge app. */
export type AppEnv = {
  Bindings: Env;
  /** requestId (hono/request-id), principal (middleware/auth), the log's trace (lib/trace). */
  Variables: AuthVariables & TraceVariables;
};
