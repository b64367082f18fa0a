import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * Files that are either whole or absent. A crash, a kill or a full disk while writing leaves at
 * most a hidden `.<name>.partial-…` file, never a file under its final name: readers only ever see
 * complete files. The recipe: write a temporary name in the same directory (rename is atomic only
 * within one file system), fsync the data, rename, fsync the directory so the rename itself
 * survives a power cut.
 */

/** The marker in every temporary name; `pruneBackups` removes old ones a crash left behind. */
export const PARTIAL_MARKER = '.partial-';

export function temporaryPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}${PARTIAL_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

export function isPartialName(name: string): boolean {
  return name.startsWith('.') && name.includes(PARTIAL_MARKER);
}

/**
 * Flush a written file to disk. fsync applies to the file, not the descriptor, so a fresh one
 * does: the stream that wrote it has closed its own (a stream that keeps its descriptor open never
 * reports it finished to `pipeline`).
 */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Make a rename or an unlink in `dir` durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write `content` to `path` atomically (see above), readable by the owner only by default. */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  const temporary = temporaryPathFor(path);
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await fsyncDirectory(dirname(path));
}

/** sha256 (hex) and size of a file, read as a stream. */
export async function hashFile(path: string): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  await pipeline(createReadStream(path), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      hash.update(chunk);
      sizeBytes += chunk.length;
    }
  });
  return { sha256: hash.digest('hex'), sizeBytes };
}
