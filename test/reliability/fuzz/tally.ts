import { isProblem } from '../lib/problem-shape.js';
import { entry } from '../lib/wait.js';
import type { FuzzCase } from './cases.js';

/** What came back for one case. `status` 0: no answer at all. */
export type FuzzAnswer = {
  status: number;
  contentType: string | null;
  body: string;
  /**
   * Whether our code answered: every answer of the Worker (and of the origin) carries
   * X-Request-Id. Without it, the runtime refused the request before any of our code ran
   * (workerd's "header too large" for a URL of hundreds of KB; Cloudflare answers those with
   * its own 414 in production).
   */
  fromOurCode: boolean;
  error?: string;
};

export type FuzzExample = {
  endpoint: string;
  family: string;
  method: string;
  /** The request line's target, cut to 300 characters. */
  target: string;
  status: number;
  contentType: string | null;
  body: string;
};

export type FuzzTally = {
  cases: number;
  /** Cases node:http would not put on the wire (not sent, not counted as cases). */
  unsendable: number;
  statuses: Record<string, number>;
  byEndpoint: Record<string, { cases: number; statuses: Record<string, number> }>;
  byFamily: Record<string, number>;
  /** Refused by the runtime before our code (see FuzzAnswer.fromOurCode): reported, not judged. */
  refusedByRuntime: Record<string, number>;
  /** Violations by reason: how many, on which endpoints, up to three examples. */
  violations: Record<
    string,
    { count: number; endpoints: Record<string, number>; examples: FuzzExample[] }
  >;
};

export function emptyTally(): FuzzTally {
  return {
    cases: 0,
    unsendable: 0,
    statuses: {},
    byEndpoint: {},
    byFamily: {},
    refusedByRuntime: {},
    violations: {},
  };
}

/**
 * The properties of every answer to a hostile request: one at all, never a 5xx, and every 4xx
 * application/problem+json with a `detail`.
 */
export function record(tally: FuzzTally, fuzzCase: FuzzCase, answer: FuzzAnswer): void {
  if (answer.status < 0) {
    tally.unsendable += 1;
    return;
  }
  const status = String(answer.status || 'no answer');
  tally.cases += 1;
  tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
  const endpoint = entry(tally.byEndpoint, fuzzCase.endpoint, () => ({
    cases: 0,
    statuses: {} as Record<string, number>,
  }));
  endpoint.cases += 1;
  endpoint.statuses[status] = (endpoint.statuses[status] ?? 0) + 1;
  tally.byFamily[fuzzCase.family] = (tally.byFamily[fuzzCase.family] ?? 0) + 1;

  let reason: string | undefined;
  if (answer.status === 0) reason = `no answer (${answer.error ?? 'connection closed'})`;
  else if (!answer.fromOurCode && answer.status >= 400 && answer.status < 500) {
    tally.refusedByRuntime[status] = (tally.refusedByRuntime[status] ?? 0) + 1;
    return;
  } else if (answer.status >= 500) reason = `${answer.status} to a hostile request`;
  else if (answer.status >= 400 && !isProblem(answer.contentType, answer.body))
    reason = `${answer.status} that is not problem+json with a detail`;
  if (!reason) return;
  const violation = entry(tally.violations, reason, () => ({
    count: 0,
    endpoints: {} as Record<string, number>,
    examples: [] as FuzzExample[],
  }));
  violation.count += 1;
  violation.endpoints[fuzzCase.endpoint] = (violation.endpoints[fuzzCase.endpoint] ?? 0) + 1;
  if (violation.examples.length < 3)
    violation.examples.push({
      endpoint: fuzzCase.endpoint,
      family: fuzzCase.family,
      method: fuzzCase.method,
      target:
        fuzzCase.target.length > 300
          ? `${fuzzCase.target.slice(0, 300)}… (${fuzzCase.target.length} chars)`
          : fuzzCase.target,
      status: answer.status,
      contentType: answer.contentType,
      body: answer.body.slice(0, 300),
    });
}

/**
 * Runs `work` over `items`, `concurrency` at a time.
 *
 * @example
 *   await eachLimited(cases, 8, (c) => send(c));
 */
export async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
