/**
 * What bench/edge/main.ts prints and stores: per scenario, at many connections (throughput) and at one
 * (latency), req/s and latency percentiles per run, their medians, the issue's two ratios and the
 * diagnosis' comparisons. Targets are reported, never asserted.
 */

import { median } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import type { EdgeLoadResult } from './load.js';
import {
  isDirect,
  ORIGIN_RTT_MS,
  QUOTA_RTT_MS,
  SCENARIOS,
  type ScenarioName,
} from './scenarios.js';
import type { LogCounts } from './worker-host.js';

/** The targets. */
const TARGET_HIT_SHARE_OF_BARE = 0.7;
const TARGET_MISS_OVERHEAD_MS = 3;
/** Issue 15: a HIT with quotas on, its store 40 ms away, within 0.5 ms of quotas off... */
const TARGET_FAR_QUOTA_DELTA_MS = 0.5;
/** ...and at least 0.8 of its throughput. */
const TARGET_FAR_QUOTA_SHARE = 0.8;

export const LEVELS = ['throughput', 'latency'] as const;
export type Level = (typeof LEVELS)[number];

/** Processes whose CPU is reported, besides the machine as a whole. */
export const CPU_PARTS = [
  'server',
  'host',
  'origin',
  'loadGenerator',
  'quotaStore',
  'redis',
] as const;
export type CpuPart = (typeof CPU_PARTS)[number];

export type Measurement = {
  load: EdgeLoadResult;
  /** Cores used while measuring (bench/lib/cpu.ts): `machine` and each of CPU_PARTS present. */
  cpu: Record<string, number>;
  /** The Worker's access-log lines during the run (warm-up included), by outcome. */
  logCounts?: LogCounts;
  /** Access-log lines that are not the scenario's `expect` (a HIT run that missed, a 429...). */
  unexpected: number;
};
export type EdgeRun = Partial<Record<ScenarioName, Partial<Record<Level, Measurement>>>>;

export type LevelMedians = {
  perSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** CPU time per request of the process that answers (workerd, or the origin for `direct`). */
  serverCpuUs: number;
  /** Of the origin behind the Worker, when it is called. */
  originCpuUs: number;
  cores: Record<string, number>;
};
export type ScenarioMedians = Partial<Record<Level, LevelMedians>>;

export type TargetResult = { target: string; measured: string; met: boolean };

const ms = (v: number) => formatFixed(v, v < 10 ? 2 : 1);
const perRequestUs = (cores: number | undefined, perSecond: number) =>
  cores === undefined || !(perSecond > 0) ? Number.NaN : (cores / perSecond) * 1e6;

/** One line per scenario, level and run, for the progress log. */
export function describeMeasurement(m: Measurement): string {
  const cpu = perRequestUs(m.cpu.server, m.load.perSecond);
  return (
    `${formatInteger(m.load.perSecond)} req/s, p50 ${ms(m.load.p50Ms)} ms, p99 ${ms(m.load.p99Ms)} ms, ` +
    `server ${formatInteger(cpu)} µs CPU/request` +
    (m.load.errors > 0 ? `, ${m.load.errors} error(s)` : '') +
    (m.unexpected > 0 ? `, ${m.unexpected} unexpected log line(s)` : '')
  );
}

export function summarize(
  runs: EdgeRun[],
  scenarios: readonly ScenarioName[],
  connections: number,
) {
  const medians = {} as Record<ScenarioName, ScenarioMedians>;
  for (const s of scenarios) {
    medians[s] = {};
    for (const level of LEVELS) {
      const all = runs.flatMap((run) => {
        const m = run[s]?.[level];
        return m ? [m] : [];
      });
      if (all.length === 0) continue;
      const m = (pick: (x: Measurement) => number) => median(all.map(pick));
      medians[s][level] = {
        perSecond: m((x) => x.load.perSecond),
        p50Ms: m((x) => x.load.p50Ms),
        p90Ms: m((x) => x.load.p90Ms),
        p99Ms: m((x) => x.load.p99Ms),
        serverCpuUs: m((x) => perRequestUs(x.cpu.server, x.load.perSecond)),
        originCpuUs: m((x) => perRequestUs(x.cpu.origin, x.load.perSecond)),
        cores: Object.fromEntries(
          ['machine', ...CPU_PARTS].map((part) => [part, m((x) => x.cpu[part] ?? Number.NaN)]),
        ),
      };
    }
  }

  /** A figure taken within each run (same minute, same machine state), then the median. */
  const paired = (
    a: ScenarioName,
    b: ScenarioName,
    level: Level,
    f: (x: EdgeLoadResult, y: EdgeLoadResult) => number,
  ) =>
    median(
      runs.flatMap((run) => {
        const x = run[a]?.[level];
        const y = run[b]?.[level];
        return x && y ? [f(x.load, y.load)] : [];
      }),
    );
  const ratio = (x: EdgeLoadResult, y: EdgeLoadResult) => x.perSecond / y.perSecond;
  const p50Delta = (x: EdgeLoadResult, y: EdgeLoadResult) => x.p50Ms - y.p50Ms;
  const figures = {
    hitShareOfBare: paired('hit', 'bare', 'throughput', ratio),
    hitQuotasShareOfBare: paired('hit-quotas', 'bare', 'throughput', ratio),
    missOverheadP50Ms: paired('miss', 'direct', 'latency', p50Delta),
    missOverheadP50MsLoaded: paired('miss', 'direct', 'throughput', p50Delta),
    // Issue 15's targets, at production's distances.
    hitQuotasFarP50DeltaMs: paired('hit-quotas-far', 'hit-far', 'latency', p50Delta),
    hitQuotasFarShareOfQuotasOff: paired('hit-quotas-far', 'hit-far', 'throughput', ratio),
    missFarOverheadP50Ms: paired('miss-far', 'direct-far', 'latency', p50Delta),
  };

  const targetResults: TargetResult[] = [];
  const target = (label: string, value: number, text: string, met: boolean) => {
    if (Number.isFinite(value)) targetResults.push({ target: label, measured: text, met });
  };
  target(
    `HIT (quotas off) req/s ≥ ${TARGET_HIT_SHARE_OF_BARE} × bare, ${connections} connections`,
    figures.hitShareOfBare,
    formatFixed(figures.hitShareOfBare, 2),
    figures.hitShareOfBare >= TARGET_HIT_SHARE_OF_BARE,
  );
  target(
    `HIT (quotas on) req/s ≥ ${TARGET_HIT_SHARE_OF_BARE} × bare, ${connections} connections`,
    figures.hitQuotasShareOfBare,
    formatFixed(figures.hitQuotasShareOfBare, 2),
    figures.hitQuotasShareOfBare >= TARGET_HIT_SHARE_OF_BARE,
  );
  target(
    `MISS p50 − direct p50 ≤ ${TARGET_MISS_OVERHEAD_MS} ms, 1 connection`,
    figures.missOverheadP50Ms,
    `${formatFixed(figures.missOverheadP50Ms, 2)} ms`,
    figures.missOverheadP50Ms <= TARGET_MISS_OVERHEAD_MS,
  );

  target(
    `HIT p50, quotas on, quota store ${QUOTA_RTT_MS} ms away − quotas off ≤ ${TARGET_FAR_QUOTA_DELTA_MS} ms, 1 connection`,
    figures.hitQuotasFarP50DeltaMs,
    `${formatFixed(figures.hitQuotasFarP50DeltaMs, 2)} ms`,
    figures.hitQuotasFarP50DeltaMs <= TARGET_FAR_QUOTA_DELTA_MS,
  );
  target(
    `HIT req/s, quotas on (store ${QUOTA_RTT_MS} ms away) ≥ ${TARGET_FAR_QUOTA_SHARE} × quotas off, ${connections} connections`,
    figures.hitQuotasFarShareOfQuotasOff,
    formatFixed(figures.hitQuotasFarShareOfQuotasOff, 2),
    figures.hitQuotasFarShareOfQuotasOff >= TARGET_FAR_QUOTA_SHARE,
  );
  target(
    `MISS p50 − direct p50, origin ${ORIGIN_RTT_MS} ms away ≤ ${TARGET_MISS_OVERHEAD_MS} ms, 1 connection`,
    figures.missFarOverheadP50Ms,
    `${formatFixed(figures.missFarOverheadP50Ms, 2)} ms`,
    figures.missFarOverheadP50Ms <= TARGET_MISS_OVERHEAD_MS,
  );

  const main = scenarios.filter((s) => SCENARIOS[s].group === 'main');
  const diagnosis = scenarios.filter((s) => SCENARIOS[s].group === 'diagnosis');
  const figureRow = (s: ScenarioName) => {
    const t = medians[s].throughput;
    const l = medians[s].latency;
    return [
      SCENARIOS[s].label,
      formatInteger(t?.perSecond ?? Number.NaN),
      ms(t?.p50Ms ?? Number.NaN),
      ms(t?.p99Ms ?? Number.NaN),
      formatInteger(l?.perSecond ?? Number.NaN),
      ms(l?.p50Ms ?? Number.NaN),
      ms(l?.p99Ms ?? Number.NaN),
      formatInteger(t?.serverCpuUs ?? Number.NaN),
    ];
  };
  const figureHeader = [
    'scenario',
    `req/s (${connections})`,
    `p50 ms (${connections})`,
    `p99 ms (${connections})`,
    'req/s (1)',
    'p50 ms (1)',
    'p99 ms (1)',
    'server µs CPU/req',
  ];
  const right = [1, 2, 3, 4, 5, 6, 7];
  const table = main.length === 0 ? '' : markdownTable(figureHeader, main.map(figureRow), right);
  const diagnosisTable =
    diagnosis.length === 0 ? '' : markdownTable(figureHeader, diagnosis.map(figureRow), right);

  // Each scenario against the one without the part it adds: what that part costs.
  const compared = scenarios.filter((s) => {
    const ref = SCENARIOS[s].reference;
    return ref !== undefined && scenarios.includes(ref);
  });
  const comparisons = compared.map((s) => {
    const ref = SCENARIOS[s].reference as ScenarioName;
    const cpu = (x: ScenarioName) => medians[x].throughput?.serverCpuUs ?? Number.NaN;
    return {
      scenario: s,
      reference: ref,
      p50DeltaMs: paired(s, ref, 'latency', p50Delta),
      throughputRatio: paired(s, ref, 'throughput', ratio),
      serverCpuUsDelta: isDirect(SCENARIOS[ref].target) ? Number.NaN : cpu(s) - cpu(ref),
    };
  });
  const comparisonTable = markdownTable(
    [
      'scenario',
      'compared with',
      'Δ p50 ms (1)',
      `req/s ratio (${connections})`,
      'Δ workerd µs CPU/req',
    ],
    comparisons.map((c) => [
      SCENARIOS[c.scenario].label,
      SCENARIOS[c.reference].label,
      formatFixed(c.p50DeltaMs, 2),
      formatFixed(c.throughputRatio, 2),
      formatInteger(c.serverCpuUsDelta),
    ]),
    [2, 3, 4],
  );

  const cpuTable = markdownTable(
    [
      'scenario',
      'machine',
      'server',
      'host (Node)',
      'origin',
      'load generator',
      'REST adapter',
      'redis-server',
      'rest (PostgreSQL, others)',
    ],
    scenarios.map((s) => {
      const c = medians[s].throughput?.cores ?? {};
      const known = CPU_PARTS.reduce(
        (sum, p) => sum + (Number.isFinite(c[p]) ? (c[p] as number) : 0),
        0,
      );
      const cell = (v: number | undefined) => formatFixed(v ?? Number.NaN, 2);
      return [
        SCENARIOS[s].label,
        cell(c.machine),
        cell(c.server),
        cell(c.host),
        cell(c.origin),
        cell(c.loadGenerator),
        cell(c.quotaStore),
        cell(c.redis),
        cell((c.machine ?? Number.NaN) - known),
      ];
    }),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  const targets = markdownTable(
    ['target', 'median', 'result'],
    targetResults.map((t) => [t.target, t.measured, t.met ? 'met' : 'NOT met']),
    [1],
  );
  return {
    medians,
    figures,
    comparisons,
    targetResults,
    table,
    diagnosisTable,
    comparisonTable,
    cpuTable,
    targets,
  };
}
