import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Judgement } from './lib/verdicts.js';
import type { FaultReport } from './parts/faults.js';
import type { FuzzEtlReport } from './parts/fuzz-etl.js';
import type { FuzzHttpReport } from './parts/fuzz-http.js';
import type { SoakSummary } from './parts/soak.js';

export type LoadReport = {
  requests: number;
  seconds: number;
  targetPerSecond: number;
  achievedPerSecond: number;
  shed: number;
  maxInFlight: number;
  /** How late the generator sent requests against its schedule (open loop: 0 is on time). */
  sendLagP99Ms: number;
  judgement: Judgement;
};

export type Report = {
  suite: 'estate-edge reliability';
  startedAt: string;
  finishedAt: string;
  durationS: number;
  ok: boolean;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  violations: string[];
  load?: LoadReport;
  soak?: SoakSummary;
  faults?: FaultReport[];
  fuzzHttp?: FuzzHttpReport;
  fuzzEtl?: FuzzEtlReport;
  lost: { nothing: boolean; checks: { what: string; ok: boolean }[] };
  components: Record<string, unknown>;
  cleanupFailures: string[];
};

export function writeReport(path: string, report: Report): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}

const n = (value: number) => value.toLocaleString('en');
const counts = (record: Record<string, number> | undefined) =>
  Object.entries(record ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}×${n(v)}`)
    .join(' ') || '—';

/** The report as people read it at the end of the run. */
export function printReport(report: Report, print: (line: string) => void): void {
  print('');
  print('══ Load held');
  if (report.load) {
    const { load } = report;
    print(
      `  ${n(load.requests)} requests in ${load.seconds.toFixed(0)} s: ${load.achievedPerSecond}/s (target ${load.targetPerSecond}/s), ${n(load.shed)} not sent (client bound), at most ${load.maxInFlight} in flight, send lag p99 ${load.sendLagP99Ms} ms`,
    );
    print(`  statuses   ${counts(load.judgement.statuses)}`);
    print(
      `  intended   429×${n(load.judgement.intended429)} (the key sent over its quota)${Object.entries(
        load.judgement.intended,
      )
        .map(([fault, c]) => `; ${fault}: ${counts(c)}`)
        .join('')}`,
    );
    print(`  edge cache ${counts(load.judgement.cache)}`);
    const { deadline504, slow503 } = load.judgement.slowness;
    const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    print(
      `  slow       outside the faults, ${n(total(deadline504))} × 504 (the origin past the edge's deadline) and ${n(total(slow503))} × 503 (a breaker opened by timeouts alone, an API key not looked up in time): reported, not failures`,
    );
  } else print('  (no load: soak and faults were not run)');
  if (report.soak) {
    const { soak } = report;
    print(
      `  soak ${soak.seconds} s, ${n(soak.requests)} requests (${soak.perSecond}/s), statuses ${counts(soak.judgement.statuses)}`,
    );
    for (const b of soak.buckets)
      print(
        `    ${String(b.fromS).padStart(4)}–${String(b.toS).padEnd(4)} s  ${String(b.requests).padStart(6)} req  p50 ${String(b.p50Ms).padStart(5)} ms  p90 ${String(b.p90Ms).padStart(5)} ms  p99 ${String(b.p99Ms).padStart(5)} ms  max ${String(b.maxMs).padStart(5)} ms${b.machine ? `  machine: load ${b.machine.load1}, ${b.machine.busyCores}/${b.machine.cores} cores busy, ${b.machine.suiteCores} ours` : ''}`,
      );
    print(
      `  origin RSS after ${soak.rss.warmupS} s warm-up: ${soak.rss.baselineMiB} → ${soak.rss.endMiB} MiB (${soak.rss.growthMiB >= 0 ? '+' : ''}${soak.rss.growthMiB} MiB, bound +${soak.rss.boundMiB}; slope ${soak.rss.slopeMiBPerMinute} MiB/min)`,
    );
    print(
      `  p99 first → last bucket: ${soak.p99.firstMs} → ${soak.p99.lastMs} ms (${soak.p99.bound})`,
    );
  }

  print('');
  print('══ Faults survived');
  if (!report.faults?.length) print('  (not run)');
  for (const f of report.faults ?? []) {
    const recovery =
      f.recoveryMs === null
        ? `NOT recovered (bound ${f.recoveryBoundMs / 1000} s)`
        : `recovered in ${(f.recoveryMs / 1000).toFixed(1)} s`;
    print(`  ${f.fault.padEnd(12)} ${f.what}`);
    print(
      `  ${''.padEnd(12)} outage ${(f.outageMs / 1000).toFixed(1)} s, ${recovery}: ${f.recovery}`,
    );
    print(
      `  ${''.padEnd(12)} clients: main ${counts(f.clients.main)} | fail-closed ${counts(f.clients.closed)}; ${f.servedStale} stale copies served`,
    );
    print(
      `  ${''.padEnd(12)} integrity ${f.integrity.ok ? 'ok' : 'BROKEN'}: ${f.integrity.checked}`,
    );
    if (f.machine)
      print(
        `  ${''.padEnd(12)} machine: load ${f.machine.load1}, ${f.machine.busyCores}/${f.machine.cores} cores busy, ${f.machine.suiteCores} ours`,
      );
  }

  print('');
  print('══ Bad inputs tried');
  if (report.fuzzHttp) {
    const { fuzzHttp } = report;
    for (const [where, tally] of [
      ['through the Worker', fuzzHttp.viaWorker],
      ['straight to the origin app', fuzzHttp.direct],
    ] as const) {
      print(
        `  HTTP ${where}: ${n(tally.cases)} hostile requests over ${Object.keys(tally.byEndpoint).length} endpoints (seed ${fuzzHttp.seed}); statuses ${counts(tally.statuses)}`,
      );
      if (Object.keys(tally.refusedByRuntime).length > 0)
        print(
          `    refused by workerd before the Worker ran (URLs of hundreds of KB): ${counts(tally.refusedByRuntime)}`,
        );
      print(`    by value family: ${counts(tally.byFamily)}`);
    }
    print('    per endpoint (through the Worker / straight):');
    for (const [endpoint, e] of Object.entries(fuzzHttp.viaWorker.byEndpoint))
      print(
        `      ${endpoint.padEnd(42)} ${String(e.cases).padStart(4)} / ${String(fuzzHttp.direct.byEndpoint[endpoint]?.cases ?? 0).padStart(4)}`,
      );
  } else print('  HTTP: (not run)');
  if (report.fuzzEtl?.tally) {
    const { tally } = report.fuzzEtl;
    print(`  ETL files: ${n(tally.files)} malformed (seed ${report.fuzzEtl.seed})`);
    for (const [format, f] of Object.entries(tally.byFormat))
      print(
        `    ${format.padEnd(8)} ${String(f.files).padStart(4)} files: ${f.succeeded} succeeded (rows read ${n(f.rowsRead)}, rejected ${n(f.rowsRejected)}), ${f.failed} failed with a reason`,
      );
  } else print(`  ETL files: ${report.fuzzEtl ? 'the fuzz process did not report' : '(not run)'}`);

  print('');
  print('══ Anything lost');
  print(report.lost.nothing ? '  nothing:' : '  YES:');
  for (const check of report.lost.checks)
    print(`    ${check.ok ? 'ok    ' : 'BROKEN'} ${check.what}`);

  const note = (report.machine as { note?: string }).note;
  if (note) print(`\nnote: ${note}`);
  print('');
  if (report.violations.length === 0)
    print(`══ PASS: every property held (${report.durationS.toFixed(0)} s)`);
  else {
    print(
      `══ FAIL: ${report.violations.length} propert${report.violations.length === 1 ? 'y' : 'ies'} violated`,
    );
    for (const v of report.violations) print(`  ✗ ${printable(v)}`);
  }
  if (report.cleanupFailures.length > 0) print(`  cleanup: ${report.cleanupFailures.join('; ')}`);
}

/** One line a terminal shows as it is: control characters (a NUL quoted from a file) as '·', cut. */
function printable(text: string): string {
  let clean = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    clean += char === '\n' ? ' ⏎ ' : code < 0x20 || code === 0x7f || code === 0xfffd ? '·' : char;
  }
  return clean.length > 500 ? `${clean.slice(0, 500)}… (${clean.length} characters)` : clean;
}
