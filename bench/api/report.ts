/**
 * What bench/api/main.ts prints and stores: per endpoint, HTTP and direct-SQL figures per run, their
 * medians, the HTTP/direct throughput ratio, and the targets. Targets are reported,
 * never asserted.
 */

import type { LoopResult } from '../lib/closed-loop.js';
import { median } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import type { LoadResult } from './load.js';
import { ENDPOINT_LABELS, type Endpoint } from './workload.js';

/** The targets. */
const TARGET_BBOX_P50_MS = 5;
const TARGET_TILE_P50_MS = 30;
const TARGET_SHARE_OF_DIRECT = 0.5;

/** One endpoint in one run: through the origin, and the same calls straight on the database. */
export type EndpointRun = {
  http: LoadResult;
  direct: LoopResult;
  /** Cores used during each side (see bench/lib/cpu.ts): the machine's and each process's. */
  cpu: { http: Record<string, number>; direct: Record<string, number> };
};
export type ApiRun = Partial<Record<Endpoint, EndpointRun>>;

export type EndpointMedians = {
  httpP50Ms: number;
  httpP99Ms: number;
  httpPerSecond: number;
  directP50Ms: number;
  directP99Ms: number;
  directPerSecond: number;
  /** HTTP req/s ÷ direct q/s, taken within each run (same minute), then the median. */
  ratio: number;
  bytesPerResponse: number;
};

export type TargetResult = { target: string; measured: string; met: boolean };

const ms = (v: number) => formatFixed(v, v < 10 ? 2 : 1);

/** One line per endpoint and run, for the progress log. */
export function describeEndpointRun(r: EndpointRun): string {
  return (
    `HTTP p50 ${ms(r.http.p50Ms)} ms, ${formatInteger(r.http.perSecond)} req/s; ` +
    `direct p50 ${ms(r.direct.p50Ms)} ms, ${formatInteger(r.direct.perSecond)} q/s; ` +
    `ratio ${formatFixed(r.http.perSecond / r.direct.perSecond, 2)}`
  );
}

export function summarize(runs: ApiRun[], endpoints: readonly Endpoint[]) {
  const medians = {} as Record<Endpoint, EndpointMedians>;
  for (const e of endpoints) {
    const m = (pick: (r: EndpointRun) => number) =>
      median(runs.flatMap((run) => (run[e] ? [pick(run[e])] : [])));
    medians[e] = {
      httpP50Ms: m((r) => r.http.p50Ms),
      httpP99Ms: m((r) => r.http.p99Ms),
      httpPerSecond: m((r) => r.http.perSecond),
      directP50Ms: m((r) => r.direct.p50Ms),
      directP99Ms: m((r) => r.direct.p99Ms),
      directPerSecond: m((r) => r.direct.perSecond),
      ratio: m((r) => r.http.perSecond / r.direct.perSecond),
      bytesPerResponse: m((r) => r.http.bytesPerRequest),
    };
  }

  const targetResults: TargetResult[] = [];
  const addTarget = (target: string, measured: string, met: boolean) =>
    targetResults.push({ target, measured, met });
  const targetsOf: Record<string, string[]> = {};
  const note = (e: Endpoint, text: string) => {
    targetsOf[e] = [...(targetsOf[e] ?? []), text];
  };
  for (const e of endpoints) {
    const f = medians[e];
    const latencyTarget =
      e === 'bbox' ? TARGET_BBOX_P50_MS : e.startsWith('tile') ? TARGET_TILE_P50_MS : undefined;
    if (latencyTarget !== undefined) {
      const met = f.httpP50Ms <= latencyTarget;
      addTarget(
        `${ENDPOINT_LABELS[e]}: HTTP p50 ≤ ${latencyTarget} ms`,
        `${ms(f.httpP50Ms)} ms`,
        met,
      );
      note(e, `p50 ${met ? 'met' : 'NOT met'}`);
    }
    const met = f.ratio >= TARGET_SHARE_OF_DIRECT;
    addTarget(
      `${ENDPOINT_LABELS[e]}: HTTP req/s ≥ ${TARGET_SHARE_OF_DIRECT} × direct q/s`,
      formatFixed(f.ratio, 2),
      met,
    );
    note(e, `ratio ${met ? 'met' : 'NOT met'}`);
  }

  const table = markdownTable(
    [
      'endpoint',
      'HTTP p50 ms',
      'HTTP p99 ms',
      'HTTP req/s',
      'SQL p50 ms',
      'SQL p99 ms',
      'SQL q/s',
      'HTTP/SQL',
      'targets',
    ],
    endpoints.map((e) => {
      const f = medians[e];
      return [
        ENDPOINT_LABELS[e],
        ms(f.httpP50Ms),
        ms(f.httpP99Ms),
        formatInteger(f.httpPerSecond),
        ms(f.directP50Ms),
        ms(f.directP99Ms),
        formatInteger(f.directPerSecond),
        formatFixed(f.ratio, 2),
        (targetsOf[e] ?? []).join(', '),
      ];
    }),
    [1, 2, 3, 4, 5, 6, 7],
  );
  const targets = markdownTable(
    ['target', 'median', 'result'],
    targetResults.map((t) => [t.target, t.measured, t.met ? 'met' : 'NOT met']),
    [1],
  );
  const cpu = markdownTable(
    [
      'endpoint',
      'HTTP: machine',
      'origin',
      'load generator',
      'rest (PostgreSQL, others)',
      'SQL: machine',
      'direct runner',
      'rest (PostgreSQL, others)',
    ],
    endpoints.map((e) => {
      const m = (pick: (r: EndpointRun) => number) =>
        formatFixed(median(runs.flatMap((run) => (run[e] ? [pick(run[e])] : []))), 2);
      const h = (name: string) => (r: EndpointRun) => r.cpu.http[name] ?? Number.NaN;
      const d = (name: string) => (r: EndpointRun) => r.cpu.direct[name] ?? Number.NaN;
      return [
        ENDPOINT_LABELS[e],
        m(h('machine')),
        m(h('origin')),
        m(h('loadGenerator')),
        m((r) => h('machine')(r) - h('origin')(r) - h('loadGenerator')(r)),
        m(d('machine')),
        m(d('directRunner')),
        m((r) => d('machine')(r) - d('directRunner')(r)),
      ];
    }),
    [1, 2, 3, 4, 5, 6, 7],
  );
  return { table, targets, cpu, medians, targetResults };
}
