/**
 * The scaling tables: the same API and ETL figures at several table sizes, so the growth of cost
 * with data size is visible, and for each query at each size whether its plan stays index-backed
 * (bench/api/main.ts EXPLAIN ANALYZEs the first calls of every endpoint; see bench/api/explain.ts).
 */
import type { PlanFindings } from '../api/explain.js';
import { ENDPOINT_LABELS, type Endpoint } from '../api/workload.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';
import { formatSize, type ScalingPoint } from '../suite/results.js';

export type IndexVerdict = {
  /** An index of `listings` is read, and `listings` is never read by a sequential scan. */
  indexBacked: boolean;
  /** `yes`, `yes (seq scan of areas)`, `NO: seq scan of listings`… */
  text: string;
};

/**
 * Is this query index-backed? It is when it reads `listings` through one of its indexes and never
 * scans it whole. Sequential scans of small tables (the 24 benchmark areas, read by id) are shown,
 * not counted: the planner rightly prefers them at that size.
 */
export function indexVerdict(plan: PlanFindings | undefined): IndexVerdict {
  if (!plan) return { indexBacked: false, text: 'no plan' };
  const listingsIndex = plan.indexes.some((i) => i.startsWith('listings_'));
  const listingsScan = plan.seqScans.includes('listings');
  const others = plan.seqScans.filter((s) => s !== 'listings');
  const note = others.length > 0 ? ` (seq scan of ${others.join(', ')})` : '';
  if (listingsScan) return { indexBacked: false, text: `NO: seq scan of listings${note}` };
  if (!listingsIndex) return { indexBacked: false, text: `NO: no index of listings read${note}` };
  return { indexBacked: true, text: `yes${note}` };
}

const ms = (v: number) => formatFixed(v, v < 10 ? 2 : 1);

function perRequest(e: Endpoint, point: ScalingPoint): string {
  const shape = point.api?.workload[e]?.shape;
  if (!shape) return 'n/a';
  if (e === 'stats') return `${formatInteger(shape.medianItems)} listings`;
  if (e.startsWith('tile'))
    return `${formatInteger(shape.medianItems)} features, ${formatInteger((shape.medianBytes ?? 0) / 1024)} KiB`;
  return `${formatInteger(shape.medianItems)} items`;
}

/** The endpoints measured at every size, in the API benchmark's order. */
function endpointsOf(points: ScalingPoint[]): Endpoint[] {
  const all = Object.keys(ENDPOINT_LABELS) as Endpoint[];
  return all.filter((e) => points.some((p) => p.api?.medians[e]));
}

export function scalingTables(points: ScalingPoint[]) {
  const sorted = [...points].sort((a, b) => a.rows - b.rows);
  const withApi = sorted.filter((p) => p.api);
  const withEtl = sorted.filter((p) => p.etl);
  const endpoints = endpointsOf(withApi);
  const sizes = withApi.map((p) => formatSize(p.rows));

  // Short: one line per endpoint, the sizes side by side.
  const growth = markdownTable(
    [
      'endpoint',
      ...sizes.map((s) => `SQL alone ${s}`),
      ...sizes.map((s) => `HTTP p50 ${s}`),
      ...sizes.map((s) => `req/s ${s}`),
      'index-backed at every size',
    ],
    endpoints.map((e) => {
      const verdicts = withApi.map((p) => indexVerdict(p.api?.plans[e]));
      return [
        ENDPOINT_LABELS[e],
        ...withApi.map((p) => `${ms(p.api?.plans[e]?.executionMs ?? Number.NaN)} ms`),
        ...withApi.map((p) => `${ms(p.api?.medians[e]?.httpP50Ms ?? Number.NaN)} ms`),
        ...withApi.map((p) => formatInteger(p.api?.medians[e]?.httpPerSecond ?? Number.NaN)),
        verdicts.every((v) => v.indexBacked)
          ? 'yes'
          : `NO at ${withApi.flatMap((p, i) => (verdicts[i]?.indexBacked ? [] : [formatSize(p.rows)])).join(', ')}`,
      ];
    }),
    Array.from({ length: sizes.length * 3 }, (_, i) => i + 1),
  );

  // Long: every endpoint at every size, with the workload's shape and the plan's indexes.
  const detail = markdownTable(
    [
      'endpoint',
      'listings',
      'per request (median)',
      'SQL alone',
      'HTTP p50 ms',
      'HTTP req/s',
      'SQL q/s',
      'HTTP/SQL',
      'index-backed',
      'indexes read',
    ],
    endpoints.flatMap((e) =>
      withApi.map((p) => {
        const m = p.api?.medians[e];
        const plan = p.api?.plans[e];
        return [
          ENDPOINT_LABELS[e],
          formatSize(p.rows),
          perRequest(e, p),
          `${ms(plan?.executionMs ?? Number.NaN)} ms`,
          ms(m?.httpP50Ms ?? Number.NaN),
          formatInteger(m?.httpPerSecond ?? Number.NaN),
          formatInteger(m?.directPerSecond ?? Number.NaN),
          formatFixed(m?.ratio ?? Number.NaN, 2),
          indexVerdict(plan).text,
          plan?.indexes.join(', ') ?? 'n/a',
        ];
      }),
    ),
    [3, 4, 5, 6, 7],
  );

  const etl = markdownTable(
    [
      'listings',
      'fresh load rows/s',
      'fresh load s',
      're-run rows/s',
      'fresh / raw COPY',
      're-run / raw COPY',
      'peak RSS MiB',
    ],
    withEtl.map((p) => {
      const m = p.etl?.medians ?? {};
      const v = (name: string) => m[name] ?? Number.NaN;
      return [
        formatSize(p.rows),
        formatInteger(v('fresh load')),
        formatFixed(v('fresh load, wall time'), 1),
        formatInteger(v('re-run, 10% changed')),
        formatFixed(v('fresh load / raw COPY'), 2),
        formatFixed(v('re-run / raw COPY'), 2),
        formatInteger(Math.max(v('fresh load, peak RSS'), v('re-run, peak RSS'))),
      ];
    }),
    [1, 2, 3, 4, 5, 6],
  );

  const notIndexBacked = endpoints.flatMap((e) =>
    withApi.flatMap((p) =>
      indexVerdict(p.api?.plans[e]).indexBacked
        ? []
        : [`${ENDPOINT_LABELS[e]} at ${formatSize(p.rows)}`],
    ),
  );
  return { growth, detail, etl, endpoints, notIndexBacked };
}
