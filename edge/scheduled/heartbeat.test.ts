import { describe, expect, inject, it, vi } from 'vitest';
import { scenario } from '../test/scenario';
import {
  FIVE_MINUTES,
  MINUTE,
  monitoringVars,
  readiness,
  readyRoute,
  recordingWebhook,
  runCron,
} from './testing';

const healthOnly = { CRON_JOBS: { [FIVE_MINUTES]: ['health'] } };
const t0 = Date.parse('2026-05-01T07:00:00Z');
const at = (minutes: number) => t0 + minutes * MINUTE;

/** A healthy scenario origin, a recorder standing in for healthchecks.io, and the vars. */
async function setup() {
  const origin = await scenario({ routes: readyRoute(readiness()) });
  const beats = await recordingWebhook();
  const { vars } = monitoringVars(
    {},
    { ORIGIN_URL: origin.originUrl, HEARTBEAT_URL: beats.url, ...healthOnly },
  );
  return { origin, beats, vars };
}

describe('the outside heartbeat (HEARTBEAT_URL)', () => {
  it('is pinged once by each health run whose API answered, degraded checks included', async () => {
    const { origin, beats, vars } = await setup();

    await runCron(vars, { at: at(0) });
    await origin.set({
      routes: readyRoute(readiness({ disk: { status: 'degraded', free_ratio: 0.05 } })),
    });
    await runCron(vars, { at: at(5) });

    const attempts = await beats.attempts();
    expect(attempts).toHaveLength(2);
    expect(attempts[0]?.headers['user-agent']).toBe('estate-edge-monitor');
    expect(attempts[0]?.body).toBe('');
  });

  it('is not pinged while the origin does not answer, so the outside service alerts', async () => {
    const { origin, beats, vars } = await setup();
    await origin.set({ destroy: true });
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(5) });

    error.mockRestore();
    expect(await beats.attempts()).toEqual([]);
  });

  it('is not pinged while the database is down', async () => {
    const { origin, beats, vars } = await setup();
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

    expect(await beats.attempts()).toEqual([]);
  });

  it('is pinged once when a trigger fires twice for the same slot', async () => {
    const { beats, vars } = await setup();

    await runCron(vars, { at: at(0) });
    await runCron(vars, { at: at(0) });

    expect(await beats.attempts()).toHaveLength(1);
  });

  it('does not break the check when it cannot be reached, and never logs its URL', async () => {
    const { vars } = await setup();
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log');

    await runCron(
      { ...vars, HEARTBEAT_URL: `${inject('closedOriginUrl')}/ping/secret-check-uuid` },
      { at: at(0) },
    );

    const lines = [...error.mock.calls, ...log.mock.calls].map((c) => String(c[0]));
    error.mockRestore();
    log.mockRestore();
    expect(lines.some((l) => l.includes('heartbeat not sent'))).toBe(true);
    expect(lines.some((l) => l.includes('"msg":"health check"'))).toBe(true);
    expect(lines.join('\n')).not.toContain('secret-check-uuid');
  });
});
