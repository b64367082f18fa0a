/**
 * The reliability suite (`npm run test:reliability`): the whole platform on loopback (the real
 * Worker bundle in workerd, the origin as its own process on a private PostGIS cluster, a private
 * Redis behind the REST adapter), then, in order:
 *
 *   1. soak        steady mixed load for 5 minutes (--quick: 20 s)
 *   2. faults      during the same load: origin SIGKILLed, PostgreSQL restarted, Redis killed,
 *                  origin slow, an ETL run SIGKILLed midway
 *   3. fuzz-http   hostile requests to every public endpoint, through the Worker and straight in
 *   4. fuzz-etl    malformed feeds through the real ETL
 *
 * then a report on stdout and as JSON. Exit 1 names every violated property; slowness alone is
 * reported, never a failure. Everything started is stopped and removed on the way out, Ctrl-C
 * included. See docs/reliability.md.
 */
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './lib/children.js';
import { cleaningUp, cleanUp, cleanUpOnSignals } from './lib/cleanup.js';
import { type Checksum, listingsChecksum, sameChecksum } from './lib/database.js';
import { type Options, parseOptions, UsageError } from './lib/options.js';
import { type Platform, startPlatform } from './lib/platform.js';
import { runFuzzEtl } from './parts/fuzz-etl.js';
import { HUGE_SIZES, runFuzzHttp } from './parts/fuzz-http.js';
import { runUnderLoad } from './parts/under-load.js';
import { printReport, type Report, writeReport } from './report.js';

const log = (line: string) => console.log(line);

let options: Options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  process.exit(error.message.startsWith('usage:') ? 0 : 2);
}

const startedAt = new Date();
const stamp = startedAt
  .toISOString()
  .replaceAll(':', '-')
  .replace(/\.\d+Z$/, 'Z');
const out = options.out ?? join(projectRoot, 'test/artifacts/reliability', `${stamp}.json`);
const violations: string[] = [];
const report: Report = {
  suite: 'estate-edge reliability',
  startedAt: startedAt.toISOString(),
  finishedAt: '',
  durationS: 0,
  ok: false,
  options: { ...options },
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
  },
  settings: {},
  violations,
  lost: { nothing: true, checks: [] },
  components: {},
  cleanupFailures: [],
};

cleanUpOnSignals(log);
// An error nobody caught, in the runner or a library it drives, is recorded and ends the run
// through cleanup (without these handlers Node would exit at once and leave the private
// PostgreSQL behind). During cleanup, errors of what is being torn down are expected: ignored.
let abort: (reason: 'crash') => void = () => {};
const crashed = new Promise<'crash'>((resolve) => {
  abort = resolve;
});
const onStray = (kind: string) => (error: unknown) => {
  if (cleaningUp()) return;
  violations.push(`the runner itself: ${kind} ${(error as Error)?.stack ?? String(error)}`);
  abort('crash');
};
process.on('unhandledRejection', onStray('unhandled rejection'));
process.on('uncaughtException', onStray('uncaught exception'));

let platform: Platform | undefined;
let finished = false;

/** Every part, in order; each one's findings go into `report` and `violations`. */
async function main(): Promise<void> {
  log(
    `estate-edge reliability suite${options.quick ? ' (--quick)' : ''}: ${options.parts.join(', ')}; seed ${options.seed}`,
  );
  log('setting up (loopback only)');
  platform = await startPlatform({
    rate: options.rate,
    log,
    // A smoke run cannot wait out 10 s deadlines in every fault: 3 s for every route.
    ...(options.quick ? { originTimeoutMs: 3_000 } : {}),
  });
  const p = platform;
  const storedAtStart = await listingsChecksum(p.db, { exceptSources: ['synthetic'] });

  const faultReports = await runUnderLoad({ platform: p, options, log, report, violations });

  // The two fuzz parts share nothing but the machine (their own databases and processes; the
  // HTTP one also goes through the Worker to the origin, which the ETL one never touches): side
  // by side they take the time of the longer one.
  const fuzzHttp = options.parts.includes('fuzz-http');
  const fuzzEtl = options.parts.includes('fuzz-etl');
  if (fuzzHttp || fuzzEtl)
    log(
      `\n── fuzz: ${[fuzzHttp && 'hostile HTTP requests', fuzzEtl && 'malformed feeds through the ETL'].filter(Boolean).join(' and ')}`,
    );
  const [httpReport, etlReport] = await Promise.all([
    fuzzHttp
      ? runFuzzHttp({
          platform: p,
          seed: options.seed,
          sizes: options.quick
            ? { viaWorker: 12, direct: 40, hugeSizes: HUGE_SIZES }
            : { viaWorker: 40, direct: 160, hugeSizes: HUGE_SIZES },
          log,
        })
      : undefined,
    fuzzEtl
      ? runFuzzEtl({
          platform: p,
          seed: options.seed,
          plan: options.quick
            ? { rounds: 1, spreadGeneric: true, hugeRecord: false }
            : { rounds: 2, spreadGeneric: false, hugeRecord: true },
          log,
        })
      : undefined,
  ]);
  if (httpReport) {
    report.fuzzHttp = httpReport;
    violations.push(...httpReport.violations);
  }
  if (etlReport) {
    report.fuzzEtl = etlReport;
    violations.push(...etlReport.violations);
  }

  // Anything lost: every stored listing (the synthetic source loads on purpose) as it was.
  const storedAtEnd: Checksum = await listingsChecksum(p.db, { exceptSources: ['synthetic'] });
  const checks = [
    {
      what: 'the listings stored at the start are all there, unchanged, at the end',
      ok: sameChecksum(storedAtStart, storedAtEnd),
    },
    ...faultReports.map((f) => ({
      what: `${f.fault}: ${f.integrity.checked}`,
      ok: f.integrity.ok,
    })),
    ...(report.fuzzHttp
      ? [
          {
            what: 'fuzz-http: listings unchanged by hostile requests through the Worker',
            ok: report.fuzzHttp.listingsIntact,
          },
        ]
      : []),
    ...(report.fuzzEtl?.tally
      ? [
          {
            what: 'fuzz-etl: the listings stored before every malformed feed are unchanged',
            ok: report.fuzzEtl.tally.storedIntact,
          },
          {
            what: 'fuzz-etl: no failed run changed a listing or left a reject behind',
            ok: report.fuzzEtl.tally.failedRunsChangedNothing,
          },
        ]
      : []),
  ];
  if (!checks[0]?.ok)
    violations.push('lost: the listings stored at the start changed by the end of the run');
  report.lost = { nothing: checks.every((c) => c.ok), checks };
  for (const exit of p.origin.unexpectedExits) violations.push(`origin: ${exit}`);
  report.components = {
    originLog: p.origin.logs,
    // Without the event stamps (verdicts use them; the counts say the same).
    workerLogs: Object.fromEntries(
      Object.entries(p.workerLogs).map(([name, { events, ...tally }]) => [name, tally]),
    ),
    proxy: p.proxy.counts,
  };
  finished = true;
}

const budget = new Promise<'budget'>((resolve) =>
  setTimeout(() => resolve('budget'), options.budgetSeconds * 1000).unref(),
);
try {
  const outcome = await Promise.race([main().then(() => 'done' as const), budget, crashed]);
  if (outcome === 'budget')
    violations.push(
      `the run did not finish within its ${options.budgetSeconds} s budget (something hung; see the log above)`,
    );
} catch (error) {
  violations.push(`the suite could not run to the end: ${(error as Error).stack ?? String(error)}`);
  if (platform) log(`\nPostgreSQL's log, last lines:\n${platform.cluster.logTail(15)}`);
}
if (!finished && violations.length === 0) violations.push('the suite stopped before the end');
log('\ncleaning up');
report.cleanupFailures = await cleanUp();
const finishedAt = new Date();
report.finishedAt = finishedAt.toISOString();
report.durationS = (finishedAt.getTime() - startedAt.getTime()) / 1000;
report.ok = violations.length === 0;
printReport(report, log);
writeReport(out, report);
log(`\nreport: ${out}`);
process.exit(report.ok ? 0 : 1);
