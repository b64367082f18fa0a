import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseBackupEnv,
  requireAdminUrl,
  requireBackupSettings,
  requireDaemonSettings,
} from './config.js';
import { BackupConfigError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'estate-backup-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DATABASE_URL = 'postgres://app:s3cret@db.internal:5432/estate';
const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

function config(env: Record<string, string>) {
  return parseBackupEnv({ DATABASE_URL, ...env });
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BackupConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a BackupConfigError');
}

describe('parseBackupEnv', () => {
  it('has the documented defaults', () => {
    const c = config({});
    expect(c).toMatchObject({
      dir: '.data/backups',
      schedule: '0 2 * * *',
      verifySchedule: '0 4 * * 0',
      retention: { daily: 7, weekly: 4, monthly: 6 },
      encryption: 'none',
      s3: undefined,
      statusFile: undefined,
      metabaseDatabaseUrl: undefined,
    });
  });

  it('derives the admin connection from DATABASE_URL, on the postgres database', () => {
    expect(requireAdminUrl(config({}))).toBe('postgres://app:s3cret@db.internal:5432/postgres');
    expect(requireAdminUrl(config({ BACKUP_ADMIN_URL: 'postgres://root@db/postgres' }))).toBe(
      'postgres://root@db/postgres',
    );
    expect(refusal(() => requireAdminUrl(parseBackupEnv({})))).toContain('BACKUP_ADMIN_URL');
  });

  it('treats an empty variable as unset, as a compose file passes them', () => {
    const c = config({ BACKUP_S3_BUCKET: '', BACKUP_ENCRYPTION: '', BACKUP_RETENTION_DAILY: ' ' });
    expect(c.s3).toBeUndefined();
    expect(c.encryption).toBe('none');
    expect(c.retention.daily).toBe(7);
  });

  it('reads retention counts, refusing what is not a whole number', () => {
    expect(config({ BACKUP_RETENTION_WEEKLY: '0' }).retention.weekly).toBe(0);
    expect(refusal(() => config({ BACKUP_RETENTION_DAILY: '-1' }))).toContain(
      'BACKUP_RETENTION_DAILY',
    );
    expect(refusal(() => config({ BACKUP_RETENTION_MONTHLY: '6.5' }))).toContain(
      'BACKUP_RETENTION_MONTHLY',
    );
  });

  it('refuses a schedule that is not a cron pattern, naming the variable', () => {
    expect(refusal(() => config({ BACKUP_SCHEDULE: 'every night' }))).toContain('BACKUP_SCHEDULE');
    expect(refusal(() => config({ BACKUP_VERIFY_SCHEDULE: '61 * * * *' }))).toContain(
      'BACKUP_VERIFY_SCHEDULE',
    );
  });

  it('refuses an unknown encryption and a database URL that is not postgres', () => {
    expect(refusal(() => config({ BACKUP_ENCRYPTION: 'rot13' }))).toContain('BACKUP_ENCRYPTION');
    expect(refusal(() => parseBackupEnv({ DATABASE_URL: 'mysql://x@y/z' }))).toContain(
      'DATABASE_URL',
    );
  });

  it('splits age recipients on commas and new lines, and refuses what is not one', () => {
    const ssh = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHs2 ops@backup';
    expect(config({ BACKUP_AGE_RECIPIENTS: `${RECIPIENT}, ${ssh}\n` }).keys.ageRecipients).toEqual([
      RECIPIENT,
      ssh,
    ]);
    const message = refusal(() =>
      config({ BACKUP_AGE_RECIPIENTS: `${RECIPIENT} ${RECIPIENT.replace('p', 'q')}` }),
    );
    expect(message).toContain('BACKUP_AGE_RECIPIENTS');
    expect(message).toContain('commas');
  });

  it('reads the gpg passphrase from its file without the trailing newline', () => {
    const file = join(dir, 'passphrase');
    writeFileSync(file, 'correct horse battery staple\n');
    expect(config({ BACKUP_GPG_PASSPHRASE_FILE: file }).keys.gpgPassphrase).toBe(
      'correct horse battery staple',
    );
  });

  it('refuses an unreadable passphrase file, and an empty one only for gpg, and both passphrase variables at once', () => {
    expect(refusal(() => config({ BACKUP_GPG_PASSPHRASE_FILE: join(dir, 'absent') }))).toContain(
      'ENOENT',
    );
    // What compose mounts for an unset BACKUP_GPG_PASSPHRASE_FILE: no key, fine without gpg.
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(config({ BACKUP_GPG_PASSPHRASE_FILE: empty }).keys.gpgPassphrase).toBeUndefined();
    expect(requireBackupSettings(config({ BACKUP_GPG_PASSPHRASE_FILE: empty }))).toBe(DATABASE_URL);
    expect(
      refusal(() =>
        requireBackupSettings(
          config({ BACKUP_ENCRYPTION: 'gpg', BACKUP_GPG_PASSPHRASE_FILE: empty }),
        ),
      ),
    ).toContain('empty');
    expect(
      refusal(() =>
        config({ BACKUP_GPG_PASSPHRASE: 'x', BACKUP_GPG_PASSPHRASE_FILE: join(dir, 'passphrase') }),
      ),
    ).toContain('set one');
  });

  it('needs both S3 keys with a bucket, and a bucket with any other S3 setting', () => {
    expect(
      refusal(() => config({ BACKUP_S3_BUCKET: 'b', BACKUP_S3_ACCESS_KEY_ID: 'k' })),
    ).toContain('BACKUP_S3_SECRET_ACCESS_KEY');
    expect(refusal(() => config({ BACKUP_S3_ENDPOINT: 'https://r2.example' }))).toContain(
      'BACKUP_S3_BUCKET',
    );
    const c = config({
      BACKUP_S3_BUCKET: 'backups',
      BACKUP_S3_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
      BACKUP_S3_ACCESS_KEY_ID: 'id',
      BACKUP_S3_SECRET_ACCESS_KEY: 'secret',
      BACKUP_S3_PREFIX: '/estate',
    });
    expect(c.s3).toEqual({
      bucket: 'backups',
      endpoint: 'https://acct.r2.cloudflarestorage.com',
      region: 'auto',
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      prefix: 'estate/',
    });
  });

  it('never puts a database password into an error message', () => {
    const message = refusal(() =>
      parseBackupEnv({ DATABASE_URL, BACKUP_ADMIN_URL: 'http://root:hunter2@x/postgres' }),
    );
    expect(message).toContain('BACKUP_ADMIN_URL');
    expect(message).not.toContain('hunter2');
  });
});

describe('requireBackupSettings', () => {
  it('refuses to back up without DATABASE_URL', () => {
    expect(refusal(() => requireBackupSettings(parseBackupEnv({})))).toContain('DATABASE_URL');
  });

  it('refuses age encryption with no recipient: never a plaintext backup by mistake', () => {
    expect(refusal(() => requireBackupSettings(config({ BACKUP_ENCRYPTION: 'age' })))).toContain(
      'BACKUP_AGE_RECIPIENTS',
    );
  });

  it('refuses gpg encryption with no passphrase', () => {
    expect(refusal(() => requireBackupSettings(config({ BACKUP_ENCRYPTION: 'gpg' })))).toContain(
      'BACKUP_GPG_PASSPHRASE',
    );
  });

  it('accepts encryption with its key', () => {
    expect(
      requireBackupSettings(config({ BACKUP_ENCRYPTION: 'age', BACKUP_AGE_RECIPIENTS: RECIPIENT })),
    ).toBe(DATABASE_URL);
    expect(
      requireBackupSettings(config({ BACKUP_ENCRYPTION: 'gpg', BACKUP_GPG_PASSPHRASE: 'pw' })),
    ).toBe(DATABASE_URL);
  });
});

describe('requireDaemonSettings', () => {
  const identity = join(dir, 'identity');
  writeFileSync(identity, 'AGE-SECRET-KEY-1QQQ\n');
  const emptyIdentity = join(dir, 'empty-identity');
  writeFileSync(emptyIdentity, '');
  const age = { BACKUP_ENCRYPTION: 'age', BACKUP_AGE_RECIPIENTS: RECIPIENT };

  it('refuses age with the drill on and no identity, naming both ways out', () => {
    for (const env of [age, { ...age, BACKUP_AGE_IDENTITY_FILE: emptyIdentity }]) {
      const message = refusal(() => requireDaemonSettings(config(env)));
      expect(message).toContain('BACKUP_AGE_IDENTITY_FILE');
      expect(message).toContain('BACKUP_VERIFY_SCHEDULE=off');
    }
  });

  it('runs age with the identity, or with the drill off', () => {
    requireDaemonSettings(config({ ...age, BACKUP_AGE_IDENTITY_FILE: identity }));
    const off = config({ ...age, BACKUP_VERIFY_SCHEDULE: 'off' });
    expect(off.verifySchedule).toBeNull();
    requireDaemonSettings(off);
  });

  it('treats an empty identity file (what compose mounts for /dev/null) as no identity', () => {
    expect(
      config({ BACKUP_AGE_IDENTITY_FILE: emptyIdentity }).keys.ageIdentityFile,
    ).toBeUndefined();
    expect(config({ BACKUP_AGE_IDENTITY_FILE: identity }).keys.ageIdentityFile).toBe(identity);
  });
});
