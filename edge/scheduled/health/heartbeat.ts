import type { MonitoringConfig } from '../config';
import { describeError, logLine } from '../log';
import { checkNames, type Observation } from './checks';

export type Heartbeat = { outcome: 'sent' | 'failed' | 'skipped' | 'off'; status: number };

/**
 * The outside heartbeat (issue 14, finding 12): the monitor is this Worker, and a monitor that
 * stops (crons not firing, the Worker broken by a deploy, Slack's URL revoked) says nothing. With
 * HEARTBEAT_URL set (a healthchecks.io or Uptime Kuma push URL, Better Stack's heartbeat), each
 * `health` run whose API answered (no check down: origin and database up) sends it a GET; the
 * outside service alerts through its own channels when the pings stop, so it hears of a dead
 * monitor and of an outage the monitor could not deliver. Degraded checks still ping: they are
 * warnings, this Worker's to send. One attempt per run, bounded by `webhook.timeout_ms`: the next
 * run is the retry, and the outside service's grace period absorbs a lost ping. Never throws; the
 * URL is a credential (anyone holding it can ping) and is never logged.
 *
 * @example
 *   await heartbeat(env, config, observation);
 */
export async function heartbeat(
  env: { HEARTBEAT_URL?: string },
  config: MonitoringConfig,
  observation: Observation,
): Promise<Heartbeat> {
  const url = env.HEARTBEAT_URL;
  if (!url) return { outcome: 'off', status: 0 };
  const down = checkNames.filter((name) => observation.checks[name].state === 'down');
  if (down.length > 0) {
    logLine('info', 'heartbeat withheld: a check is down', { job: 'health', down });
    return { outcome: 'skipped', status: 0 };
  }
  try {
    const res = await fetch(url, {
      method: 'GET',
      headers: { 'User-Agent': 'estate-edge-monitor' },
      signal: AbortSignal.timeout(config.webhook.timeout_ms),
    });
    await res.body?.cancel();
    if (!res.ok) {
      logLine('error', 'heartbeat not accepted', { job: 'health', status: res.status });
      return { outcome: 'failed', status: res.status };
    }
    return { outcome: 'sent', status: res.status };
  } catch (error) {
    logLine('error', 'heartbeat not sent', {
      job: 'health',
      // The runtime's message may quote the URL.
      error: describeError(error).replaceAll(url, '<HEARTBEAT_URL>'),
    });
    return { outcome: 'failed', status: 0 };
  }
}
