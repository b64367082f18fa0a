/**
 * The suite's tables: per part, its figures beside the limit measured in the same run and their
 * ratio; and the headline, the few lines the README shows. Built from the parts' results files
 * (bench/suite/results.ts). Targets are reported, never asserted.
 */
import { ENDPOINT_LABELS, type Endpoint } from '../api/workload.js';
import { median } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import { scalingTables } from '../scaling/tables.js';
import {
  type ApiResults,
  type BackupResults,
  type EdgeResults,
  type EtlResults,
  formatSize,
  type ScalingResults,
  type StoredTarget,
} from './results.js';

/** One figure: what was measured, the limit it is compared with, the ratio, the target. */
export type FigureRow = {
  part: string;
  figure: string;
  value: string;
  limit: string;
  ratio: string;
  target: string;
  /** Shown in the headline table too. */
  headline?: boolean;
};

const ms = (v: number) => `${formatFixed(v, v < 10 ? 2 : 1)} ms`;
const met = (t: StoredTarget | undefined) => (t ? (t.met ? 'met' : 'NOT met') : '');
const find = (targets: StoredTarget[] | undefined, ...words: string[]) =>
  targets?.find((t) => words.every((w) => t.target.includes(w)));

export function etlRows(r: EtlResults): FigureRow[] {
  const m = (name: string) => r.medians[name] ?? Number.NaN;
  const rate = (v: number) => `${formatInteger(v)} rows/s`;
  const size = formatSize(r.parameters.rows);
  const perRun = find(r.targets, 'rows/s');
  const share = find(r.targets, 'raw COPY');
  const rss = find(r.targets, 'RSS');
  return [
    {
      part: 'ETL',
      figure: `fresh load, ${size} listings`,
      value: `${rate(m('fresh load'))} (${formatFixed(m('fresh load, wall time'), 1)} s)`,
      limit: `raw COPY into listings: ${rate(m('raw COPY into listings (indexes kept)'))}`,
      ratio: formatFixed(m('fresh load / raw COPY'), 2),
      target: `≥ 100,000 rows/s ${met(perRun)}; ≥ 0.5 ${met(share)}`,
      headline: true,
    },
    {
      part: 'ETL',
      figure: 're-run, 10% changed',
      value: `${rate(m('re-run, 10% changed'))} (${formatFixed(m('re-run, wall time'), 1)} s)`,
      limit: `raw COPY into listings: ${rate(m('raw COPY into listings (indexes kept)'))}`,
      ratio: formatFixed(m('re-run / raw COPY'), 2),
      target: '',
      headline: true,
    },
    {
      part: 'ETL',
      figure: 'fresh load, against the first-load strategy',
      value: rate(m('fresh load')),
      limit: `raw COPY, then build indexes: ${rate(m('raw COPY, then build indexes'))}`,
      ratio: formatFixed(m('fresh load / COPY then index'), 2),
      target: '',
    },
    {
      part: 'ETL',
      figure: 'fresh load, against the machine',
      value: rate(m('fresh load')),
      limit: `raw COPY, unlogged, no indexes: ${rate(m('raw COPY, unlogged, no indexes (ceiling)'))}`,
      ratio: formatFixed(m('fresh load / ceiling'), 2),
      target: '',
    },
    {
      part: 'ETL',
      figure: 'peak RSS (highest ETL process)',
      value: `${formatInteger(Number(rss?.measured ?? Number.NaN))} MiB`,
      limit: '',
      ratio: '',
      target: `≤ 300 MiB ${met(rss)}`,
      headline: true,
    },
  ];
}

export function apiRows(r: ApiResults): FigureRow[] {
  const rows: FigureRow[] = [];
  const c = r.parameters.connections;
  for (const [e, m] of Object.entries(r.medians)) {
    const label = ENDPOINT_LABELS[e as Endpoint] ?? e;
    const targets = r.targets
      .filter((t) => t.target.startsWith(`${label}:`))
      .map((t) => {
        const what = t.target.slice(label.length + 1).trim();
        return `${what.includes('p50') ? what.replace('HTTP ', '') : '≥ 0.5'} ${met(t)}`;
      });
    rows.push({
      part: 'API',
      figure: `${label} (${c} conn.)`,
      value: `p50 ${ms(m.httpP50Ms)}, ${formatInteger(m.httpPerSecond)} req/s`,
      limit: `same SQL: p50 ${ms(m.directP50Ms)}, ${formatInteger(m.directPerSecond)} q/s`,
      ratio: formatFixed(m.ratio, 2),
      target: targets.join('; '),
      headline: e === 'bbox' || e === 'tile-z12',
    });
  }
  const floor = median(r.httpFloor.map((f) => f.perSecond));
  rows.push({
    part: 'API',
    figure: 'GET /health, no database (HTTP floor)',
    value: `${formatInteger(floor)} req/s`,
    limit: '',
    ratio: '',
    target: '',
  });
  return rows;
}

const EDGE_LABELS: Record<string, string> = {
  bare: 'bare Hono Worker (the limit)',
  hit: 'cache HIT, quotas off',
  'hit-quotas': 'cache HIT, quotas on',
  miss: 'cache MISS, forwarded to the origin',
  direct: 'origin called directly (the limit)',
};

export function edgeRows(r: EdgeResults): FigureRow[] {
  const c = r.parameters.connections;
  const at = (s: string) => r.medians[s];
  const value = (s: string) => {
    const t = at(s)?.throughput;
    const l = at(s)?.latency;
    return `${formatInteger(t?.perSecond ?? Number.NaN)} req/s (${c}), p50 ${ms(l?.p50Ms ?? Number.NaN)} (1)`;
  };
  const bare = at('bare')?.throughput?.perSecond ?? Number.NaN;
  const direct = at('direct')?.latency?.p50Ms ?? Number.NaN;
  const f = r.figures ?? {};
  const rows: FigureRow[] = [];
  for (const s of ['bare', 'hit', 'hit-quotas', 'miss', 'direct']) {
    if (!at(s)) continue;
    const row: FigureRow = {
      part: 'Edge',
      figure: EDGE_LABELS[s] as string,
      value: value(s),
      limit: '',
      ratio: '',
      target: '',
    };
    if (s === 'hit' || s === 'hit-quotas') {
      const quotas = s === 'hit-quotas';
      row.limit = `bare Worker: ${formatInteger(bare)} req/s (${c})`;
      row.ratio = formatFixed(
        (quotas ? f.hitQuotasShareOfBare : f.hitShareOfBare) ?? Number.NaN,
        2,
      );
      row.target = `≥ 0.7 ${met(find(r.targets, 'HIT', quotas ? 'quotas on' : 'quotas off'))}`;
      row.headline = true;
    }
    if (s === 'miss') {
      row.limit = `origin direct: p50 ${ms(direct)} (1)`;
      row.ratio = `+${ms(f.missOverheadP50Ms ?? Number.NaN)}`;
      row.target = `≤ +3 ms ${met(find(r.targets, 'MISS'))}`;
      row.headline = true;
    }
    rows.push(row);
  }
  return rows;
}

export function backupRows(r: BackupResults): FigureRow[] {
  const m = r.medians;
  const size = formatSize(r.parameters.rows);
  const s = (v: number) => `${formatFixed(v, 1)} s`;
  const mib = (v: number) => `${formatInteger(v)} MiB`;
  return [
    {
      part: 'Backups',
      figure: `backup (dump + manifest), ${size} listings`,
      value: `${s(m.dumpSeconds)}, ${mib(m.dumpMiB)}`,
      limit: `pg_dump -Fc: ${s(m.rawDumpSeconds)}, ${mib(m.rawDumpMiB)}`,
      ratio: formatFixed(m.dumpShareOfRaw, 2),
      target: '',
      headline: true,
    },
    {
      part: 'Backups',
      figure: 'restore (checked, one transaction)',
      value: s(m.restoreSeconds),
      limit: `pg_restore: ${s(m.rawRestoreSeconds)}`,
      ratio: formatFixed(m.restoreShareOfRaw, 2),
      target: '',
      headline: true,
    },
    {
      part: 'Backups',
      figure: 'restore drill (verify-backup)',
      value: s(m.verifySeconds),
      limit: `pg_restore: ${s(m.rawRestoreSeconds)}`,
      ratio: formatFixed(m.rawRestoreSeconds / m.verifySeconds, 2),
      target: '',
      headline: true,
    },
  ];
}

export function scalingRows(r: ScalingResults): FigureRow[] {
  const points = [...r.points].filter((p) => p.api).sort((a, b) => a.rows - b.rows);
  if (points.length === 0) return [];
  const first = points[0];
  const last = points.at(-1);
  const { endpoints, notIndexBacked } = scalingTables(points);
  const sizes = points.map((p) => formatSize(p.rows)).join(' → ');
  const growth = (last?.rows ?? Number.NaN) / (first?.rows ?? Number.NaN);
  const rows: FigureRow[] = endpoints.map((e) => {
    const sqlAlone = points.map((p) => formatFixed(p.api?.plans[e]?.executionMs ?? Number.NaN, 2));
    const perSecond = points.map((p) =>
      formatInteger(p.api?.medians[e]?.httpPerSecond ?? Number.NaN),
    );
    // What one request returns grows with the table for some (a ZIP area holds 10× the
    // listings in a 10× table): the reason for most of the SQL's growth, so it is shown beside it.
    const unit = e === 'stats' ? 'listings' : e.startsWith('tile') ? 'features' : 'items';
    const items = points.map((p) =>
      formatInteger(p.api?.workload[e]?.shape.medianItems ?? Number.NaN),
    );
    const a = first?.api?.plans[e]?.executionMs ?? Number.NaN;
    const b = last?.api?.plans[e]?.executionMs ?? Number.NaN;
    const failing = notIndexBacked.filter((n) => n.startsWith(`${ENDPOINT_LABELS[e]} at`));
    return {
      part: 'Scaling',
      figure: `${ENDPOINT_LABELS[e]}, ${sizes} listings`,
      value: `SQL alone ${sqlAlone.join(' → ')} ms for ${items.join(' → ')} ${unit}; HTTP ${perSecond.join(' → ')} req/s`,
      limit: `table × ${formatInteger(growth)}`,
      ratio: `SQL × ${formatFixed(b / a, 1)}`,
      target:
        failing.length === 0
          ? 'index-backed at every size'
          : `NOT index-backed: ${failing.join(', ')}`,
      // The two with latency targets; the others are in the part's table.
      headline: e === 'bbox' || e === 'tile-z12',
    };
  });
  const backed = endpoints.length - new Set(notIndexBacked.map((n) => n.split(' at ')[0])).size;
  rows.push({
    part: 'Scaling',
    figure: `queries index-backed (EXPLAIN), ${sizes} listings`,
    value: `${backed} of ${endpoints.length} at every size`,
    limit: '',
    ratio: '',
    target: notIndexBacked.length === 0 ? 'all' : `not: ${notIndexBacked.join('; ')}`,
    headline: true,
  });
  return rows;
}

/** A table of `rows`: with the part column for the headline, without it per part. */
export function figureTable(rows: FigureRow[], withPart: boolean): string {
  const header = ['figure', 'measured', 'limit (same run)', 'ratio', 'target'];
  return markdownTable(
    withPart ? ['part', ...header] : header,
    rows.map((r) => {
      const cells = [r.figure, r.value, r.limit, r.ratio, r.target];
      return withPart ? [r.part, ...cells] : cells;
    }),
    withPart ? [4] : [3],
  );
}
