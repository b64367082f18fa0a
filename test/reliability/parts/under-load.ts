import { prng } from '../../../scripts/lib/synthetic.js';
import { onCleanup } from '../lib/cleanup.js';
import { startLoad } from '../lib/load.js';
import { CORES, machineDuring, sampleMachine } from '../lib/machine.js';
import type { Options } from '../lib/options.js';
import type { Platform } from '../lib/platform.js';
import { judge, percentile, slownessWindows } from '../lib/verdicts.js';
import { sleep } from '../lib/wait.js';
import { kinds, type LoadConfig, urlPools } from '../load/mix.js';
import type { Report } from '../report.js';
import { allowancesOf, type FaultReport, runFaults, summarizeFaults } from './faults.js';
import { runSoak, type SoakWindow, summarizeSoak } from './soak.js';

/**
 * The parts that need the steady load: it starts, warms the platform up, carries the soak, then
 * the faults, and stops; then every answer is judged against what its request expected and the
 * fault windows (lib/verdicts.ts). Fills `report` (load, soak, faults, machine) and `violations`;
 * returns the faults' reports for the final integrity checks. Nothing to do when neither part
 * was asked for.
 */
export async function runUnderLoad(context: {
  platform: Platform;
  options: Options;
  log: (line: string) => void;
  report: Report;
  violations: string[];
}): Promise<FaultReport[]> {
  const { platform: p, options, log, report, violations } = context;
  const mix = kinds(urlPools(prng(options.seed + 1)));
  const loadConfig: LoadConfig = {
    targets: { main: p.workers.main.url.toString(), closed: p.workers.closed.url.toString() },
    rate: options.rate,
    seed: options.seed,
    adminToken: p.adminToken,
    quotaKey: p.quotaKey,
    context: { listingIds: p.listingIds, viewerPaths: p.viewerPaths },
    addresses: 1_000,
    // Far past every deadline of the edge (10 s at most): a request still unanswered then is a
    // Worker that hung, not a slow origin; on a starved machine 20 s was reached without one.
    timeoutMs: 60_000,
    maxInFlight: 1_024,
  };
  report.settings = {
    gateway: p.settings,
    load: {
      rate: options.rate,
      addresses: loadConfig.addresses,
      clientTimeoutMs: loadConfig.timeoutMs,
      mix: Object.fromEntries(
        mix.map((k) => [k.name, { weight: k.weight, worker: k.target, expect: k.expect }]),
      ),
    },
  };

  if (!options.parts.includes('soak') && !options.parts.includes('faults')) return [];
  let soakWindow: SoakWindow | undefined;
  let faultReports: FaultReport[] = [];
  const load = await startLoad(loadConfig);
  const machine = sampleMachine(options.quick ? 1_000 : 2_000, () => {
    const postmaster = p.cluster.postmasterPid();
    return postmaster === undefined ? [] : [postmaster];
  });
  onCleanup('the machine sampler', () => machine.stop());
  const loadStartedAt = load.startedAt;
  // Cold caches, JIT and connection pools first: the soak measures a service that has started.
  const warmupS = options.quick ? 5 : 20;
  log(`\n── warming up: ${warmupS} s of load`);
  await sleep(warmupS * 1000);
  if (options.parts.includes('soak')) {
    log(`\n── soak: ${options.soakSeconds} s of mixed load at ${options.rate}/s`);
    soakWindow = await runSoak({
      platform: p,
      records: load.records,
      seconds: options.soakSeconds,
      log,
    });
  }
  if (options.parts.includes('faults')) {
    log(`\n── faults during load: ${options.faults.join(', ')}`);
    faultReports = await runFaults(
      {
        platform: p,
        records: load.records,
        kinds: mix,
        loadStartedAt,
        log,
        timings: options.quick
          ? { downMs: 1_500, slowMs: 4_000, settleMs: 1_000, etlRows: 20_000 }
          : { downMs: 5_000, slowMs: 12_000, settleMs: 3_000, etlRows: 45_000 },
      },
      options.faults,
    );
  }
  const summary = await load.stop();
  machine.stop();
  const records = load.records;
  const seconds = (summary.stoppedAt - summary.startedAt) / 1000;
  summarizeFaults(faultReports, records, mix, summary.stoppedAt);
  const slowness = slownessWindows({
    main: p.workerLogs.main.events,
    closed: p.workerLogs.closed.events,
  });
  const phaseOf = (at: number) => {
    if (soakWindow && at >= soakWindow.from && at < soakWindow.to) return 'during the soak';
    const fault = faultReports.find((f) => at >= f.window.from && at <= f.window.to);
    return fault ? `during ${fault.fault}` : 'outside the soak and the faults';
  };
  const judgement = judge(
    records,
    mix,
    allowancesOf(faultReports),
    summary.startedAt,
    slowness,
    phaseOf,
  );
  report.load = {
    requests: records.length,
    seconds,
    targetPerSecond: options.rate,
    achievedPerSecond: Math.round((summary.sent / seconds) * 10) / 10,
    shed: summary.shed,
    maxInFlight: summary.maxInFlight,
    sendLagP99Ms: percentile(
      records.map((r) => r[6]).sort((a, b) => a - b),
      0.99,
    ),
    judgement,
  };
  for (const u of judgement.unexpected)
    violations.push(
      `load: ${u.count} × ${u.reason} (first at ${u.firstAtS} s, ${u.phase}; ${Object.entries(
        u.kinds,
      )
        .map(([kind, count]) => `${kind}×${count}`)
        .join(' ')})`,
    );
  if (soakWindow) {
    report.soak = summarizeSoak(
      soakWindow,
      records,
      mix,
      summary.startedAt,
      slowness,
      machine.samples,
    );
    violations.push(...report.soak.violations);
  }
  if (faultReports.length > 0) {
    for (const f of faultReports)
      f.machine = machineDuring(machine.samples, f.window.from, f.window.to);
    report.faults = faultReports;
    for (const f of faultReports) violations.push(...f.violations);
  }
  // Context for every figure above: other processes that competed for the cores.
  const busiest = Math.max(
    0,
    ...(report.soak?.buckets ?? []).map((b) => b.machine?.othersCores ?? 0),
    ...faultReports.map((f) => f.machine?.othersCores ?? 0),
  );
  report.machine = {
    ...report.machine,
    duringLoad: machineDuring(machine.samples, summary.startedAt, summary.stoppedAt),
    ...(busiest > CORES / 4
      ? {
          note: `other processes kept up to ${busiest} of ${CORES} cores busy while the load ran: latencies, timeouts and the slowness counted are partly theirs`,
        }
      : {}),
  };
  return faultReports;
}
