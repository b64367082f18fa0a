/**
 * What bench/backup/main.ts prints and stores: per repetition, the library's backup, restore and drill
 * against raw pg_dump / pg_restore of the same database; their medians and ratios. Ratios are
 * "share of the limit" as everywhere in the suite (limit time ÷ our time: 1.0 = as fast as the
 * raw tool), taken within each repetition, then the median.
 */
import { median, rowsPerSecond } from '../lib/stats.js';
import { formatFixed, formatInteger, markdownTable } from '../lib/table.js';

/** One repetition, times in ms and sizes in bytes. */
export type BackupRun = {
  dumpMs: number;
  dumpBytes: number;
  rawDumpMs: number;
  rawDumpBytes: number;
  restoreMs: number;
  rawRestoreMs: number;
  verifyMs: number;
};

export type BackupMedians = {
  dumpSeconds: number;
  dumpMiB: number;
  rawDumpSeconds: number;
  rawDumpMiB: number;
  /** raw pg_dump time ÷ backup time. */
  dumpShareOfRaw: number;
  /** backup size ÷ raw dump size. */
  sizeRatio: number;
  restoreSeconds: number;
  rawRestoreSeconds: number;
  /** raw pg_restore time ÷ restore time. */
  restoreShareOfRaw: number;
  verifySeconds: number;
  /** Listings per second through the backup and through the restore. */
  dumpRowsPerSecond: number;
  restoreRowsPerSecond: number;
};

export function summarizeBackups(runs: BackupRun[], rows: number) {
  const m = (pick: (r: BackupRun) => number) => median(runs.map(pick));
  const mib = (bytes: number) => bytes / 2 ** 20;
  const medians: BackupMedians = {
    dumpSeconds: m((r) => r.dumpMs / 1000),
    dumpMiB: m((r) => mib(r.dumpBytes)),
    rawDumpSeconds: m((r) => r.rawDumpMs / 1000),
    rawDumpMiB: m((r) => mib(r.rawDumpBytes)),
    dumpShareOfRaw: m((r) => r.rawDumpMs / r.dumpMs),
    sizeRatio: m((r) => r.dumpBytes / r.rawDumpBytes),
    restoreSeconds: m((r) => r.restoreMs / 1000),
    rawRestoreSeconds: m((r) => r.rawRestoreMs / 1000),
    restoreShareOfRaw: m((r) => r.rawRestoreMs / r.restoreMs),
    verifySeconds: m((r) => r.verifyMs / 1000),
    dumpRowsPerSecond: m((r) => rowsPerSecond(rows, r.dumpMs)),
    restoreRowsPerSecond: m((r) => rowsPerSecond(rows, r.restoreMs)),
  };
  const each = (pick: (r: BackupRun) => number, digits: number) =>
    runs.map((r) => formatFixed(pick(r), digits)).join(' · ');
  const seconds = (ms: number) => ms / 1000;
  const lines: [string, string, string][] = [
    [
      'backup: dump + manifest',
      `${formatFixed(medians.dumpSeconds, 1)} s`,
      each((r) => seconds(r.dumpMs), 1),
    ],
    [
      'raw pg_dump -Fc (limit)',
      `${formatFixed(medians.rawDumpSeconds, 1)} s`,
      each((r) => seconds(r.rawDumpMs), 1),
    ],
    [
      'backup / raw (time share)',
      formatFixed(medians.dumpShareOfRaw, 2),
      each((r) => r.rawDumpMs / r.dumpMs, 2),
    ],
    ['backup size', `${formatInteger(medians.dumpMiB)} MiB`, each((r) => mib(r.dumpBytes), 0)],
    [
      'raw dump size',
      `${formatInteger(medians.rawDumpMiB)} MiB`,
      each((r) => mib(r.rawDumpBytes), 0),
    ],
    [
      'size, backup / raw',
      formatFixed(medians.sizeRatio, 3),
      each((r) => r.dumpBytes / r.rawDumpBytes, 3),
    ],
    [
      'restore (checked, one transaction)',
      `${formatFixed(medians.restoreSeconds, 1)} s`,
      each((r) => seconds(r.restoreMs), 1),
    ],
    [
      'raw pg_restore (limit)',
      `${formatFixed(medians.rawRestoreSeconds, 1)} s`,
      each((r) => seconds(r.rawRestoreMs), 1),
    ],
    [
      'restore / raw (time share)',
      formatFixed(medians.restoreShareOfRaw, 2),
      each((r) => r.rawRestoreMs / r.restoreMs, 2),
    ],
    [
      'restore drill (verify-backup)',
      `${formatFixed(medians.verifySeconds, 1)} s`,
      each((r) => seconds(r.verifyMs), 1),
    ],
  ];
  const table = markdownTable(['figure', 'median', 'each run'], lines, [1]);
  return { table, medians };
}
