import { describe, expect, it } from 'vitest';
import { assessReadiness, type ReadinessFacts } from './assess.js';

const healthy: ReadinessFacts = {
  database: { up: true, driver: 'postgres', latencyMs: 1.234 },
  migrations: { known: true, applied: 3, available: 3 },
  etl: {
    known: true,
    sources: [
      {
        name: 'daily',
        enabled: true,
        scheduled: true,
        lastSuccessAt: new Date(),
        ageSeconds: 3600,
      },
    ],
  },
  backup: { state: 'unknown', reason: 'BACKUP_STATUS_FILE is not set' },
  disk: { known: true, freeBytes: 50, totalBytes: 100, freeRatio: 0.5 },
};

describe('assessReadiness', () => {
  it('is ok with no problems when every check is fine, and an unknown backup is not a problem', () => {
    const r = assessReadiness(healthy);
    expect(r.status).toBe('ok');
    expect(r.problems).toEqual([]);
    expect(r.checks.database.latency_ms).toBe(1.2);
  });

  it('is down when the database is down, whatever else holds', () => {
    const r = assessReadiness({
      ...healthy,
      database: { up: false, driver: 'postgres', error: 'refused' },
      migrations: undefined,
      etl: undefined,
    });
    expect(r.status).toBe('down');
    expect(r.checks.migrations.status).toBe('unknown');
    expect(r.checks.etl.status).toBe('unknown');
    expect(r.problems[0]).toContain('refused');
  });

  it('is degraded with a disk under 10% free, and ok at exactly 10%', () => {
    const low = assessReadiness({
      ...healthy,
      disk: { known: true, freeBytes: 9, totalBytes: 100, freeRatio: 0.09 },
    });
    expect(low.status).toBe('degraded');
    expect(low.checks.disk.status).toBe('low');
    expect(low.problems).toEqual(['disk 9% free']);
    const edge = assessReadiness({
      ...healthy,
      disk: { known: true, freeBytes: 10, totalBytes: 100, freeRatio: 0.1 },
    });
    expect(edge.status).toBe('ok');
  });

  it('is degraded when the disk cannot be measured', () => {
    const r = assessReadiness({ ...healthy, disk: { known: false, error: 'EACCES' } });
    expect(r.status).toBe('degraded');
    expect(r.checks.disk.status).toBe('unknown');
  });

  it('judges staleness at 26 hours, only for enabled scheduled sources', () => {
    const at = (ageSeconds: number, enabled = true, scheduled = true) => ({
      known: true as const,
      sources: [{ name: 's', enabled, scheduled, lastSuccessAt: new Date(), ageSeconds }],
    });
    expect(assessReadiness({ ...healthy, etl: at(26 * 3600) }).status).toBe('ok');
    expect(assessReadiness({ ...healthy, etl: at(26 * 3600 + 1) }).status).toBe('degraded');
    expect(assessReadiness({ ...healthy, etl: at(99 * 3600, false) }).status).toBe('ok');
    expect(assessReadiness({ ...healthy, etl: at(99 * 3600, true, false) }).status).toBe('ok');
  });

  it('calls a scheduled source that never succeeded stale once it was declared 26 hours ago', () => {
    const r = assessReadiness({
      ...healthy,
      etl: {
        known: true,
        sources: [
          {
            name: 'new',
            enabled: true,
            scheduled: true,
            lastSuccessAt: null,
            ageSeconds: 27 * 3600,
          },
        ],
      },
    });
    expect(r.status).toBe('degraded');
    expect(r.checks.etl.sources?.[0]).toMatchObject({
      stale: true,
      last_success_at: null,
      age_seconds: null,
    });
    expect(r.problems[0]).toContain('has not succeeded');
  });

  it('is degraded for a pending migration, naming how many', () => {
    const r = assessReadiness({
      ...healthy,
      migrations: { known: true, applied: 1, available: 3 },
    });
    expect(r.status).toBe('degraded');
    expect(r.problems[0]).toContain('2 migration(s) pending');
  });

  it('is degraded for a failed backup even when recent, and for one over 26 hours old', () => {
    const backup = (ok: boolean, ageSeconds: number) => ({
      state: 'known' as const,
      finishedAt: new Date(),
      ok,
      sizeBytes: null,
      ageSeconds,
    });
    expect(assessReadiness({ ...healthy, backup: backup(false, 60) }).checks.backup.status).toBe(
      'failed',
    );
    expect(
      assessReadiness({ ...healthy, backup: backup(true, 26 * 3600 + 1) }).checks.backup.status,
    ).toBe('stale');
    expect(assessReadiness({ ...healthy, backup: backup(true, 26 * 3600) }).status).toBe('ok');
  });

  const drilled = (verify: { ok: boolean; error?: string }, ok = true) => ({
    state: 'known' as const,
    finishedAt: new Date('2024-05-06T02:00:05Z'),
    ok,
    sizeBytes: 1_000,
    ageSeconds: 3600,
    file: 'app-20240506T020000.000Z.dump',
    error: ok ? null : 'pg_dump exited with code 1: connection lost',
    verify: {
      at: new Date('2024-05-05T04:00:00Z'),
      ok: verify.ok,
      file: 'app-20240505T020000.000Z.dump',
      error: verify.error ?? null,
      ageSeconds: 22 * 3600,
    },
  });

  it('is degraded when the last restore drill failed, saying so with its reason', () => {
    const r = assessReadiness({
      ...healthy,
      backup: drilled({
        ok: false,
        error: 'app-….dump does not match its manifest (sha256 mismatch)',
      }),
    });
    expect(r.status).toBe('degraded');
    expect(r.checks.backup).toMatchObject({
      status: 'failed',
      file: 'app-20240506T020000.000Z.dump',
      verify: {
        status: 'failed',
        verified_at: '2024-05-05T04:00:00.000Z',
        age_seconds: 22 * 3600,
        file: 'app-20240505T020000.000Z.dump',
        error: 'app-….dump does not match its manifest (sha256 mismatch)',
      },
    });
    expect(r.problems).toEqual([
      'the last restore drill failed (2024-05-05T04:00:00.000Z, app-20240505T020000.000Z.dump): app-….dump does not match its manifest (sha256 mismatch)',
    ]);
  });

  it('is ok with a passed drill, and reports it', () => {
    const r = assessReadiness({ ...healthy, backup: drilled({ ok: true }) });
    expect(r.status).toBe('ok');
    expect(r.checks.backup.status).toBe('ok');
    expect(r.checks.backup.verify).toEqual({
      status: 'ok',
      verified_at: '2024-05-05T04:00:00.000Z',
      age_seconds: 22 * 3600,
      file: 'app-20240505T020000.000Z.dump',
    });
  });

  it('names why the last backup failed, and a failed drill beside it', () => {
    const r = assessReadiness({
      ...healthy,
      backup: drilled({ ok: false, error: 'bad key' }, false),
    });
    expect(r.checks.backup.error).toBe('pg_dump exited with code 1: connection lost');
    expect(r.problems).toEqual([
      'the last backup failed (2024-05-06T02:00:05.000Z): pg_dump exited with code 1: connection lost',
      'the last restore drill failed (2024-05-05T04:00:00.000Z, app-20240505T020000.000Z.dump): bad key',
    ]);
  });

  it('keeps a long job error short in the probe answer', () => {
    const r = assessReadiness({
      ...healthy,
      backup: drilled({ ok: false, error: 'x'.repeat(5_000) }),
    });
    expect(r.checks.backup.verify?.error?.length).toBeLessThanOrEqual(301);
    expect(r.problems[0]?.length).toBeLessThan(400);
  });
});
