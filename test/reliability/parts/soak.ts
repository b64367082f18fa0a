import { residentBytes } from '../lib/children.js';
import { type MachineSample, machineDuring } from '../lib/machine.js';
import type { Platform } from '../lib/platform.js';
import { type Bucket, buckets, judge, type SlownessWindow } from '../lib/verdicts.js';
import { sleep } from '../lib/wait.js';
import type { Kind, LoadRecord } from '../load/mix.js';

const MiB = 1024 * 1024;

export type RssSample = { atS: number; mib: number };

export type SoakWindow = {
  from: number;
  to: number;
  bucketMs: number;
  rss: RssSample[];
};

/**
 * The soak: steady mixed load through the real Worker for the whole window, no fault injected.
 * It only watches (the origin's RSS every `sampleMs`, a progress line per bucket); the verdict
 * comes from summarizeSoak once every answer is in.
 */
export async function runSoak(options: {
  platform: Platform;
  records: readonly LoadRecord[];
  seconds: number;
  log: (line: string) => void;
}): Promise<SoakWindow> {
  const { platform, records, seconds, log } = options;
  // A minute per bucket, as the issue asks; a short soak (--quick) gets 10 s buckets.
  const bucketMs = seconds >= 120 ? 60_000 : 10_000;
  const sampleMs = seconds >= 120 ? 2_000 : 1_000;
  const from = Date.now();
  const to = from + seconds * 1000;
  const rss: RssSample[] = [];
  let nextReport = from + bucketMs;
  while (Date.now() < to) {
    const pid = platform.origin.pid();
    const bytes = pid === undefined ? undefined : await residentBytes(pid);
    if (bytes !== undefined) rss.push({ atS: (Date.now() - from) / 1000, mib: bytes / MiB });
    if (Date.now() >= nextReport) {
      // Answers of the bucket still in flight are missing here; the summary has them all.
      const [bucket] = buckets(records, nextReport - bucketMs, nextReport, bucketMs, from);
      if (bucket) log(`  ${progressLine(bucket, rss.at(-1)?.mib)}`);
      nextReport += bucketMs;
    }
    await sleep(Math.min(sampleMs, Math.max(0, to - Date.now())));
  }
  return { from, to, bucketMs, rss };
}

function progressLine(bucket: Bucket, rssMiB: number | undefined): string {
  const statuses = Object.entries(bucket.statuses)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  return `${bucket.fromS}–${bucket.toS} s: ${bucket.requests} requests (${bucket.perSecond}/s), p50 ${bucket.p50Ms} ms, p99 ${bucket.p99Ms} ms, origin RSS ${rssMiB?.toFixed(0) ?? '?'} MiB; ${statuses}`;
}

export type SoakSummary = {
  seconds: number;
  requests: number;
  perSecond: number;
  judgement: ReturnType<typeof judge>;
  buckets: (Bucket & { machine?: ReturnType<typeof machineDuring> })[];
  rss: {
    samples: number;
    warmupS: number;
    baselineMiB: number;
    endMiB: number;
    growthMiB: number;
    boundMiB: number;
    /** Least-squares slope over the samples after warm-up. */
    slopeMiBPerMinute: number;
  };
  p99: { firstMs: number; lastMs: number; ratio: number; bound: string };
  violations: string[];
};

/**
 * The soak's properties, over every request started in its window:
 * - nothing unexpected (judge): no 5xx at all (no fault was injected), every request answered;
 * - the origin's RSS after warm-up grows by at most `boundMiB` (baseline: the median of the
 *   samples just after warm-up; end: the median of the last ones);
 * - p99 is reported per bucket; only a gross drift fails: the last bucket's p99 over 5× the
 *   first's and over one second.
 */
export function summarizeSoak(
  window: SoakWindow,
  records: readonly LoadRecord[],
  kinds: readonly Kind[],
  origin: number,
  slowness: readonly SlownessWindow[],
  machine: readonly MachineSample[],
): SoakSummary {
  const inside = records.filter((r) => r[0] >= window.from && r[0] < window.to);
  const seconds = (window.to - window.from) / 1000;
  const judgement = judge(inside, kinds, [], origin, slowness);
  const perBucket = buckets(records, window.from, window.to, window.bucketMs, window.from).map(
    (b) => ({
      ...b,
      machine: machineDuring(machine, window.from + b.fromS * 1000, window.from + b.toS * 1000),
    }),
  );
  const violations: string[] = [];
  // Unexpected answers are violations of the whole load (run.ts names the soak as where they
  // happened); here only what is the soak's own: memory and latency drift.

  // Warm-up: the first minute of a long soak, the first third of a short one.
  const warmupS = seconds >= 120 ? 60 : seconds / 3;
  const tailS = seconds >= 120 ? 30 : seconds / 6;
  const after = window.rss.filter((s) => s.atS >= warmupS);
  const baseline = median(after.filter((s) => s.atS < warmupS + tailS).map((s) => s.mib));
  const end = median(window.rss.filter((s) => s.atS >= seconds - tailS).map((s) => s.mib));
  // A short soak cannot tell a leak from V8 sizing its heap: only a runaway process fails it.
  const boundMiB = seconds >= 120 ? 96 : 192;
  const growth = end - baseline;
  if (!(growth <= boundMiB))
    violations.push(
      `soak: the origin's RSS grew by ${growth.toFixed(0)} MiB after warm-up (${baseline.toFixed(0)} → ${end.toFixed(0)} MiB), over the ${boundMiB} MiB bound`,
    );

  const full = perBucket.filter((b) => b.requests > 0 && b.toS - b.fromS >= window.bucketMs / 1000);
  const firstMs = full[0]?.p99Ms ?? Number.NaN;
  const lastMs = full.at(-1)?.p99Ms ?? Number.NaN;
  const ratio = lastMs / firstMs;
  if (full.length >= 2 && ratio > 5 && lastMs > 1_000)
    violations.push(
      `soak: p99 drifted from ${firstMs} ms in the first bucket to ${lastMs} ms in the last (over 5× and over 1 s)`,
    );
  return {
    seconds,
    requests: inside.length,
    perSecond: Math.round((inside.length / seconds) * 10) / 10,
    judgement,
    buckets: perBucket,
    rss: {
      samples: window.rss.length,
      warmupS: Math.round(warmupS),
      baselineMiB: round1(baseline),
      endMiB: round1(end),
      growthMiB: round1(growth),
      boundMiB,
      slopeMiBPerMinute: round1(slope(after) * 60),
    },
    p99: {
      firstMs,
      lastMs,
      ratio: round1(ratio),
      bound: 'fails only when the last bucket’s p99 is over 5× the first’s and over 1 s',
    },
    violations,
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** MiB per second, least squares. */
function slope(samples: RssSample[]): number {
  if (samples.length < 2) return Number.NaN;
  const n = samples.length;
  const meanX = samples.reduce((s, p) => s + p.atS, 0) / n;
  const meanY = samples.reduce((s, p) => s + p.mib, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.atS - meanX) * (p.mib - meanY);
    den += (p.atS - meanX) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
