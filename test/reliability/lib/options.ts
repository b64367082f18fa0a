import { parseArgs } from 'node:util';

export const PARTS = ['soak', 'faults', 'fuzz-http', 'fuzz-etl'] as const;
export type Part = (typeof PARTS)[number];
export const FAULTS = [
  'origin-kill',
  'pg-restart',
  'redis-kill',
  'slow-origin',
  'etl-kill',
] as const;
export type Fault = (typeof FAULTS)[number];

export type Options = {
  quick: boolean;
  parts: Part[];
  faults: Fault[];
  soakSeconds: number;
  /** Requests per second of the steady load. */
  rate: number;
  seed: number;
  /** Where the JSON report goes; default test/artifacts/reliability/<timestamp>.json. */
  out?: string;
  /** Hard ceiling on the whole run, setup and cleanup aside. */
  budgetSeconds: number;
};

export const usage = `usage: npm run test:reliability -- [--quick] [--parts soak,faults,fuzz-http,fuzz-etl]
       [--faults origin-kill,pg-restart,redis-kill,slow-origin,etl-kill]
       [--soak-minutes 5] [--rate 40] [--seed 20240601] [--out file.json]

  --quick         a smoke run: a 20 s soak, short fault windows, a smaller fuzz (about 2 minutes)
  --parts         which parts to run, in this order (default: all); 'fuzz' means both fuzz parts
  --faults        which faults to inject during load (default: all)
  --soak-minutes  length of the soak (default 5; --quick 1/3)
  --rate          requests per second of the steady load (default 40)
  --seed          the seed of every random choice (load mix, fuzz values, malformed files)
  --out           where to write the JSON report`;

/** The command line, checked: an unknown flag or part is a usage error (exit 2). */
export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      parts: { type: 'string' },
      faults: { type: 'string' },
      'soak-minutes': { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new UsageError(usage);
  const quick = values.quick === true;
  const parts = list(values.parts, PARTS, 'part', { fuzz: ['fuzz-http', 'fuzz-etl'] });
  const faults = list(values.faults, FAULTS, 'fault');
  const soakMinutes = number(values['soak-minutes'], quick ? 1 / 3 : 5, 'soak-minutes', 0.25, 120);
  const rate = number(values.rate, 40, 'rate', 1, 2_000);
  const seed = number(values.seed, 20240601, 'seed', 0, 2 ** 32 - 1);
  const soakSeconds = Math.round(soakMinutes * 60);
  return {
    quick,
    parts,
    faults,
    soakSeconds,
    rate,
    seed: Math.floor(seed),
    ...(values.out ? { out: values.out } : {}),
    // Generous on top of what the parts plan to take: only a hang reaches it.
    budgetSeconds: soakSeconds + (quick ? 240 : 720),
  };
}

export class UsageError extends Error {}

function list<T extends string>(
  value: string | undefined,
  all: readonly T[],
  what: string,
  aliases: Record<string, T[]> = {},
): T[] {
  if (value === undefined) return [...all];
  const chosen = new Set<T>();
  for (const raw of value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const expanded = aliases[raw] ?? (all.includes(raw as T) ? [raw as T] : undefined);
    if (!expanded)
      throw new UsageError(`unknown ${what} '${raw}': one of ${all.join(', ')}\n\n${usage}`);
    for (const item of expanded) chosen.add(item);
  }
  // In the suite's own order, whatever order they were given in.
  return all.filter((item) => chosen.has(item));
}

function number(
  value: string | undefined,
  fallback: number,
  name: string,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max)
    throw new UsageError(
      `--${name} must be a number from ${min} to ${max}, got '${value}'\n\n${usage}`,
    );
  return parsed;
}
