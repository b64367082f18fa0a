import type { Context } from 'hono';
import { problemTypes } from '../../contract/problems';
import type { AppEnv, Env } from '../env';
import { problemResponse } from '../middleware/problem';
import { historyLength, monitoringConfig } from '../scheduled/config';
import { decodeIncident, decodeSample, historyKeys } from '../scheduled/health/history';
import { describeError, logLine } from '../scheduled/log';
import { monitorStore } from '../scheduled/store';
import { renderStatusPage, renderUnavailablePage, statusContentSecurityPolicy } from './page';
import { type StatusSummary, summarize } from './summary';

export const STATUS_UNAVAILABLE = problemTypes.statusUnavailable;
/** The page must answer fast even when Redis does not: it is what people open during an outage. */
const STORE_TIMEOUT_MS = 2_000;
/** Incidents read for the page (it shows 20 of the last 7 days). */
const INCIDENTS_READ = 50;

type Loaded =
  | { ok: true; summary: StatusSummary; maxAge: number }
  | { ok: false; reason: 'not configured' | 'unreachable' };

// Per isolate, per store and prefix: a burst of visitors during an outage costs one Redis read
// per MONITORING.status_cache_seconds, not one per visit.
const recent = new Map<string, { until: number; summary: StatusSummary }>();

async function loadStatus(env: Env): Promise<Loaded> {
  const config = monitoringConfig(env);
  const store = monitorStore(env, { prefix: config.prefix, timeoutMs: STORE_TIMEOUT_MS });
  if (store.kind === 'none') return { ok: false, reason: 'not configured' };
  const key = `${env.UPSTASH_REDIS_REST_URL}|${config.prefix}`;
  const now = Date.now();
  const cached = recent.get(key);
  if (cached && cached.until > now)
    return { ok: true, summary: cached.summary, maxAge: config.status_cache_seconds };
  try {
    const [samples, incidents] = await Promise.all([
      store.list(historyKeys.samples, historyLength(config)),
      store.list(historyKeys.incidents, INCIDENTS_READ),
    ]);
    const summary = summarize(
      samples.flatMap((raw) => decodeSample(raw) ?? []),
      incidents.flatMap((raw) => decodeIncident(raw) ?? []),
      now,
      config,
    );
    if (config.status_cache_seconds > 0) {
      if (recent.size > 32) recent.clear();
      recent.set(key, { until: now + config.status_cache_seconds * 1000, summary });
    }
    return { ok: true, summary, maxAge: config.status_cache_seconds };
  } catch (error) {
    logLine('warn', 'status history unavailable', { error: describeError(error) });
    return { ok: false, reason: 'unreachable' };
  }
}

const unavailableDetail: Record<'not configured' | 'unreachable', string> = {
  'not configured': 'Monitoring history is not configured at this edge, so the status is unknown.',
  unreachable: 'Monitoring history cannot be read right now; try again in a minute.',
};

/**
 * `GET /status.json`: the public status from the monitoring history alone (never the origin), so
 * it answers during an outage. 503 problem+json when there is no history to read.
 *
 * @example
 *   app.get('/status.json', statusJson);
 */
export async function statusJson(c: Context<AppEnv>): Promise<Response> {
  const loaded = await loadStatus(c.env);
  if (!loaded.ok)
    return problemResponse(c, {
      code: 'status_unavailable',
      detail: unavailableDetail[loaded.reason],
      ...(loaded.reason === 'unreachable' ? { headers: { 'Retry-After': '30' } } : {}),
    });
  c.header('Cache-Control', `public, max-age=${loaded.maxAge}`);
  return c.json(loaded.summary);
}

/**
 * `GET /status`: the same as a small HTML page, no script, no external asset, its one inline
 * style allowed by hash in a strict CSP.
 *
 * @example
 *   app.get('/status', statusPage);
 */
export async function statusPage(c: Context<AppEnv>): Promise<Response> {
  const loaded = await loadStatus(c.env);
  c.header('Content-Security-Policy', await statusContentSecurityPolicy());
  if (!loaded.ok) {
    c.header('Cache-Control', 'no-store');
    if (loaded.reason === 'unreachable') c.header('Retry-After', '30');
    return c.html(renderUnavailablePage(unavailableDetail[loaded.reason]), 503);
  }
  c.header('Cache-Control', `public, max-age=${loaded.maxAge}`);
  return c.html(renderStatusPage(loaded.summary));
}
