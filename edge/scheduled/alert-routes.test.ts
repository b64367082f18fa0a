import { describe, expect, it, vi } from 'vitest';
import { scenario } from '../test/scenario';
import { FIVE_MINUTES, monitoringVars, recordingWebhook, runCron } from './testing';

const healthOnly = { CRON_JOBS: { [FIVE_MINUTES]: ['health'] } };
const at = Date.parse('2026-05-01T09:00:00Z');

/** An origin that never answers (so alerts are due), and every console line of one run. */
async function runWith(vars: Record<string, unknown>) {
  const origin = await scenario();
  await origin.set({ destroy: true });
  const spies = {
    error: vi.spyOn(console, 'error').mockImplementation(() => {}),
    warn: vi.spyOn(console, 'warn').mockImplementation(() => {}),
  };
  const { vars: monitoring } = monitoringVars({ fail_after: 1 });
  await runCron({ ...monitoring, ORIGIN_URL: origin.originUrl, ...healthOnly, ...vars }, { at });
  const lines = (spy: (typeof spies)['error']) =>
    spy.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const logged = { error: lines(spies.error), warn: lines(spies.warn) };
  spies.error.mockRestore();
  spies.warn.mockRestore();
  return logged;
}

describe('an alert route to a channel without its secret', () => {
  it('in production is logged as an error on every scheduled run, naming the secret', async () => {
    const slack = await recordingWebhook();
    const logged = await runWith({
      ENVIRONMENT: 'production',
      ALERT_SLACK_WEBHOOK_URL: slack.url,
      ALERT_WEBHOOK_URL: undefined,
      ALERT_ROUTES: { critical: ['slack', 'webhook'], warning: ['slack'], report: ['slack'] },
    });

    expect(logged.error).toContainEqual(
      expect.objectContaining({ msg: 'deployment misconfigured', variable: 'ALERT_WEBHOOK_URL' }),
    );
    expect(logged.error).toContainEqual(
      expect.objectContaining({
        msg: 'notification channel not configured',
        secret: 'ALERT_WEBHOOK_URL',
      }),
    );
    // The configured channel still gets the alert.
    expect(await slack.delivered()).toHaveLength(1);
  });

  it('in staging is a warning', async () => {
    const logged = await runWith({
      ENVIRONMENT: 'staging',
      ALERT_SLACK_WEBHOOK_URL: undefined,
      ALERT_WEBHOOK_URL: undefined,
      ALERT_ROUTES: { critical: ['slack'], warning: ['slack'], report: ['slack'] },
    });

    expect(logged.error.filter((l) => String(l.msg).includes('not configured'))).toEqual([]);
    expect(logged.warn).toContainEqual(
      expect.objectContaining({
        msg: 'notification channel not configured',
        secret: 'ALERT_SLACK_WEBHOOK_URL',
      }),
    );
    expect(logged.warn).toContainEqual(
      expect.objectContaining({
        msg: 'deployment misconfigured',
        variable: 'ALERT_SLACK_WEBHOOK_URL',
      }),
    );
  });

  it('reaches the channel that is configured, for every severity, by default', async () => {
    // No ALERT_ROUTES at all: the defaults must not send warnings to an unconfigured webhook.
    const { alertRoutesSchema } = await import('./config');
    const routes = alertRoutesSchema.parse({});
    expect(routes).toEqual({ critical: ['slack'], warning: ['slack'], report: ['slack'] });
  });
});
