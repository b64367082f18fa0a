/**
 * The Worker's start-up cost, measured the way Cloudflare reports it: `wrangler check startup`
 * builds the Worker as deployed, evaluates its top level in a local workerd under the V8 profiler
 * and writes the profile. One profile is noisy on a shared machine (a stray GC is a few ms), so
 * this takes several and prints the medians: the CPU busy in the profile (what the isolate spends
 * before it can answer) and the span from the profiler's start to its end.
 *
 *   npx tsx scripts/worker-startup.ts [--runs 7] [--env production] [--cwd <project>]
 *
 * Figures and how they moved: docs/benchmarks.md, "Worker size".
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};

/** CPU time (ms) spent outside `(idle)`, and the profile's whole span (ms). */
export function startupOf(profile: CpuProfile): { busyMs: number; spanMs: number } {
  const idle = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id),
  );
  let busy = 0;
  // A sample's time is the gap to the next one (timeDeltas[i] is the gap before sample i).
  profile.samples.forEach((id, i) => {
    if (!idle.has(id)) busy += profile.timeDeltas[i + 1] ?? 0;
  });
  return { busyMs: busy / 1000, spanMs: (profile.endTime - profile.startTime) / 1000 };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      env: { type: 'string', default: 'production' },
      cwd: { type: 'string', default: process.cwd() },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'worker-startup-'));
  const runs: { busyMs: number; spanMs: number }[] = [];
  try {
    for (let i = 0; i < Number(values.runs); i += 1) {
      const outfile = join(dir, `${i}.cpuprofile`);
      execFileSync(
        'npx',
        ['wrangler', 'check', 'startup', '--env', values.env, '--outfile', outfile],
        { cwd: values.cwd, stdio: 'ignore' },
      );
      runs.push(startupOf(JSON.parse(readFileSync(outfile, 'utf8')) as CpuProfile));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const busy = runs.map((r) => r.busyMs);
  const span = runs.map((r) => r.spanMs);
  console.log(
    JSON.stringify({
      runs: runs.length,
      busy_ms_median: Math.round(median(busy) * 10) / 10,
      span_ms_median: Math.round(median(span) * 10) / 10,
      busy_ms: busy.map((v) => Math.round(v * 10) / 10),
    }),
  );
}
