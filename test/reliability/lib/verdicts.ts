import {
  CACHE_CODES,
  FLAG_PROBLEM,
  FLAG_TIMEOUT,
  type Kind,
  type LoadRecord,
  type Target,
} from '../load/mix.js';
import type { WorkerEvent } from './platform.js';
import { entry } from './wait.js';

/**
 * During a fault (and until the service recovered from it), these statuses are what the fault
 * is expected to cause, per Worker: the breaker's and the fail-closed Worker's 503, the deadline's
 * 504, an unreachable origin's 502. Outside every window, none is.
 */
export type Allowance = {
  fault: string;
  from: number;
  to: number;
  statuses: Partial<Record<Target, readonly number[]>>;
};

export type Unexpected = {
  reason: string;
  /** Where the first one happened (the soak, a fault), when the caller says. */
  phase: string;
  count: number;
  /** How many of each kind of request. */
  kinds: Record<string, number>;
  /** Seconds from the load's start to the first one. */
  firstAtS: number;
};

export type Judgement = {
  requests: number;
  statuses: Record<string, number>;
  byKind: Record<string, { requests: number; statuses: Record<string, number> }>;
  cache: Record<string, number>;
  /** 429s of the key sent over its quota on purpose. */
  intended429: number;
  /** Per fault, the statuses it was allowed to cause and did. */
  intended: Record<string, Record<string, number>>;
  /**
   * Outside every fault, what slowness alone caused, by kind: 504s (the origin past the edge's
   * deadline) and 503s of a breaker that timeouts alone had opened (slownessWindows). Reported,
   * never a failure: the issue wants figures reported, not asserted.
   */
  slowness: { deadline504: Record<string, number>; slow503: Record<string, number> };
  unexpected: Unexpected[];
};

const label = (status: number) => (status === 0 ? 'no answer' : String(status));

/**
 * Every outcome against what its kind expects (mix.ts) and the fault windows it fell in. What is
 * left in `unexpected` is a violated property: a 5xx outside a fault (but a 504, the edge's
 * deadline: see deadlineExceeded), a request that got no answer at all, a well-formed request
 * refused, a malformed one accepted, a 4xx that is not problem+json.
 */
export function judge(
  records: readonly LoadRecord[],
  kinds: readonly Kind[],
  allowances: readonly Allowance[],
  origin: number,
  slowness: readonly SlownessWindow[] = [],
  phaseOf: (start: number) => string = () => '',
): Judgement {
  const judgement: Judgement = {
    requests: 0,
    statuses: {},
    byKind: {},
    cache: {},
    intended429: 0,
    intended: {},
    slowness: { deadline504: {}, slow503: {} },
    unexpected: [],
  };
  const unexpected = new Map<string, Unexpected>();
  const flag = (reason: string, kind: Kind, start: number) => {
    const phase = phaseOf(start);
    const key = `${reason}|${phase}`;
    let found = unexpected.get(key);
    if (!found) {
      found = {
        reason,
        phase,
        count: 0,
        kinds: {},
        firstAtS: Math.round((start - origin) / 100) / 10,
      };
      unexpected.set(key, found);
    }
    found.count += 1;
    found.kinds[kind.name] = (found.kinds[kind.name] ?? 0) + 1;
  };
  for (const [start, duration, status, kindIndex, cache, flags] of records) {
    const kind = kinds[kindIndex] as Kind;
    judgement.requests += 1;
    const key = label(status);
    judgement.statuses[key] = (judgement.statuses[key] ?? 0) + 1;
    const perKind = entry(judgement.byKind, kind.name, () => ({
      requests: 0,
      statuses: {} as Record<string, number>,
    }));
    perKind.requests += 1;
    perKind.statuses[key] = (perKind.statuses[key] ?? 0) + 1;
    const cacheLabel = CACHE_CODES[cache] || 'none';
    judgement.cache[cacheLabel] = (judgement.cache[cacheLabel] ?? 0) + 1;

    if (status === 0) {
      flag(
        flags & FLAG_TIMEOUT ? 'no answer within the client timeout' : 'connection failed',
        kind,
        start,
      );
      continue;
    }
    if (status >= 500) {
      const window = allowances.find(
        (a) => overlaps(start, duration, a) && a.statuses[kind.target]?.includes(status),
      );
      if (window) {
        const counts = entry(judgement.intended, window.fault, (): Record<string, number> => ({}));
        counts[key] = (counts[key] ?? 0) + 1;
      } else if (status === 504) {
        const slow = judgement.slowness.deadline504;
        slow[kind.name] = (slow[kind.name] ?? 0) + 1;
      } else if (
        status === 503 &&
        slowness.some(
          (w) =>
            w.target === kind.target &&
            (!w.apiKeysOnly || kind.credentials === 'quota-key') &&
            overlaps(start, duration, w),
        )
      ) {
        const slow = judgement.slowness.slow503;
        slow[kind.name] = (slow[kind.name] ?? 0) + 1;
      } else flag(`${status} that no fault allows`, kind, start);
      continue;
    }
    if (status >= 400 && !(flags & FLAG_PROBLEM))
      flag(`${status} that is not problem+json with a detail`, kind, start);
    if (kind.expect === 'ok' && status >= 400)
      flag(`well-formed request refused with ${status}`, kind, start);
    if (kind.expect === 'bad' && status < 400)
      flag(`malformed request accepted with ${status}`, kind, start);
    if (kind.expect === 'quota') {
      if (status === 429) judgement.intended429 += 1;
      else if (status >= 400) flag(`over-quota key refused with ${status}`, kind, start);
    }
  }
  judgement.unexpected = [...unexpected.values()].sort((a, b) => a.firstAtS - b.firstAtS);
  return judgement;
}

export type SlownessWindow = {
  target: Target;
  from: number;
  to: number;
  /** Only requests with an API key: the edge could not look the key up in time. */
  apiKeysOnly?: boolean;
};

/**
 * When a Worker's breaker was open because of timeouts alone, or an API key could not be looked
 * up in time: the origin was slow (a loaded machine, a cache stampede after an ETL run), not
 * down. From the Worker's own log: each time
 * the breaker opened, the failures it had seen since it last closed; the window runs until it
 * closed again (plus a second). A breaker opened by a connection failure is not slowness, and
 * its 503s stay violations outside the faults that allow them (judge checks those first).
 */
export function slownessWindows(events: Record<Target, readonly WorkerEvent[]>): SlownessWindow[] {
  const windows: SlownessWindow[] = [];
  for (const target of Object.keys(events) as Target[]) {
    let failures: WorkerEvent['event'][] = [];
    let open: SlownessWindow | undefined;
    for (const { at, event } of events[target]) {
      // The edge gives a key lookup 5 s (edge/middleware/auth/api-key.ts) and answers 503.
      if (event === 'lookup-timeout')
        windows.push({ target, from: at - 6_000, to: at + 1_000, apiKeysOnly: true });
      else if (event === 'timeout' || event === 'unreachable') failures.push(event);
      else if (event === 'closed') {
        if (open) open.to = at + 1_000;
        open = undefined;
        failures = [];
      } else if (event === 'open') {
        const timeoutsOnly = failures.length > 0 && failures.every((f) => f === 'timeout');
        if (timeoutsOnly && !open) {
          open = { target, from: at, to: Number.POSITIVE_INFINITY };
          windows.push(open);
        }
        failures = [];
      }
    }
  }
  return windows;
}

/**
 * Whether a request was under way at some point of the window: one already in flight when a
 * fault began can fail because of it.
 */
export function overlaps(start: number, duration: number, window: { from: number; to: number }) {
  return start <= window.to && start + duration >= window.from;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(rank, 1)) - 1] as number;
}

export type Bucket = {
  fromS: number;
  toS: number;
  requests: number;
  perSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
};

/** Latency and statuses per time bucket of requests started in [from, to). */
export function buckets(
  records: readonly LoadRecord[],
  from: number,
  to: number,
  bucketMs: number,
  origin = from,
): Bucket[] {
  const out: Bucket[] = [];
  for (let at = from; at < to; at += bucketMs) {
    const end = Math.min(to, at + bucketMs);
    const inside = records.filter((r) => r[0] >= at && r[0] < end);
    const durations = inside.map((r) => r[1]).sort((a, b) => a - b);
    const statuses: Record<string, number> = {};
    for (const r of inside) statuses[label(r[2])] = (statuses[label(r[2])] ?? 0) + 1;
    out.push({
      fromS: Math.round((at - origin) / 1000),
      toS: Math.round((end - origin) / 1000),
      requests: inside.length,
      perSecond: Math.round((inside.length / ((end - at) / 1000)) * 10) / 10,
      p50Ms: percentile(durations, 0.5),
      p90Ms: percentile(durations, 0.9),
      p99Ms: percentile(durations, 0.99),
      maxMs: durations.at(-1) ?? Number.NaN,
      statuses,
    });
  }
  return out;
}

export function countStatuses(
  records: readonly LoadRecord[],
  target?: Target,
  kinds?: readonly Kind[],
) {
  const counts: Record<string, number> = {};
  for (const r of records) {
    if (target && kinds && kinds[r[3]]?.target !== target) continue;
    counts[label(r[2])] = (counts[label(r[2])] ?? 0) + 1;
  }
  return counts;
}
