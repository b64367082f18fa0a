import { describe, expect, inject, it, vi } from 'vitest';
import { scenario } from '../test/scenario';
import { historyKeys } from './health/history';
import {
  FIVE_MINUTES,
  MINUTE,
  monitoringVars,
  readiness,
  readyRoute,
  recordingWebhook,
  runCron,
  storedList,
} from './testing';

type AlertBody = {
  type: string;
  severity: string;
  history: boolean;
  events: { check: string; kind: string; severity: string; detail: string | null }[];
};
type SlackBody = { text: string; blocks: { type: string }[] };

/** This file is about the health job: the ETL job that shares its cron stays out of the way. */
const healthOnly = { CRON_JOBS: { [FIVE_MINUTES]: ['health'] } };

/** A scenario origin, two recording webhooks, and vars that point the Worker at all of them. */
async function setup(monitoring: Record<string, unknown> = {}) {
  const origin = await scenario({ routes: readyRoute(readiness()) });
  const slack = await recordingWebhook();
  const hook = await recordingWebhook();
  const { prefix, vars } = monitoringVars(monitoring, {
    ORIGIN_URL: origin.originUrl,
    ALERT_SLACK_WEBHOOK_URL: slack.url,
    ALERT_WEBHOOK_URL: hook.url,
    ALERT_ROUTES: { critical: ['slack', 'webhook'], warning: ['webhook'], report: ['webhook'] },
    ...healthOnly,
  });
  return { origin, slack, hook, prefix, vars };
}

const t0 = Date.parse('2026-05-01T07:00:00Z');
const at = (minutes: number) => t0 + minutes * MINUTE;

describe('the health check', () => {
  it('records each check in Redis with its status, latency and the state of every check', async () => {
    const { origin, hook, prefix, vars } = await setup();

    await runCron(vars, { at: at(0) });

    const samples = await storedList(prefix, historyKeys.samples);
    expect(samples).toEqual([{ at: at(0), http: 200, ms: expect.any(Number), c: 'uuuuuuu' }]);
    const { requests } = await origin.counts();
    expect(requests.map((r) => [r.method, r.path, r.scope])).toEqual([
      ['GET', '/health/ready', 'ops:read'],
    ]);
    expect(await hook.attempts()).toEqual([]);
  });

  it('sends one critical alert for an outage after two failed checks, not one per check', async () => {
    const { origin, slack, hook, vars } = await setup();
    await runCron(vars, { at: at(0) });
    await origin.set({ destroy: true });

    await runCron(vars, { at: at(5) });
    expect(await hook.attempts()).toEqual([]);
    await runCron(vars, { at: at(10) });
    await runCron(vars, { at: at(15) });

    const alerts = await hook.delivered<AlertBody>();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ type: 'alert', severity: 'critical', history: true });
    expect(alerts[0]?.events).toEqual([
      expect.objectContaining({ check: 'origin', kind: 'down', severity: 'critical' }),
    ]);
    const [message] = await slack.delivered<SlackBody>();
    expect(message?.text).toMatch(/CRITICAL: API \(origin\) down/);
    expect(message?.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect(await slack.delivered()).toHaveLength(1);
  });

  it('sends one recovery when the origin comes back, to the channels that got the alert', async () => {
    const { origin, slack, hook, vars } = await setup();
    await origin.set({ destroy: true });
    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });
    await origin.set({ routes: readyRoute(readiness()) });

    await runCron(vars, { at: at(10) });
    await runCron(vars, { at: at(15) });

    const alerts = await hook.delivered<AlertBody>();
    expect(alerts.map((a) => a.events.map((e) => `${e.check}:${e.kind}`))).toEqual([
      ['origin:down'],
      ['origin:recovered'],
    ]);
    expect(alerts[1]?.severity).toBe('critical');
    const slackTexts = (await slack.delivered<SlackBody>()).map((m) => m.text);
    expect(slackTexts).toHaveLength(2);
    expect(slackTexts[1]).toMatch(/API \(origin\) is back up after 10 min down/);
  });

  it('reports a database outage alone: the checks it hides are not alerted', async () => {
    const { origin, hook, vars } = await setup();
    await origin.set({
      routes: readyRoute(
        readiness({
          database: { status: 'down', driver: 'postgres', error: 'connection refused' },
          migrations: { status: 'unknown' },
          etl: { status: 'unknown' },
        }),
      ),
    });

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });

    const alerts = await hook.delivered<AlertBody>();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.events).toEqual([
      expect.objectContaining({
        check: 'database',
        kind: 'down',
        severity: 'critical',
        detail: 'database unreachable: connection refused',
      }),
    ]);
  });

  it('holds back the same alert within the suppression window, and reminds after the longer one', async () => {
    const { origin, hook, vars } = await setup({ suppress_minutes: 20, remind_minutes: 40 });
    const down = async () => origin.set({ destroy: true });
    const up = async () => origin.set({ routes: readyRoute(readiness()) });
    const kinds = async () =>
      (await hook.delivered<AlertBody>()).map((a) => a.events.map((e) => e.kind).join());

    await down();
    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) }); // down, announced
    await up();
    await runCron(vars, { at: at(10) }); // recovered, announced
    await down();
    await runCron(vars, { at: at(15) });
    await runCron(vars, { at: at(20) }); // down again 15 min after the first alert: held back
    expect(await kinds()).toEqual(['down', 'recovered']);

    await runCron(vars, { at: at(25) }); // the window has passed: announced
    await runCron(vars, { at: at(60) }); // 35 min after: not yet a reminder
    expect(await kinds()).toEqual(['down', 'recovered', 'down']);

    await runCron(vars, { at: at(65) }); // 40 min after: reminder
    await runCron(vars, { at: at(70) });
    const alerts = await hook.delivered<AlertBody>();
    expect(alerts.map((a) => a.events.map((e) => e.kind).join())).toEqual([
      'down',
      'recovered',
      'down',
      'reminder',
    ]);
  });

  it('retries a failing webhook with backoff and records the check all the same', async () => {
    const { origin, hook, prefix, vars } = await setup();
    await hook.set({ fail: 2, status: 503 });
    await origin.set({ destroy: true });

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });

    expect((await hook.attempts()).map((a) => a.status)).toEqual([503, 503, 200]);
    expect(await storedList(prefix, historyKeys.samples)).toHaveLength(2);
  });

  it('does not let a webhook that never answers break the check, and never logs its URL', async () => {
    const deadHook = `${inject('closedOriginUrl')}/hooks/secret-token-in-url`;
    const { origin, prefix, vars } = await setup();
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    await origin.set({ destroy: true });

    await runCron(
      { ...vars, ALERT_WEBHOOK_URL: deadHook, ALERT_SLACK_WEBHOOK_URL: deadHook },
      {
        at: at(0),
      },
    );
    await runCron(
      { ...vars, ALERT_WEBHOOK_URL: deadHook, ALERT_SLACK_WEBHOOK_URL: deadHook },
      {
        at: at(5),
      },
    );

    const lines = error.mock.calls.map((c) => String(c[0]));
    error.mockRestore();
    expect(await storedList(prefix, historyKeys.samples)).toHaveLength(2);
    const failures = lines.filter((l) => l.includes('notification not delivered'));
    expect(failures).toHaveLength(2);
    expect(JSON.parse(failures[0] as string)).toMatchObject({ attempts: 3, status: 0 });
    expect(lines.join('\n')).not.toContain('secret-token-in-url');
    expect(await storedList(prefix, historyKeys.incidents)).toEqual([
      { at: at(5), check: 'origin', from: 'up', to: 'down' },
    ]);
  });

  it('checks once when the trigger fires twice for the same slot, even concurrently', async () => {
    const { origin, prefix, vars } = await setup();

    await Promise.all([runCron(vars, { at: at(0) }), runCron(vars, { at: at(0) })]);
    await runCron(vars, { at: at(0) });

    expect((await origin.counts()).hits).toBe(1);
    expect(await storedList(prefix, historyKeys.samples)).toHaveLength(1);
  });

  it('sends a slow answer, a stale feed, an old backup and a failed run as one warning to the warning channels', async () => {
    const { origin, slack, hook, vars } = await setup({ slow_ms: 50 });
    await origin.set({
      delayMs: 120,
      routes: {
        ...readyRoute(
          readiness({
            etl: {
              status: 'stale',
              sources: [
                {
                  name: 'daily-feed',
                  enabled: true,
                  scheduled: true,
                  stale: true,
                  age_seconds: 30 * 3600,
                },
                {
                  name: 'hourly-feed',
                  enabled: true,
                  scheduled: true,
                  stale: false,
                  age_seconds: 600,
                },
              ],
            },
            backup: { status: 'stale', age_seconds: 27 * 3600 },
          }),
        ),
        'GET /v1/etl/runs': {
          body: {
            items: [
              { id: 9, source: 'hourly-feed', status: 'failed' },
              { id: 8, source: 'hourly-feed', status: 'succeeded' },
            ],
            next_before_id: null,
          },
        },
      },
    });

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });

    expect(await slack.attempts()).toEqual([]);
    const alerts = await hook.delivered<AlertBody>();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.severity).toBe('warning');
    const events = Object.fromEntries(alerts[0]?.events.map((e) => [e.check, e]) ?? []);
    expect(Object.keys(events).sort()).toEqual(['backup', 'etl', 'latency']);
    expect(events.etl?.detail).toBe(
      "source 'daily-feed' last succeeded 30 h ago; the last run of 'hourly-feed' failed",
    );
    expect(events.backup?.detail).toMatch(/27 h old/);
    expect(events.latency?.detail).toMatch(/slow above 50 ms/);
    const runsRequest = (await origin.counts()).requests.find((r) =>
      r.path.startsWith('/v1/etl/runs'),
    );
    expect(runsRequest?.scope).toBe('etl:read');
  });

  it('pages the critical channels when the origin calls the backup critical (issue 14, finding 1)', async () => {
    const { origin, slack, hook, vars } = await setup();
    await origin.set({
      routes: readyRoute(
        readiness({
          backup: {
            status: 'missing',
            critical: true,
            reason: 'BACKUP_STATUS_FILE /var/lib/estate/backup/status.json does not exist',
          },
        }),
      ),
    });

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });

    const [alert] = await hook.delivered<AlertBody>();
    expect(alert).toMatchObject({ severity: 'critical' });
    expect(alert?.events).toEqual([
      expect.objectContaining({ check: 'backup', kind: 'down', severity: 'critical' }),
    ]);
    expect(alert?.events[0]?.detail).toMatch(/missing: BACKUP_STATUS_FILE/);
    const [message] = await slack.delivered<SlackBody>();
    expect(message?.text).toMatch(/CRITICAL: Backups down/);
  });

  it('calls a 403 from Cloudflare Access an origin outage and says what to check', async () => {
    const { origin, hook, vars } = await setup();
    await origin.set({
      routes: { 'GET /health/ready': { status: 403, body: { error: 'forbidden' } } },
    });

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });

    const [alert] = await hook.delivered<AlertBody>();
    expect(alert?.events[0]).toMatchObject({ check: 'origin', kind: 'down' });
    expect(alert?.events[0]?.detail).toMatch(/Cloudflare Access.*CF_ACCESS_CLIENT_ID/);
  });
});

describe('the health check without Redis', () => {
  it('logs that it cannot record, and alerts on the current check alone', async () => {
    const origin = await scenario({ destroy: true });
    const hook = await recordingWebhook();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

    await runCron(
      {
        ORIGIN_URL: origin.originUrl,
        ALERT_WEBHOOK_URL: hook.url,
        ALERT_ROUTES: { critical: ['webhook'] },
        MONITORING: { webhook: { attempts: 1, backoff_ms: 1, timeout_ms: 2_000 } },
        ...healthOnly,
      },
      { at: at(0) },
    );

    const lines = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(lines.some((l) => l.includes('no monitoring store'))).toBe(true);
    const alerts = await hook.delivered<AlertBody>();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ history: false, severity: 'critical' });
    expect(alerts[0]?.events).toEqual([expect.objectContaining({ check: 'origin', kind: 'down' })]);
  });

  it('treats a Redis that does not answer like no Redis, and still alerts', async () => {
    const origin = await scenario({ destroy: true });
    const hook = await recordingWebhook();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

    await runCron(
      {
        ORIGIN_URL: origin.originUrl,
        UPSTASH_REDIS_REST_URL: inject('deadQuotaStoreUrl'),
        UPSTASH_REDIS_REST_TOKEN: inject('quotaStoreToken'),
        ALERT_WEBHOOK_URL: hook.url,
        ALERT_ROUTES: { critical: ['webhook'] },
        MONITORING: { webhook: { attempts: 1, backoff_ms: 1, timeout_ms: 2_000 } },
        ...healthOnly,
      },
      { at: at(0) },
    );

    const lines = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(lines.some((l) => l.includes('monitoring store unavailable'))).toBe(true);
    expect(await hook.delivered()).toHaveLength(1);
  });
});

describe('the scheduled handler', () => {
  it('logs a cron that CRON_JOBS does not name, and runs nothing', async () => {
    const origin = await scenario();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

    await runCron({ ORIGIN_URL: origin.originUrl }, { cron: '1 2 3 4 5', at: at(0) });

    const lines = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(lines.some((l) => l.includes('no job for this cron'))).toBe(true);
    expect((await origin.counts()).hits).toBe(0);
  });

  it('refuses an invalid CRON_JOBS by name instead of running anything', async () => {
    const origin = await scenario();
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});

    await runCron(
      { ORIGIN_URL: origin.originUrl, CRON_JOBS: { '*/5 * * * *': ['reboot'] } },
      {
        at: at(0),
      },
    );

    const lines = error.mock.calls.map((c) => String(c[0]));
    error.mockRestore();
    expect(lines.some((l) => l.includes('CRON_JOBS'))).toBe(true);
    expect((await origin.counts()).hits).toBe(0);
  });
});
