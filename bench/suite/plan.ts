/**
 * What the suite runs: its parts, the sizes and durations each is given (default and --quick),
 * and each part's command line and deadline.
 */

export const PARTS = ['etl', 'api', 'edge', 'backup', 'scaling'] as const;
export type Part = (typeof PARTS)[number];

/** What each part is run with. Sizes in listings, durations in seconds. */
export type Plan = {
  quick: boolean;
  parts: Part[];
  /** Listings for the ETL, API and backup parts (the scaling part has its own sizes). */
  rows: number;
  runs: number;
  api: { duration: number; warmup: number };
  edge: { rows: number; duration: number; latencyDuration: number; warmup: number };
  scaling: { sizes: number[]; runs: number; duration: number };
  adminUrl: string;
  jsonOut?: string;
};

/**
 * Sized for this 2-core machine. Default: about 30 minutes (ETL ~7, API ~5, edge ~4, backups ~9,
 * scaling ~3: its 1M point is the ETL and API parts' own, so only 100k is measured again).
 * --quick: about 3 to 4 minutes, one repetition of everything at small sizes, to see that every
 * part works. 5M listings in the scaling part add about 20 minutes: `--sizes 100k,1m,5m`.
 */
export const DEFAULTS = {
  full: {
    rows: 1_000_000,
    runs: 3,
    api: { duration: 5, warmup: 1 },
    edge: { rows: 100_000, duration: 5, latencyDuration: 3, warmup: 1 },
    scaling: { sizes: [100_000, 1_000_000], runs: 1, duration: 5 },
  },
  quick: {
    rows: 100_000,
    runs: 1,
    api: { duration: 1, warmup: 1 },
    edge: { rows: 10_000, duration: 2, latencyDuration: 1, warmup: 1 },
    scaling: { sizes: [10_000, 100_000], runs: 1, duration: 1 },
  },
} as const;

const MINUTE = 60_000;

export type PartCommand = { script: string; args: string[]; deadlineMs: number };

/**
 * The command line of `part` and a generous deadline (several times its expected length: a part
 * past it is stopped, not waited for). `out` is where it writes its results; `reuse` are the ETL
 * and API parts' results files, which the scaling part takes for the size they measured.
 */
export function partCommand(part: Part, plan: Plan, out: string, reuse: string[]): PartCommand {
  const perMillion = plan.rows / 1e6;
  const n = (v: number) => String(v);
  switch (part) {
    case 'etl':
      return {
        script: 'bench/etl/main.ts',
        args: ['--rows', n(plan.rows), '--runs', n(plan.runs), '--json-out', out],
        deadlineMs: 10 * MINUTE + plan.runs * perMillion * 10 * MINUTE,
      };
    case 'api':
      return {
        script: 'bench/api/main.ts',
        args: [
          ...['--rows', n(plan.rows), '--runs', n(plan.runs)],
          ...['--duration', n(plan.api.duration), '--warmup', n(plan.api.warmup)],
          ...['--load-generator', 'autocannon', '--json-out', out],
        ],
        deadlineMs:
          10 * MINUTE +
          perMillion * 5 * MINUTE +
          plan.runs * 12 * (plan.api.duration + plan.api.warmup) * 3000,
      };
    case 'edge':
      // bench/edge/main.ts has no --json-out: it prints `results: <path>`, which the suite reads.
      return {
        script: 'bench/edge/main.ts',
        args: [
          ...['--rows', n(plan.edge.rows), '--runs', n(plan.runs)],
          ...['--duration', n(plan.edge.duration)],
          ...['--latency-duration', n(plan.edge.latencyDuration)],
          ...['--warmup', n(plan.edge.warmup)],
        ],
        deadlineMs:
          15 * MINUTE +
          plan.runs *
            5 *
            (plan.edge.duration + plan.edge.latencyDuration + 2 * plan.edge.warmup) *
            3000,
      };
    case 'backup':
      return {
        script: 'bench/backup/main.ts',
        args: ['--rows', n(plan.rows), '--runs', n(plan.runs), '--json-out', out],
        deadlineMs: 10 * MINUTE + perMillion * (5 + plan.runs * 8) * MINUTE,
      };
    case 'scaling':
      return {
        script: 'bench/scaling/main.ts',
        args: [
          ...['--sizes', plan.scaling.sizes.join(','), '--parts', 'api,etl'],
          ...['--runs', n(plan.scaling.runs), '--etl-runs', '1'],
          ...['--duration', n(plan.scaling.duration), '--warmup', n(plan.api.warmup)],
          ...reuse.flatMap((path) => ['--reuse', path]),
          ...['--json-out', out],
        ],
        // Each of its children has a deadline of its own; this only catches bench/scaling/main.ts hanging.
        deadlineMs: 6 * 60 * MINUTE,
      };
  }
}

/** A part's arguments as a person would type them: without the suite's own temporary files. */
export function shownArgs(args: string[]): string {
  const internal = ['--json-out', '--reuse'];
  return args
    .filter((a, i) => !internal.includes(a) && !internal.includes(args[i - 1] ?? ''))
    .join(' ');
}
