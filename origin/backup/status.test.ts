import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBackupStatus } from '../ops/backup.js';
import { recordRun, recordVerify } from './status.js';

const dir = mkdtempSync(join(tmpdir(), 'estate-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `nested-${++n}`, 'status.json');

describe('the backup status file', () => {
  it('records a run in the shape readiness reads, readable by the origin, leaving no temp file', async () => {
    const path = fresh();
    await recordRun(path, {
      finishedAt: new Date('2024-05-01T02:00:05Z'),
      ok: true,
      sizeBytes: 1234,
      file: 'app-20240501T020000.000Z.dump',
    });
    expect(await readBackupStatus(path)).toEqual({
      state: 'known',
      finishedAt: new Date('2024-05-01T02:00:05Z'),
      ok: true,
      sizeBytes: 1234,
      file: 'app-20240501T020000.000Z.dump',
      error: null,
      verify: null,
    });
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(path, '..'))).toEqual(['status.json']);
  });

  it('keeps the last drill when a run reports, and the last run when a drill reports', async () => {
    const path = fresh();
    await recordRun(path, { finishedAt: new Date('2024-05-01T02:00:00Z'), ok: true, sizeBytes: 1 });
    await recordVerify(
      path,
      { at: new Date('2024-05-05T04:00:00Z'), ok: false, file: 'x.dump', error: 'sha256 mismatch' },
      { finishedAt: new Date(0), ok: false },
    );
    await recordRun(path, {
      finishedAt: new Date('2024-05-06T02:00:00Z'),
      ok: false,
      error: 'pg_dump exited with code 1',
    });
    const status = await readBackupStatus(path);
    expect(status).toMatchObject({
      state: 'known',
      finishedAt: new Date('2024-05-06T02:00:00Z'),
      ok: false,
      sizeBytes: null,
      error: 'pg_dump exited with code 1',
      verify: {
        at: new Date('2024-05-05T04:00:00Z'),
        ok: false,
        file: 'x.dump',
        error: 'sha256 mismatch',
      },
    });
  });

  it('stands in the drilled backup for a run when no run has reported yet', async () => {
    const path = fresh();
    await recordVerify(
      path,
      { at: new Date('2024-05-05T04:00:00Z'), ok: true, file: 'a.dump', error: null },
      { finishedAt: new Date('2024-05-05T02:00:00Z'), ok: true, sizeBytes: 9, file: 'a.dump' },
    );
    expect(await readBackupStatus(path)).toMatchObject({
      state: 'known',
      finishedAt: new Date('2024-05-05T02:00:00Z'),
      ok: true,
      verify: { ok: true, file: 'a.dump' },
    });
  });

  it('rewrites a status file it cannot read instead of failing the job', async () => {
    const path = fresh();
    await recordRun(path, { finishedAt: new Date(), ok: true });
    writeFileSync(path, '{ broken');
    await recordRun(path, { finishedAt: new Date('2024-05-01T00:00:00Z'), ok: true });
    expect(JSON.parse(readFileSync(path, 'utf8')).finished_at).toBe('2024-05-01T00:00:00.000Z');
  });
});
