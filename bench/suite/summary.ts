/**
 * The suite's report, from its results: the headline table, a short table per part, and how each
 * part went. A pure function of the stored data, so `npm run bench -- --report <file>` prints a
 * past run again exactly as it printed then.
 */

import { formatFixed, markdownTable } from '../lib/table.js';
import { scalingTables } from '../scaling/tables.js';
import type { SuiteEnvironment } from './machine.js';
import { PARTS, type Part, type Plan, shownArgs } from './plan.js';
import {
  apiRows,
  backupRows,
  edgeRows,
  etlRows,
  type FigureRow,
  figureTable,
  scalingRows,
} from './report.js';
import type {
  ApiResults,
  BackupResults,
  EdgeResults,
  EtlResults,
  ScalingResults,
} from './results.js';
import { formatSize } from './results.js';

export type PartOutcome = {
  status: 'ok' | 'failed' | 'skipped' | 'interrupted';
  reason?: string;
  script: string;
  args: string[];
  exitCode?: number | null;
  signal?: string | null;
  timedOut?: boolean;
  durationMs?: number;
  /** The part's own results file, verbatim: every run's figures and the medians. */
  results?: unknown;
  /** What the part printed on stdout: its full tables. */
  output?: string;
};

export type SuiteData = SuiteEnvironment & {
  benchmark: 'suite';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  plan: Plan;
  parts: Partial<Record<Part, PartOutcome>>;
  /** The suite's reading of the parts' results: every row of every table, and the headline. */
  figures?: Partial<Record<Part, FigureRow[]>>;
  headline?: FigureRow[];
};

type Section = { part: Part; title: string; rows: FigureRow[]; extra?: string };

function sectionOf(part: Part, results: unknown): Section | undefined {
  switch (part) {
    case 'etl': {
      const r = results as EtlResults;
      return {
        part,
        title: `ETL: ${formatSize(r.parameters.rows)} listings, ${r.parameters.runs} run(s), medians`,
        rows: etlRows(r),
      };
    }
    case 'api': {
      const r = results as ApiResults;
      const p = r.parameters;
      return {
        part,
        title: `API: ${formatSize(p.rows)} listings, ${p.connections} connections (${p.loadGenerator ?? 'node'}), ${p.durationMs / 1000} s per endpoint and side, ${p.runs} run(s), medians`,
        rows: apiRows(r),
      };
    }
    case 'edge': {
      const r = results as EdgeResults;
      const p = r.parameters;
      return {
        part,
        title: `Edge: GET /v1/listings/{id} over ${formatSize(p.rows)} listings, ${p.connections} connections for ${p.durationSeconds} s, then 1 for ${p.latencyDurationSeconds} s, ${p.runs} run(s), medians`,
        rows: edgeRows(r),
      };
    }
    case 'backup': {
      const r = results as BackupResults;
      return {
        part,
        title: `Backups: ${formatSize(r.parameters.rows)} listings, database ${formatFixed(r.parameters.databaseBytes / 2 ** 20, 0)} MiB, ${r.parameters.runs} run(s), medians`,
        rows: backupRows(r),
      };
    }
    case 'scaling': {
      const r = results as ScalingResults;
      return {
        part,
        title: `Scaling: ${r.parameters.sizes.map(formatSize).join(', ')} listings`,
        rows: scalingRows(r),
        extra: `ETL at each size:\n\n${scalingTables(r.points).etl}`,
      };
    }
  }
}

/** The figures of every part that succeeded, and the headline rows among them. */
export function suiteFigures(parts: SuiteData['parts']) {
  const sections: Section[] = [];
  for (const part of PARTS) {
    const outcome = parts[part];
    if (outcome?.status !== 'ok' || !outcome.results) continue;
    const section = sectionOf(part, outcome.results);
    if (section) sections.push(section);
  }
  const figures = Object.fromEntries(sections.map((s) => [s.part, s.rows])) as Partial<
    Record<Part, FigureRow[]>
  >;
  const headline = sections.flatMap((s) => s.rows.filter((r) => r.headline));
  return { sections, figures, headline };
}

/** The whole report as text (Markdown that also reads as plain text on a terminal). */
export function renderSuite(data: SuiteData): string {
  const { machine, database, git, plan } = data;
  const { sections, headline } = suiteFigures(data.parts);
  const out: string[] = [
    `# Benchmark suite: ${data.startedAt}, ${formatFixed(data.durationMs / 60_000, 1)} min, commit ${git.commit?.slice(0, 12) ?? '?'}${git.dirty ? ' (uncommitted changes)' : ''}`,
    `${machine.cpuModel}, ${machine.cpuCount} cores, ${formatFixed(machine.totalMemoryMiB / 1024, 0)} GiB, ${machine.os}, Node ${machine.node}, PostgreSQL ${database.postgres ?? '?'} / PostGIS ${database.postgis ?? '?'}; load average ${formatFixed(machine.loadAverage[0] ?? Number.NaN, 1)} at the start`,
  ];
  if (headline.length > 0) out.push(`## Headline\n\n${figureTable(headline, true)}`);
  for (const s of sections)
    out.push(`## ${s.title}\n\n${figureTable(s.rows, false)}${s.extra ? `\n\n${s.extra}` : ''}`);
  out.push(
    `## Parts\n\n${markdownTable(
      ['part', 'status', 'minutes', 'command'],
      plan.parts.map((p) => {
        const o = data.parts[p];
        const status = o
          ? `${o.status}${o.reason ? `: ${o.reason}` : ''}${o.timedOut ? ' (past its deadline)' : ''}`
          : 'not run';
        return [
          p,
          status,
          formatFixed((o?.durationMs ?? Number.NaN) / 60_000, 1),
          o ? `${o.script} ${shownArgs(o.args)}` : '',
        ];
      }),
      [2],
    )}`,
  );
  return out.join('\n\n');
}
