/**
 * What bench/etl/main.ts prints and stores: per-run figures, their medians, the ratios and the
 * issue's targets. Targets are reported, never asserted.
 */

import { median, rowsPerSecond } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import type { EtlChildResult } from './run.js';

/** The issue's targets for a fresh load. */
const TARGET_ROWS_PER_SECOND = 100_000;
const TARGET_SHARE_OF_COPY = 0.5;
const TARGET_PEAK_RSS_MIB = 300;

/** One ETL run as the child reported it, with its rate and its peak RSS in MiB. */
export type EtlFigures = {
  wallMs: number;
  rowsPerSecond: number;
  peakRssMiB: number;
} & EtlChildResult;

/** One repetition: both ETL runs and the three raw COPY timings (ms, for the same N rows). */
export type RunFigures = {
  fresh: EtlFigures;
  rerun: EtlFigures;
  copyIndexedMs: number;
  copyThenIndexMs: number;
  copyUnloggedMs: number;
  /** GDAL's ogr2ogr on the same CSV, then the same indexes (bench/etl/ogr2ogr.ts); absent when not installed. */
  ogr2ogrMs?: number;
};

/** The issue's target against the peer: at least twice ogr2ogr's rate. */
const TARGET_TIMES_OGR2OGR = 2;

/** One line per repetition, for the progress log. */
export function describeRun(r: RunFigures, rows: number): string {
  const rate = (ms: number) => `${formatInteger(rowsPerSecond(rows, ms))} rows/s`;
  return [
    `fresh ${rate(r.fresh.wallMs)} (${formatInteger(r.fresh.peakRssMiB)} MiB)`,
    `re-run ${rate(r.rerun.wallMs)}`,
    `COPY ${rate(r.copyIndexedMs)}`,
    `COPY+index ${rate(r.copyThenIndexMs)}`,
    `unlogged ${rate(r.copyUnloggedMs)}`,
    ...(r.ogr2ogrMs === undefined ? [] : [`ogr2ogr ${rate(r.ogr2ogrMs)}`]),
  ].join(', ');
}

/** Medians, ratios, phase timings and targets over all repetitions, as text and as data. */
export function summarize(results: RunFigures[], rows: number) {
  const m = (pick: (r: RunFigures) => number) => median(results.map(pick));
  const each = (pick: (r: RunFigures) => number, format: (v: number) => string) =>
    results.map((r) => format(pick(r))).join(' · ');
  const rate = (ms: number) => rowsPerSecond(rows, ms);
  // Ratios are taken within each run (same minute, same machine state), then the median.
  const figures: [string, (r: RunFigures) => number, 'rate' | 'seconds' | 'MiB' | 'ratio'][] = [
    ['fresh load', (r) => r.fresh.rowsPerSecond, 'rate'],
    ['fresh load, wall time', (r) => r.fresh.wallMs / 1000, 'seconds'],
    ['fresh load, peak RSS', (r) => r.fresh.peakRssMiB, 'MiB'],
    ['re-run, 10% changed', (r) => r.rerun.rowsPerSecond, 'rate'],
    ['re-run, wall time', (r) => r.rerun.wallMs / 1000, 'seconds'],
    ['re-run, peak RSS', (r) => r.rerun.peakRssMiB, 'MiB'],
    ['raw COPY into listings (indexes kept)', (r) => rate(r.copyIndexedMs), 'rate'],
    ['raw COPY, then build indexes', (r) => rate(r.copyThenIndexMs), 'rate'],
    ['raw COPY, unlogged, no indexes (ceiling)', (r) => rate(r.copyUnloggedMs), 'rate'],
    ['fresh load / raw COPY', (r) => r.fresh.rowsPerSecond / rate(r.copyIndexedMs), 'ratio'],
    ['re-run / raw COPY', (r) => r.rerun.rowsPerSecond / rate(r.copyIndexedMs), 'ratio'],
    [
      'fresh load / COPY then index',
      (r) => r.fresh.rowsPerSecond / rate(r.copyThenIndexMs),
      'ratio',
    ],
    ['fresh load / ceiling', (r) => r.fresh.rowsPerSecond / rate(r.copyUnloggedMs), 'ratio'],
  ];
  const withPeer = results.every((r) => r.ogr2ogrMs !== undefined);
  if (withPeer)
    figures.push(
      ['ogr2ogr (PG_USE_COPY, then the same indexes)', (r) => rate(r.ogr2ogrMs ?? 0), 'rate'],
      ['fresh load / ogr2ogr', (r) => r.fresh.rowsPerSecond / rate(r.ogr2ogrMs ?? 0), 'ratio'],
      [
        're-run / ogr2ogr fresh load',
        (r) => r.rerun.rowsPerSecond / rate(r.ogr2ogrMs ?? 0),
        'ratio',
      ],
    );
  const format = {
    rate: (v: number) => `${formatInteger(v)} rows/s`,
    seconds: (v: number) => `${formatFixed(v, 1)} s`,
    MiB: (v: number) => `${formatInteger(v)} MiB`,
    ratio: (v: number) => formatFixed(v, 2),
  };
  const short = {
    rate: formatInteger,
    seconds: (v: number) => formatFixed(v, 1),
    MiB: formatInteger,
    ratio: (v: number) => formatFixed(v, 2),
  };
  const medians = Object.fromEntries(figures.map(([name, pick]) => [name, m(pick)]));
  const table = markdownTable(
    ['figure', 'median', 'each run'],
    figures.map(([name, pick, unit]) => [name, format[unit](m(pick)), each(pick, short[unit])]),
    [1],
  );

  const phaseNames = [...new Set(results.flatMap((r) => Object.keys(r.fresh.summary.timings)))];
  const phaseLine = (label: string, pick: (r: RunFigures) => Record<string, number>) =>
    `${label}: ${phaseNames.map((p) => `${p} ${formatFixed(m((r) => pick(r)[p] ?? Number.NaN) / 1000, 1)} s`).join(', ')}`;
  const phases = [
    'ETL phases (summary.timings, medians; wall time also counts the ANALYZE after commit):',
    phaseLine('  fresh load', (r) => r.fresh.summary.timings),
    phaseLine('  re-run    ', (r) => r.rerun.summary.timings),
  ].join('\n');

  const freshRate = m((r) => r.fresh.rowsPerSecond);
  const share = m((r) => r.fresh.rowsPerSecond / rate(r.copyIndexedMs));
  // A memory limit is about the worst case: the highest peak of any ETL process in the run.
  const peakRss = Math.max(...results.flatMap((r) => [r.fresh.peakRssMiB, r.rerun.peakRssMiB]));
  const targetResults = [
    {
      target: `fresh load ≥ ${formatInteger(TARGET_ROWS_PER_SECOND)} rows/s`,
      measured: freshRate,
      met: freshRate >= TARGET_ROWS_PER_SECOND,
    },
    {
      target: `fresh load ≥ ${TARGET_SHARE_OF_COPY} × raw COPY (same table)`,
      measured: share,
      met: share >= TARGET_SHARE_OF_COPY,
    },
    {
      target: `ETL peak RSS ≤ ${TARGET_PEAK_RSS_MIB} MiB (highest of all ETL runs)`,
      measured: peakRss,
      met: peakRss <= TARGET_PEAK_RSS_MIB,
    },
  ];
  const units = ['rows/s', 'ratio', 'MiB'];
  if (withPeer) {
    for (const [target, pick] of [
      [
        `fresh load ≥ ${TARGET_TIMES_OGR2OGR} × ogr2ogr (same CSV, same run)`,
        (r: RunFigures) => r.fresh.rowsPerSecond,
      ],
      [
        `re-run ≥ ${TARGET_TIMES_OGR2OGR} × ogr2ogr's fresh load`,
        (r: RunFigures) => r.rerun.rowsPerSecond,
      ],
    ] as const) {
      const measured = m((r) => pick(r) / rate(r.ogr2ogrMs ?? 0));
      targetResults.push({ target, measured, met: measured >= TARGET_TIMES_OGR2OGR });
      units.push('ratio');
    }
  }
  const targets = markdownTable(
    ['target', 'measured', 'met'],
    targetResults.map((x, i) => [
      x.target,
      units[i] === 'rows/s'
        ? `${formatInteger(x.measured)} rows/s`
        : units[i] === 'ratio'
          ? formatFixed(x.measured, 2)
          : `${formatInteger(x.measured)} MiB`,
      x.met ? 'met' : 'NOT met',
    ]),
    [1],
  );
  return { table, phases, targets, medians, targetResults };
}
