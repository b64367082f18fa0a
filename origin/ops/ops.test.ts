import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBackupStatus } from './backup.js';
import { diskSpace } from './disk.js';
import { TimeoutError, withTimeout } from './timeout.js';

const dir = mkdtempSync(join(tmpdir(), 'estate-edge-ops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('readBackupStatus', () => {
  it('is unknown when no file is configured, missing when the configured one was never written', async () => {
    expect((await readBackupStatus(undefined)).state).toBe('unknown');
    expect((await readBackupStatus(join(dir, 'absent.json'))).state).toBe('missing');
  });

  it('reads a file of the original shape, as an older backup job wrote it', async () => {
    const status = await readBackupStatus(
      file(
        'ok.json',
        JSON.stringify({ finished_at: '2024-05-01T03:00:00Z', ok: true, size_bytes: 42 }),
      ),
    );
    expect(status).toEqual({
      state: 'known',
      finishedAt: new Date('2024-05-01T03:00:00Z'),
      ok: true,
      sizeBytes: 42,
      file: null,
      error: null,
      verify: null,
    });
  });

  it('reads the file, the error and the last restore drill, ignoring fields it does not know', async () => {
    const status = await readBackupStatus(
      file(
        'full.json',
        JSON.stringify({
          finished_at: '2024-05-06T02:00:09Z',
          ok: false,
          file: null,
          error: 'pg_dump exited with code 1',
          verified_at: '2024-05-05T04:01:00Z',
          verify_ok: false,
          verify_file: 'app-20240505T020000.000Z.dump',
          verify_error: 'sha256 mismatch',
          written_by: 'a newer job',
        }),
      ),
    );
    expect(status).toEqual({
      state: 'known',
      finishedAt: new Date('2024-05-06T02:00:09Z'),
      ok: false,
      sizeBytes: null,
      file: null,
      error: 'pg_dump exited with code 1',
      verify: {
        at: new Date('2024-05-05T04:01:00Z'),
        ok: false,
        file: 'app-20240505T020000.000Z.dump',
        error: 'sha256 mismatch',
      },
    });
  });

  it.each([
    ['not JSON', 'nope', 'not JSON'],
    [
      'a date that is not one',
      JSON.stringify({ finished_at: 'yesterday', ok: true }),
      'finished_at',
    ],
    ['ok as a string', JSON.stringify({ finished_at: '2024-05-01T03:00:00Z', ok: 'yes' }), 'ok'],
    [
      'a drill date without its result',
      JSON.stringify({
        finished_at: '2024-05-01T03:00:00Z',
        ok: true,
        verified_at: '2024-05-01T04:00:00Z',
      }),
      'verify_ok',
    ],
    [
      'a drill date that is not one',
      JSON.stringify({
        finished_at: '2024-05-01T03:00:00Z',
        ok: true,
        verified_at: 'sunday',
        verify_ok: true,
      }),
      'verified_at',
    ],
    [
      'a negative size',
      JSON.stringify({ finished_at: '2024-05-01T03:00:00Z', ok: true, size_bytes: -1 }),
      'size_bytes',
    ],
  ])('is invalid, naming what is wrong, for %s', async (_case, content, named) => {
    const status = await readBackupStatus(file(`bad-${Math.random()}.json`, content));
    expect(status.state).toBe('invalid');
    expect(status.state === 'invalid' && status.reason).toContain(named);
  });

  it('is invalid when the path is a directory', async () => {
    expect((await readBackupStatus(dir)).state).toBe('invalid');
  });
});

describe('diskSpace', () => {
  it('measures the file system of a directory as statfs does', async () => {
    const space = await diskSpace(dir);
    const fs = await statfs(dir);
    expect(space.totalBytes).toBe(fs.blocks * fs.bsize);
    expect(space.freeRatio).toBeGreaterThan(0);
    expect(space.freeRatio).toBeLessThanOrEqual(1);
  });

  it('measures the nearest existing parent of a data directory not created yet', async () => {
    const space = await diskSpace(join(dir, 'not', 'yet', 'there'));
    expect(space.totalBytes).toBe((await diskSpace(dir)).totalBytes);
  });
});

describe('withTimeout', () => {
  it('passes a prompt result through', async () => {
    expect(await withTimeout(Promise.resolve(7), 100, 'x')).toBe(7);
  });

  it('rejects with a TimeoutError naming the check when the work hangs', async () => {
    const hung = new Promise<never>(() => {});
    await expect(withTimeout(hung, 20, 'the database')).rejects.toThrow(TimeoutError);
    await expect(withTimeout(hung, 20, 'the database')).rejects.toThrow(
      'the database did not answer within 20 ms',
    );
  });

  it('leaves no unhandled rejection when the work fails after the timeout', async () => {
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late')), 30));
    await expect(withTimeout(late, 5, 'x')).rejects.toThrow(TimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
});
