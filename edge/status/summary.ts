import { MINUTE_MS, type MonitoringConfig } from '../scheduled/config';
import {
  type CheckName,
  type CheckState,
  checkLabels,
  checkNames,
} from '../scheduled/health/checks';
import {
  type Incident,
  isAvailable,
  percentile,
  type Sample,
  share,
} from '../scheduled/health/history';

const HOUR_MS = 3_600_000;
/** Incidents the page lists; older ones stay in the store for the report. */
const INCIDENTS_SHOWN = 20;

/**
 * What /status.json answers and /status renders. Public: states, shares and times only; no
 * detail, error text, source name or URL (those go to the operators' channels).
 */
export type StatusSummary = {
  /** From the latest check: `outage` when the API cannot answer, `unknown` before any check. */
  status: 'operational' | 'degraded' | 'outage' | 'unknown';
  /** When the latest check ran. */
  checked_at: string | null;
  /** True when no check has been recorded for three periods: the monitor itself is stuck. */
  stale: boolean;
  /** Percent of checks in which the API answered (origin reachable, database up). */
  uptime: { last_24h: number | null; last_7d: number | null };
  /** The readiness check's response time, 95th percentile over 24 h. */
  latency_p95_ms_24h: number | null;
  checks: {
    name: CheckName;
    label: string;
    state: CheckState;
    /** Percent of the checks that knew this one in which it was up. */
    up_24h: number | null;
    up_7d: number | null;
  }[];
  /** Confirmed state changes over the last 7 days, newest first. */
  incidents: { at: string; check: CheckName; label: string; from: CheckState; to: CheckState }[];
};

const pct = (ratio: number | null) => (ratio === null ? null : Math.round(ratio * 10_000) / 100);

/**
 * The status from the history (newest first, as stored) at `now`. Pure.
 *
 * @example
 *   const summary = summarize(samples, incidents, Date.now(), config);
 */
export function summarize(
  samples: readonly Sample[],
  incidents: readonly Incident[],
  now: number,
  config: Pick<MonitoringConfig, 'interval_minutes'>,
): StatusSummary {
  const week = samples.filter((s) => s.at > now - 7 * 24 * HOUR_MS && s.at <= now);
  const day = week.filter((s) => s.at > now - 24 * HOUR_MS);
  const latest = samples[0];
  const status: StatusSummary['status'] = !latest
    ? 'unknown'
    : !isAvailable(latest.checks)
      ? 'outage'
      : checkNames.some((n) => latest.checks[n] === 'degraded')
        ? 'degraded'
        : 'operational';
  const upShare = (list: readonly Sample[], name: CheckName) =>
    pct(
      share(
        list.filter((s) => s.checks[name] !== 'unknown'),
        (s) => s.checks[name] === 'up',
      ),
    );
  return {
    status,
    checked_at: latest ? new Date(latest.at).toISOString() : null,
    stale: latest ? latest.at < now - 3 * config.interval_minutes * MINUTE_MS : false,
    uptime: {
      last_24h: pct(share(day, (s) => isAvailable(s.checks))),
      last_7d: pct(share(week, (s) => isAvailable(s.checks))),
    },
    latency_p95_ms_24h: percentile(
      day.flatMap((s) => (s.latencyMs === null ? [] : [s.latencyMs])),
      95,
    ),
    checks: checkNames.map((name) => ({
      name,
      label: checkLabels[name],
      state: latest?.checks[name] ?? 'unknown',
      up_24h: upShare(day, name),
      up_7d: upShare(week, name),
    })),
    incidents: incidents
      .filter((i) => i.at > now - 7 * 24 * HOUR_MS)
      .slice(0, INCIDENTS_SHOWN)
      .map((i) => ({
        at: new Date(i.at).toISOString(),
        check: i.check,
        label: checkLabels[i.check],
        from: i.from,
        to: i.to,
      })),
  };
}
