import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Where benchmark results go (git-ignored: figures belong in docs/benchmarks.md, not in git). */
export const resultsFolder = fileURLToPath(new URL('../results/', import.meta.url));

export type MachineInfo = {
  cpuModel: string;
  cpuCount: number;
  totalMemoryMiB: number;
  os: string;
  node: string;
};

/** The machine a benchmark ran on: figures mean nothing without it. */
export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cpuCount: cores.length,
    totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

/**
 * Write `data` as `bench/results/<name>-<timestamp>.json` and return the path. The timestamp is
 * ISO 8601 with `:` and `.` replaced by `-`: colons are not allowed in file names everywhere.
 */
export async function writeResults(name: string, data: unknown, at = new Date()): Promise<string> {
  await mkdir(resultsFolder, { recursive: true });
  const path = `${resultsFolder}${name}-${at.toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
