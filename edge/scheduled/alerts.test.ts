import { describe, expect, it } from 'vitest';
import { monitoringSchema } from './config';
import { evaluate, type HealthMemory } from './health/alerts';
import { type CheckName, type CheckState, checkNames, type Observation } from './health/checks';

const config = monitoringSchema.parse({});
const MINUTE = 60_000;

/** An observation at minute `m` where every check is up except those given. */
function seen(m: number, states: Partial<Record<CheckName, CheckState>> = {}): Observation {
  const checks = Object.fromEntries(
    checkNames.map((n) => [n, { state: states[n] ?? 'up', detail: null }]),
  ) as Observation['checks'];
  return { at: m * 5 * MINUTE, http: 200, latencyMs: 10, checks };
}

/** Runs the observations in order, returning the events of each run as `check:kind`. */
function replay(observations: Observation[]) {
  let memory: HealthMemory | null = null;
  return observations.map((o) => {
    const result = evaluate(memory, o, config);
    memory = result.memory;
    return result.events.map((e) => `${e.check}:${e.kind}`);
  });
}

const originDown = { origin: 'down', database: 'unknown', disk: 'unknown' } as const;

describe('the alerting rules', () => {
  it('alert nobody for a single failed check between good ones', () => {
    expect(replay([seen(0), seen(1, originDown), seen(2), seen(3, originDown), seen(4)])).toEqual([
      [],
      [],
      [],
      [],
      [],
    ]);
  });

  it('let an unknown observation neither confirm nor clear a pending failure', () => {
    expect(
      replay([
        seen(0, { database: 'down' }),
        seen(1, originDown), // the database is unknown while the origin is away
        seen(2, { database: 'down' }),
      ]),
    ).toEqual([[], [], ['database:down']]);
  });

  it('announce two checks that change in the same run together, each once', () => {
    const both = { disk: 'degraded', backup: 'degraded' } as const;
    expect(replay([seen(0, both), seen(1, both), seen(2, both), seen(3)])).toEqual([
      [],
      ['backup:degraded', 'disk:degraded'],
      [],
      ['backup:recovered', 'disk:recovered'],
    ]);
  });

  it('give a recovery the severity of what recovered, and its duration', () => {
    let memory: HealthMemory | null = null;
    for (const o of [seen(0, originDown), seen(1, originDown), seen(2, originDown)])
      memory = evaluate(memory, o, config).memory;

    const { events } = evaluate(memory, seen(3), config);

    expect(events).toEqual([
      expect.objectContaining({
        check: 'origin',
        kind: 'recovered',
        previous: 'down',
        severity: 'critical',
        lastedMs: 15 * MINUTE,
      }),
    ]);
  });

  it('treat a check it has no memory of as up until it fails twice', () => {
    const { events, memory } = evaluate({ checks: {} }, seen(0, { disk: 'degraded' }), config);
    expect(events).toEqual([]);
    expect(memory.checks.disk).toMatchObject({
      state: 'up',
      pending: { state: 'degraded', count: 1 },
    });
  });
});
