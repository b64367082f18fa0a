import type { Fault } from '../lib/options.js';
import { countStatuses } from '../lib/verdicts.js';
import type { Kind, LoadRecord, Target } from '../load/mix.js';
import { CACHE_CODES, FLAG_RATE_LIMIT_HEADERS } from '../load/mix.js';

/**
 * When clients count as served again after a fault, and a second-by-second view of what they
 * saw around it: from the load's records alone.
 */

/** Recovery counts once this much traffic after it went without a failure. */
export const STABLE_MS = 3_000;

type Qualifier = (r: LoadRecord) => boolean;

/** A 2xx the origin itself answered (not a cached copy), through the fail-open Worker. */
function originServed(kinds: readonly Kind[]): Qualifier {
  const miss = CACHE_CODES.indexOf('MISS');
  const bypass = CACHE_CODES.indexOf('BYPASS');
  return (r) =>
    kinds[r[3]]?.target === 'main' &&
    r[2] >= 200 &&
    r[2] < 300 &&
    (r[4] === miss || r[4] === bypass);
}

/** What "recovered" means for each fault: every qualifier met, after the last 5xx. */
export function qualifiersOf(fault: Fault, kinds: readonly Kind[]): Qualifier[] {
  if (fault === 'redis-kill')
    return [
      (r) => kinds[r[3]]?.target === 'main' && (r[5] & FLAG_RATE_LIMIT_HEADERS) !== 0,
      (r) => kinds[r[3]]?.target === 'closed' && r[2] >= 200 && r[2] < 300,
    ];
  return [originServed(kinds)];
}

/** A failed answer, whatever caused it: it pushes the recovery point past it. */
const failed = (r: LoadRecord) => r[2] === 0 || r[2] >= 500;

/**
 * When clients were served again: among requests started in [since, until], the first answers
 * meeting every qualifier that started after the last failed one, provided `stableMs` of
 * requests were seen after them (else null). Returns when the last of those answers arrived.
 *
 * "After the last failure" matters: a slow origin's held requests time out up to a deadline
 * after it is fast again, and their failures can re-open the breaker; the first 2xx after the
 * switch is not yet recovery.
 */
export function recoveredAt(
  records: readonly LoadRecord[],
  qualifiers: readonly Qualifier[],
  since: number,
  until: number,
): number | null {
  let lastFailure = since - 1;
  // A request still running at `until` (the next fault's start) may fail because of that one.
  for (const r of records)
    if (r[0] >= since && r[0] + r[1] < until && failed(r))
      lastFailure = Math.max(lastFailure, r[0]);
  let latest = 0;
  for (const qualifies of qualifiers) {
    let first: LoadRecord | undefined;
    for (const r of records)
      if (
        r[0] > lastFailure &&
        r[0] <= until &&
        qualifies(r) &&
        (!first || r[0] + r[1] < first[0] + first[1])
      )
        first = r;
    if (!first || first[0] + STABLE_MS > until) return null;
    latest = Math.max(latest, first[0] + first[1]);
  }
  return latest;
}

/**
 * Per second around a fault: what each Worker answered, by the requests' start (t = 0 is the
 * fault's start), with how long the slowest took. For reading a failure after the fact.
 */
export function timeline(
  records: readonly LoadRecord[],
  kinds: readonly Kind[],
  from: number,
  to: number,
  zero: number,
): string[] {
  const lines: string[] = [];
  for (let at = from; at < to; at += 1_000) {
    const inside = records.filter((r) => r[0] >= at && r[0] < at + 1_000);
    const part = (target: Target) => {
      const mine = inside.filter((r) => kinds[r[3]]?.target === target);
      const counts = countStatuses(mine);
      const slowest = Math.max(0, ...mine.map((r) => r[1]));
      return `${
        Object.entries(counts)
          .map(([s, n]) => `${s}×${n}`)
          .join(' ') || '-'
      } (max ${slowest} ms)`;
    };
    lines.push(
      `t${at - zero >= 0 ? '+' : ''}${((at - zero) / 1000).toFixed(0)}s main ${part('main')} | closed ${part('closed')}`,
    );
  }
  return lines;
}
