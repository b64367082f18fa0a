import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export type DiskSpace = { path: string; freeBytes: number; totalBytes: number; freeRatio: number };

/**
 * Free space on the file system holding `path`, as an unprivileged process can use it (`bavail`,
 * not `bfree`: the blocks reserved for root are no use to us).
 */
export async function diskSpace(path: string): Promise<DiskSpace> {
  const fs = await statfs(await nearestExisting(resolve(path)));
  const freeBytes = fs.bavail * fs.bsize;
  const totalBytes = fs.blocks * fs.bsize;
  return { path, freeBytes, totalBytes, freeRatio: totalBytes > 0 ? freeBytes / totalBytes : 0 };
}

/**
 * The data directory may not exist yet (the embedded database creates it on first start, and a
 * server deployment never does): its nearest existing parent is on the same file system it will be.
 */
async function nearestExisting(path: string): Promise<string> {
  let current = path;
  for (;;) {
    try {
      await statfs(current);
      return current;
    } catch (error) {
      const parent = dirname(current);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw error;
      current = parent;
    }
  }
}
