/**
 * The results files of the suite's parts, as the suite reads them back: only the fields it
 * reports, typed loosely enough that a part adding a field (or the edge benchmark, which another
 * file owns, changing shape) does not break the suite. Everything else is kept verbatim in the
 * suite's JSON.
 */
import type { Shape } from '../api/checks.js';
import type { PlanFindings } from '../api/explain.js';
import type { EndpointMedians } from '../api/report.js';
import type { BackupMedians } from '../backup/report.js';

/** A target as the parts store it (bench:etl stores the measured value as a number). */
export type StoredTarget = { target: string; measured: string | number; met: boolean };

export type EtlResults = {
  benchmark: 'etl';
  parameters: { rows: number; runs: number };
  /** By the row names of bench/etl/report.ts ('fresh load', 'fresh load / raw COPY', …). */
  medians: Record<string, number>;
  targets: StoredTarget[];
};

export type ApiResults = {
  benchmark: 'api';
  parameters: {
    rows: number;
    runs: number;
    connections: number;
    durationMs: number;
    warmupMs: number;
    loadGenerator?: string;
  };
  medians: Record<string, EndpointMedians>;
  targets: StoredTarget[];
  plans: Record<string, PlanFindings>;
  workload: Record<string, { shape: Shape }>;
  httpFloor: { perSecond: number; p50Ms: number }[];
  errors: number;
};

type EdgeLevel = { perSecond: number; p50Ms: number; p99Ms: number };
export type EdgeResults = {
  benchmark: 'edge';
  parameters: {
    rows: number;
    runs: number;
    connections: number;
    durationSeconds: number;
    latencyDurationSeconds: number;
  };
  medians: Record<string, { throughput?: EdgeLevel; latency?: EdgeLevel } | undefined>;
  figures?: {
    hitShareOfBare?: number;
    hitQuotasShareOfBare?: number;
    missOverheadP50Ms?: number;
  };
  targets?: StoredTarget[];
};

export type BackupResults = {
  benchmark: 'backup';
  parameters: { rows: number; runs: number; databaseBytes: number };
  medians: BackupMedians;
};

/** One size of the scaling part: the API and ETL results at that many listings. */
export type ScalingPoint = {
  rows: number;
  api?: ApiResults;
  etl?: EtlResults;
  /** Where a figure was taken from another part of the same suite run instead of measured again. */
  reused?: { api?: string; etl?: string };
};

export type ScalingResults = {
  benchmark: 'scaling';
  parameters: { sizes: number[]; apiRuns: number; etlRuns: number; durationMs: number };
  points: ScalingPoint[];
};

/** `1000000` → `1M`, `100000` → `100k`, `2500` → `2.5k`. */
export function formatSize(rows: number): string {
  if (rows >= 1e6) return `${+(rows / 1e6).toFixed(2)}M`;
  if (rows >= 1e3) return `${+(rows / 1e3).toFixed(1)}k`;
  return String(rows);
}

/** `100k`, `1m`, `5M`, `250000`, `1_000_000` → a whole number of rows; NaN when it is not one. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim().replaceAll('_', ''));
  if (!match) return Number.NaN;
  const factor = { '': 1, k: 1e3, m: 1e6 }[(match[2] ?? '').toLowerCase()] ?? Number.NaN;
  const rows = Number(match[1]) * factor;
  return Number.isInteger(rows) ? rows : Number.NaN;
}
