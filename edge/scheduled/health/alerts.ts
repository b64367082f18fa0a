import * as z from 'zod/mini';
import { MINUTE_MS, type MonitoringConfig } from '../config';
import {
  type CheckName,
  type CheckState,
  checkNames,
  checkStates,
  type Observation,
} from './checks';
import type { Incident } from './history';

export type Severity = 'critical' | 'warning';

/** What one check's alert says. */
export type AlertEvent = {
  check: CheckName;
  /** `down`/`degraded`: it became so; `recovered`: back up; `reminder`: still not up. */
  kind: 'down' | 'degraded' | 'recovered' | 'reminder';
  state: CheckState;
  /** What the operators were last told (for a recovery: what recovered). */
  previous: CheckState;
  severity: Severity;
  /** When the current state began, epoch ms. */
  since: number;
  /** For a recovery: how long the check was not up, when this run saw it end. */
  lastedMs: number | null;
  detail: string | null;
};

/** The checks whose `down` pages someone. */
const pagingChecks: readonly CheckName[] = ['origin', 'database', 'backup'];

/**
 * Critical pages someone: without the origin or its database nothing answers, and a backup the
 * origin calls critical (failed, missing, over 26 h) leaves the data unprotected. Everything else
 * (degraded checks, a stale or failing feed, slowness) is a warning.
 */
export function severityOf(check: CheckName, state: CheckState): Severity {
  return state === 'down' && pagingChecks.includes(check) ? 'critical' : 'warning';
}

const stateSchema = z.enum(checkStates);
const checkMemorySchema = z.object({
  /** The confirmed state: observed `fail_after` times in a row (once for `up`). */
  state: stateSchema,
  since: z.number(),
  /** A different state seen fewer times than it takes to confirm it. */
  pending: z.nullable(z.object({ state: stateSchema, count: z.int(), since: z.number() })),
  /** What the operators were last told, and when (the reminder counts from there). */
  notified: z.object({ state: stateSchema, at: z.number() }),
  /** When an alert announcing each state was last sent (the suppression window). */
  sent: z.partialRecord(stateSchema, z.number()),
});
type CheckMemory = z.infer<typeof checkMemorySchema>;

/** Kept in the store between runs (historyKeys.memory). */
export const healthMemorySchema = z.object({
  checks: z.partialRecord(z.enum(checkNames), checkMemorySchema),
});
export type HealthMemory = z.infer<typeof healthMemorySchema>;

export type Evaluation = {
  memory: HealthMemory;
  events: AlertEvent[];
  /** Confirmed state changes (recorded as incidents whether or not an alert went out). */
  transitions: Incident[];
  /** Alerts held back by the suppression window. */
  suppressed: { check: CheckName; state: CheckState }[];
};

/**
 * The alerting rules, pure, with time passed in (the trigger's scheduledTime), so windows are
 * tested by moving a number:
 *
 * - A check's state changes only after `fail_after` consecutive observations of the new state
 *   (one for a return to `up`). `unknown` observations change nothing: with the origin down, the
 *   database is not "down" too; the one origin alert covers it.
 * - An alert goes out when the confirmed state differs from what the operators were last told,
 *   unless the same alert (same check, same state) went out within `suppress_minutes`: a
 *   flapping check does not page every 10 minutes. A recovery is never held back: it answers an
 *   alert that was sent.
 * - A check still down or degraded `remind_minutes` after its last alert gets a reminder.
 */
export function evaluate(
  previous: HealthMemory | null,
  observation: Observation,
  config: MonitoringConfig,
): Evaluation {
  const at = observation.at;
  const events: AlertEvent[] = [];
  const transitions: Incident[] = [];
  const suppressed: Evaluation['suppressed'] = [];
  const checks: HealthMemory['checks'] = {};

  for (const check of checkNames) {
    const seen = observation.checks[check];
    const m: CheckMemory = structuredClone(previous?.checks[check]) ?? {
      state: 'up',
      since: at,
      pending: null,
      notified: { state: 'up', at },
      sent: {},
    };

    let left: number | null = null;
    if (seen.state !== 'unknown') {
      if (seen.state === m.state) {
        m.pending = null;
      } else {
        const pending =
          m.pending?.state === seen.state
            ? { ...m.pending, count: m.pending.count + 1 }
            : { state: seen.state, count: 1, since: at };
        const needed = seen.state === 'up' ? 1 : config.fail_after;
        if (pending.count >= needed) {
          transitions.push({ at, check, from: m.state, to: seen.state });
          left = m.since;
          m.state = seen.state;
          m.since = pending.since;
          m.pending = null;
        } else {
          m.pending = pending;
        }
      }
    }

    const event = (kind: AlertEvent['kind']): AlertEvent => ({
      check,
      kind,
      state: m.state,
      previous: m.notified.state,
      severity: severityOf(check, kind === 'recovered' ? m.notified.state : m.state),
      since: m.since,
      lastedMs: kind === 'recovered' && left !== null ? m.since - left : null,
      detail: kind === 'recovered' ? null : seen.detail,
    });

    if (m.state !== m.notified.state) {
      const lastSent = m.sent[m.state];
      const heldBack =
        m.state !== 'up' &&
        lastSent !== undefined &&
        at - lastSent < config.suppress_minutes * MINUTE_MS;
      if (heldBack) {
        suppressed.push({ check, state: m.state });
      } else {
        events.push(event(m.state === 'up' ? 'recovered' : (m.state as 'down' | 'degraded')));
        m.notified = { state: m.state, at };
        m.sent[m.state] = at;
      }
    } else if (m.state !== 'up' && at - m.notified.at >= config.remind_minutes * MINUTE_MS) {
      events.push(event('reminder'));
      m.notified = { state: m.state, at };
      m.sent[m.state] = at;
    }
    checks[check] = m;
  }
  return { memory: { checks }, events, transitions, suppressed };
}

/**
 * Without a store there is no memory: every check that is not up now is reported, on every run
 * (the operator is told so in the alert and the log).
 */
export function currentProblems(observation: Observation): AlertEvent[] {
  return checkNames.flatMap((check) => {
    const { state, detail } = observation.checks[check];
    if (state !== 'down' && state !== 'degraded') return [];
    return [
      {
        check,
        kind: state,
        state,
        previous: 'unknown' as const,
        severity: severityOf(check, state),
        since: observation.at,
        lastedMs: null,
        detail,
      },
    ];
  });
}

/** The memory as read from the store, or null (first run, or a shape from another version). */
export function parseMemory(raw: unknown): HealthMemory | null {
  const parsed = healthMemorySchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}
