import type { EtlFuzzJob, EtlFuzzTally } from '../fuzz/etl-child.js';
import type { FilePlan } from '../fuzz/etl-files.js';
import { runJobChild } from '../lib/children.js';
import { cloneTemplate } from '../lib/database.js';
import type { Platform } from '../lib/platform.js';

export type FuzzEtlReport = {
  seed: number;
  tally: EtlFuzzTally | null;
  durationMs: number;
  violations: string[];
};

/** Malformed feeds through the real ETL, in a child process, against a database of its own. */
export async function runFuzzEtl(options: {
  platform: Platform;
  seed: number;
  plan: FilePlan;
  log: (line: string) => void;
}): Promise<FuzzEtlReport> {
  const started = Date.now();
  const url = await cloneTemplate(options.platform.cluster, 'reliability_fuzz_etl');
  let lastLogged = 0;
  try {
    const tally = await runJobChild<EtlFuzzTally>({
      script: 'test/reliability/fuzz/etl-child.ts',
      env: { DATABASE_URL: url, NODE_ENV: 'test' },
      job: { seed: options.seed + 3, plan: options.plan } satisfies EtlFuzzJob,
      key: 'tally',
      timeoutMs: 600_000,
      onMessage: (message) => {
        if (Date.now() - lastLogged < 10_000) return;
        lastLogged = Date.now();
        options.log(`  ${message.progress} of ${message.of} files`);
      },
    });
    const violations = [
      ...grouped(tally.violations).map((v) => `fuzz-etl: ${v}`),
      ...tally.unhandled.map((u) => `fuzz-etl: ${u}`),
    ];
    return { seed: options.seed, tally, durationMs: Date.now() - started, violations };
  } catch (error) {
    // The child crashed or hung: an ETL that brings its process down is what this part looks for.
    return {
      seed: options.seed,
      tally: null,
      durationMs: Date.now() - started,
      violations: [`fuzz-etl: ${(error as Error).message}`],
    };
  }
}

/**
 * The same failure on several files once, naming the files: "ndjson random-file (#21, #41): …"
 * rather than a line per round.
 */
function grouped(violations: readonly string[]): string[] {
  const groups = new Map<string, string[]>();
  for (const violation of violations) {
    const files = [...violation.matchAll(/\(#(\d+)\)/g)].map((m) => `#${m[1]}`);
    const key = violation.replace(/ \(#\d+\)/g, '');
    groups.set(key, [...(groups.get(key) ?? []), ...new Set(files)]);
  }
  return [...groups].map(([key, files]) => {
    const at = key.indexOf(':');
    const unique = [...new Set(files)];
    return unique.length === 0 ? key : `${key.slice(0, at)} (${unique.join(', ')})${key.slice(at)}`;
  });
}
