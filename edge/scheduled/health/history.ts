import * as z from 'zod/mini';
import {
  type CheckName,
  type CheckState,
  checkNames,
  checkStates,
  type Observation,
} from './checks';

/** Names in the monitoring store (under MONITORING.prefix). */
export const historyKeys = {
  /** The health checks, newest first, `historyLength()` of them. */
  samples: 'health:samples',
  /** Confirmed state changes, newest first: the status page's "recent incidents". */
  incidents: 'health:incidents',
  /** The alerting memory (alerts.ts): confirmed states, what was announced, when. */
  memory: 'health:memory',
} as const;

/**
 * One check as kept in the history. Compact on purpose: 7 days every 5 minutes is 2016 samples,
 * read in one LRANGE by the status page, so each is ~70 bytes: `c` holds one letter per check in
 * `checkNames` order (u up, d degraded, x down, ? unknown). Details stay out: the history feeds
 * a public page.
 */
export type StoredSample = { at: number; http: number | null; ms: number | null; c: string };

export type Sample = {
  at: number;
  http: number | null;
  latencyMs: number | null;
  checks: Record<CheckName, CheckState>;
};

const letters: Record<CheckState, string> = { up: 'u', degraded: 'd', down: 'x', unknown: '?' };
const byLetter = new Map(checkStates.map((s) => [letters[s], s]));

export function encodeSample(o: Observation): StoredSample {
  return {
    at: o.at,
    http: o.http,
    ms: o.latencyMs,
    c: checkNames.map((n) => letters[o.checks[n].state]).join(''),
  };
}

const storedSampleSchema = z.object({
  at: z.int().check(z.nonnegative()),
  http: z.nullable(z.int()),
  ms: z.nullable(z.number().check(z.nonnegative())),
  c: z.string().check(z.regex(/^[udx?]{1,32}$/)),
});

/** A stored sample, or null for anything else (a corrupt or foreign entry is skipped). */
export function decodeSample(raw: unknown): Sample | null {
  const parsed = storedSampleSchema.safeParse(raw);
  if (!parsed.success) return null;
  const { at, http, ms, c } = parsed.data;
  const checks = Object.fromEntries(
    // A check added after the sample was written reads as unknown.
    checkNames.map((n, i) => [n, byLetter.get(c[i] ?? '?') ?? 'unknown']),
  ) as Record<CheckName, CheckState>;
  return { at, http, latencyMs: ms, checks };
}

/** A confirmed change of one check's state. Nothing in it is private. */
export type Incident = { at: number; check: CheckName; from: CheckState; to: CheckState };

export const incidentSchema = z.object({
  at: z.int().check(z.nonnegative()),
  check: z.enum(checkNames),
  from: z.enum(checkStates),
  to: z.enum(checkStates),
});

export function decodeIncident(raw: unknown): Incident | null {
  const parsed = incidentSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** The API answers: the origin reachable and its database up (degraded still counts as up). */
export function isAvailable(checks: Record<CheckName, CheckState>): boolean {
  return checks.origin !== 'down' && checks.database !== 'down';
}

/** The nearest-rank percentile of `values` (0 < p ≤ 100), or null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.ceil((p / 100) * sorted.length)) - 1] ?? null;
}

/** Share of samples (0..1) for which `isUp` holds, or null when there are none. */
export function share<T>(items: readonly T[], isUp: (item: T) => boolean): number | null {
  if (items.length === 0) return null;
  return items.filter(isUp).length / items.length;
}
