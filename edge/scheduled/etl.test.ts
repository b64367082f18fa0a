import { describe, expect, it, vi } from 'vitest';
import type { ScenarioRoute } from '../test/recorder-contract';
import { scenario } from '../test/scenario';
import { type EtlStart, etlStartsKey } from './etl';
import { FIVE_MINUTES, MINUTE, monitoringVars, runCron, storedList } from './testing';

/** This file is about the ETL job: the health job that shares its cron stays out of the way. */
const etlOnly = { CRON_JOBS: { [FIVE_MINUTES]: ['etl'] } };

const sevenOClock = Date.parse('2026-05-01T07:00:00Z');

const sources = [
  { name: 'hourly', schedule: '0 * * * *', enabled: true },
  { name: 'half-past', schedule: '30 * * * *', enabled: true },
  { name: 'switched-off', schedule: '0 * * * *', enabled: false },
  { name: 'by-hand', schedule: null, enabled: true },
  { name: 'garbled', schedule: 'every hour please', enabled: true },
];

async function setup(routes: Record<string, ScenarioRoute> = {}) {
  const origin = await scenario({
    routes: {
      'GET /v1/etl/sources': { body: { items: sources } },
      'POST /v1/etl/runs': { status: 202, body: { id: 41, source: 'hourly', status: 'running' } },
      ...routes,
    },
  });
  const { prefix, vars } = monitoringVars({}, { ORIGIN_URL: origin.originUrl, ...etlOnly });
  const starts = async () =>
    (await origin.counts()).requests.filter(
      (r) => r.method === 'POST' && r.path === '/v1/etl/runs',
    );
  return { origin, prefix, vars, starts };
}

describe('the ETL scheduler', () => {
  it('starts the enabled source that is due, with the etl:run scope, and records the start', async () => {
    const { origin, prefix, vars, starts } = await setup();

    await runCron(vars, { at: sevenOClock });

    const posted = await starts();
    expect(posted.map((r) => [JSON.parse(r.body), r.scope])).toEqual([
      [{ source: 'hourly' }, 'etl:run'],
    ]);
    const list = (await origin.counts()).requests.find((r) => r.path === '/v1/etl/sources');
    expect(list?.scope).toBe('etl:read');
    expect(await storedList<EtlStart>(prefix, etlStartsKey)).toEqual([
      {
        at: sevenOClock,
        slot: '2026-05-01T07:00',
        source: 'hourly',
        outcome: 'started',
        run_id: 41,
        status: 202,
      },
    ]);
  });

  it('starts one run when the same slot is triggered twice, also concurrently, and on the next tick', async () => {
    const { starts, vars } = await setup();

    await Promise.all([
      runCron(vars, { at: sevenOClock }),
      runCron(vars, { at: sevenOClock }),
      runCron(vars, { at: sevenOClock }),
    ]);
    await runCron(vars, { at: sevenOClock });
    // 07:05 still looks back over 07:00 (the catch-up window): the lock holds.
    await runCron(vars, { at: sevenOClock + 5 * MINUTE });

    expect(await starts()).toHaveLength(1);
  });

  it('starts the next slot of the same source again', async () => {
    const { starts, vars } = await setup();

    await runCron(vars, { at: sevenOClock });
    await runCron(vars, { at: sevenOClock + 60 * MINUTE });

    expect(await starts()).toHaveLength(2);
  });

  it('records a 409 as already running, and does not try that slot again', async () => {
    const { prefix, starts, vars } = await setup({
      'POST /v1/etl/runs': { status: 409, body: { detail: 'a run is in progress' } },
    });

    await runCron(vars, { at: sevenOClock });
    await runCron(vars, { at: sevenOClock + 5 * MINUTE });

    expect(await starts()).toHaveLength(1);
    expect(await storedList<EtlStart>(prefix, etlStartsKey)).toEqual([
      expect.objectContaining({ source: 'hourly', outcome: 'already_running', status: 409 }),
    ]);
  });

  it('releases the slot when the origin cannot take the start, so the next tick retries it', async () => {
    const { origin, prefix, starts, vars } = await setup({
      'POST /v1/etl/runs': { status: 503, body: { detail: 'tunnel down' } },
    });

    await runCron(vars, { at: sevenOClock });
    await origin.set({
      routes: {
        'GET /v1/etl/sources': { body: { items: sources } },
        'POST /v1/etl/runs': { status: 202, body: { id: 42 } },
      },
    });
    await runCron(vars, { at: sevenOClock + 5 * MINUTE });
    await runCron(vars, { at: sevenOClock + 10 * MINUTE });

    expect(await starts()).toHaveLength(2);
    const outcomes = (await storedList<EtlStart>(prefix, etlStartsKey)).map((s) => s.outcome);
    expect(outcomes).toEqual(['started', 'unreachable']);
  });

  it('logs and starts nothing when the origin cannot list its sources', async () => {
    const { starts, vars } = await setup({
      'GET /v1/etl/sources': { status: 503, body: { detail: 'database down' } },
    });
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});

    await runCron(vars, { at: sevenOClock });

    const lines = error.mock.calls.map((c) => String(c[0]));
    error.mockRestore();
    expect(lines.some((l) => l.includes('GET /v1/etl/sources: answered 503'))).toBe(true);
    expect(await starts()).toEqual([]);
  });

  it('logs and starts nothing when the source list is malformed', async () => {
    const { starts, vars } = await setup({
      'GET /v1/etl/sources': { body: { items: [{ name: '../../admin', schedule: '* * * * *' }] } },
    });
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});

    await runCron(vars, { at: sevenOClock });

    const lines = error.mock.calls.map((c) => String(c[0]));
    error.mockRestore();
    expect(lines.some((l) => l.includes('scheduled job failed') && l.includes('"job":"etl"'))).toBe(
      true,
    );
    expect(await starts()).toEqual([]);
  });
});

describe('the ETL scheduler without Redis', () => {
  it('still starts a due source, looking back one period only, and says it cannot lock', async () => {
    const origin = await scenario({
      routes: {
        'GET /v1/etl/sources': { body: { items: sources } },
        'POST /v1/etl/runs': { status: 202, body: { id: 1 } },
      },
    });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const vars = { ORIGIN_URL: origin.originUrl, ...etlOnly };

    await runCron(vars, { at: sevenOClock });
    await runCron(vars, { at: sevenOClock + 5 * MINUTE });

    const lines = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(lines.some((l) => l.includes('ETL starts are not locked'))).toBe(true);
    const posts = (await origin.counts()).requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
  });
});
