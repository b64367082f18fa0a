import { readFileSync } from 'node:fs';
import { Cron } from 'croner';
import { z } from 'zod';
import { withDatabase } from './connection.js';
import type { EncryptionKeys, EncryptionKind } from './encrypt.js';
import { BackupConfigError } from './errors.js';
import type { RetentionPolicy } from './retention.js';
import type { S3Settings } from './upload.js';

/**
 * The backup jobs' settings, parsed once from the environment (docs/backups.md lists them).
 * An empty variable counts as unset: a compose file passes `${BACKUP_S3_BUCKET:-}` as ''.
 */
export type BackupConfig = {
  dir: string;
  /** The app database; required to back up (PGlite's embedded database is not backed up here). */
  databaseUrl: string | undefined;
  metabaseDatabaseUrl: string | undefined;
  /** Where databases are created and dropped (restore, verify): BACKUP_ADMIN_URL or DATABASE_URL's /postgres. */
  adminUrl: string | undefined;
  schedule: string;
  /** Null when BACKUP_VERIFY_SCHEDULE=off: the drill runs elsewhere (docs/backups.md). */
  verifySchedule: string | null;
  retention: RetentionPolicy;
  encryption: EncryptionKind;
  keys: EncryptionKeys;
  s3: S3Settings | undefined;
  statusFile: string | undefined;
};

const wholeNumber = (fallback: number) =>
  z
    .string()
    .regex(/^\s*\d+\s*$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(0).max(10_000))
    .default(fallback);

const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' });

const cronPattern = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .superRefine((pattern, ctx) => {
      try {
        new Cron(pattern, { paused: true }).stop();
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `not a cron pattern: ${(error as Error).message}`,
        });
      }
    });

const envSchema = z.object({
  BACKUP_DIR: z.string().default('.data/backups'),
  DATABASE_URL: postgresUrl.optional(),
  METABASE_DATABASE_URL: postgresUrl.optional(),
  BACKUP_ADMIN_URL: postgresUrl.optional(),
  /** Nightly at 02:00 (the host's time zone, TZ): after the ETL's night, before the day. */
  BACKUP_SCHEDULE: cronPattern('0 2 * * *'),
  /**
   * Weekly restore drill, Sunday 04:00: a backup nobody restored is a hope, not a backup. `off`
   * when the drill runs on another host (age without the identity here).
   */
  BACKUP_VERIFY_SCHEDULE: z.literal('off').or(cronPattern('0 4 * * 0')),
  BACKUP_RETENTION_DAILY: wholeNumber(7),
  BACKUP_RETENTION_WEEKLY: wholeNumber(4),
  BACKUP_RETENTION_MONTHLY: wholeNumber(6),
  BACKUP_ENCRYPTION: z.enum(['none', 'age', 'gpg']).default('none'),
  BACKUP_AGE_RECIPIENTS: z.string().optional(),
  BACKUP_AGE_IDENTITY_FILE: z.string().optional(),
  BACKUP_GPG_PASSPHRASE: z.string().optional(),
  BACKUP_GPG_PASSPHRASE_FILE: z.string().optional(),
  BACKUP_S3_BUCKET: z.string().optional(),
  BACKUP_S3_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  BACKUP_S3_REGION: z.string().default('auto'),
  BACKUP_S3_ACCESS_KEY_ID: z.string().optional(),
  BACKUP_S3_SECRET_ACCESS_KEY: z.string().optional(),
  BACKUP_S3_PREFIX: z.string().optional(),
  BACKUP_STATUS_FILE: z.string().optional(),
});

/**
 * An age recipient: a native X25519 key (`age1…`, also plugin keys such as `age1yubikey1…`) or an
 * SSH public key. Separated by commas or new lines, since an SSH key contains spaces.
 */
const AGE_RECIPIENT = /^(age1[0-9a-z]+|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( \S.*)?)$/;

/**
 * Parse the environment. Throws a BackupConfigError naming the first bad variable. Rules that
 * depend on what the command does (a backup needs DATABASE_URL and its key) are checked by
 * `requireBackupSettings`, so a restore host needs only what a restore needs.
 */
export function parseBackupEnv(source: NodeJS.ProcessEnv = process.env): BackupConfig {
  const raw = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((name) => {
      const value = source[name];
      return value === undefined || value.trim() === '' ? [] : [[name, value]];
    }),
  );
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BackupConfigError(`${issue?.path.join('.')}: ${issue?.message}`);
  }
  const env = parsed.data;

  const recipients = (env.BACKUP_AGE_RECIPIENTS ?? '')
    .split(/[,\n]/)
    .map((r) => r.trim())
    .filter(Boolean);
  for (const recipient of recipients) {
    if (!AGE_RECIPIENT.test(recipient)) {
      throw new BackupConfigError(
        `BACKUP_AGE_RECIPIENTS: '${recipient.slice(0, 24)}…' is not an age recipient (age1… or an SSH public key; separate several with commas)`,
      );
    }
  }

  if (env.BACKUP_GPG_PASSPHRASE && env.BACKUP_GPG_PASSPHRASE_FILE) {
    throw new BackupConfigError(
      'BACKUP_GPG_PASSPHRASE and BACKUP_GPG_PASSPHRASE_FILE are both set: set one',
    );
  }
  // Key files come from compose secrets, which are always mounted: an empty one (the /dev/null
  // compose mounts for an unset path) means "no key", and only an encryption that needs the key
  // refuses it (requireBackupSettings). A named file that cannot be read is an error.
  // A trailing newline is how editors and `echo` end files, not part of the passphrase.
  const gpgPassphrase = env.BACKUP_GPG_PASSPHRASE_FILE
    ? keyFile('BACKUP_GPG_PASSPHRASE_FILE', env.BACKUP_GPG_PASSPHRASE_FILE).replace(/\r?\n$/, '')
    : env.BACKUP_GPG_PASSPHRASE;
  const ageIdentityFile =
    env.BACKUP_AGE_IDENTITY_FILE &&
    keyFile('BACKUP_AGE_IDENTITY_FILE', env.BACKUP_AGE_IDENTITY_FILE).trim() !== ''
      ? env.BACKUP_AGE_IDENTITY_FILE
      : undefined;

  let s3: S3Settings | undefined;
  const s3Set = [
    env.BACKUP_S3_ENDPOINT,
    env.BACKUP_S3_ACCESS_KEY_ID,
    env.BACKUP_S3_SECRET_ACCESS_KEY,
    env.BACKUP_S3_PREFIX,
  ].some((v) => v !== undefined);
  if (env.BACKUP_S3_BUCKET) {
    if (!env.BACKUP_S3_ACCESS_KEY_ID || !env.BACKUP_S3_SECRET_ACCESS_KEY) {
      throw new BackupConfigError(
        'BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY: required with BACKUP_S3_BUCKET',
      );
    }
    s3 = {
      bucket: env.BACKUP_S3_BUCKET,
      endpoint: env.BACKUP_S3_ENDPOINT,
      region: env.BACKUP_S3_REGION,
      accessKeyId: env.BACKUP_S3_ACCESS_KEY_ID,
      secretAccessKey: env.BACKUP_S3_SECRET_ACCESS_KEY,
      prefix: normalizePrefix(env.BACKUP_S3_PREFIX),
    };
  } else if (s3Set) {
    throw new BackupConfigError(
      'BACKUP_S3_BUCKET: required when other BACKUP_S3_* variables are set',
    );
  }

  return {
    dir: env.BACKUP_DIR,
    databaseUrl: env.DATABASE_URL,
    metabaseDatabaseUrl: env.METABASE_DATABASE_URL,
    adminUrl:
      env.BACKUP_ADMIN_URL ??
      (env.DATABASE_URL ? withDatabase(env.DATABASE_URL, 'postgres') : undefined),
    schedule: env.BACKUP_SCHEDULE,
    verifySchedule: env.BACKUP_VERIFY_SCHEDULE === 'off' ? null : env.BACKUP_VERIFY_SCHEDULE,
    retention: {
      daily: env.BACKUP_RETENTION_DAILY,
      weekly: env.BACKUP_RETENTION_WEEKLY,
      monthly: env.BACKUP_RETENTION_MONTHLY,
    },
    encryption: env.BACKUP_ENCRYPTION,
    keys: {
      ageRecipients: recipients,
      ageIdentityFile,
      gpgPassphrase: gpgPassphrase || undefined,
    },
    s3,
    statusFile: env.BACKUP_STATUS_FILE,
  };
}

/** The content of a key file, or a BackupConfigError naming the variable. */
function keyFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new BackupConfigError(
      `${variable}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** A key prefix is a folder: `estate/` whether written `estate`, `/estate` or `estate/`. */
function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '');
  return trimmed && !trimmed.endsWith('/') ? `${trimmed}/` : trimmed;
}

/**
 * What taking a backup needs: a PostgreSQL database, and the key when encryption is asked for.
 * Refusing here, before pg_dump starts, is the point: "encrypted" with no key must never quietly
 * write plaintext.
 */
export function requireBackupSettings(config: BackupConfig): string {
  if (!config.databaseUrl) {
    throw new BackupConfigError(
      'DATABASE_URL: required; backups dump a PostgreSQL server (the embedded PGlite database is for local use: copy DATA_DIR while the origin is stopped)',
    );
  }
  if (config.encryption === 'age' && config.keys.ageRecipients.length === 0) {
    throw new BackupConfigError(
      'BACKUP_ENCRYPTION=age but BACKUP_AGE_RECIPIENTS is not set: refusing to write an unencrypted backup',
    );
  }
  if (config.encryption === 'gpg' && !config.keys.gpgPassphrase) {
    throw new BackupConfigError(
      'BACKUP_ENCRYPTION=gpg but the passphrase is empty (BACKUP_GPG_PASSPHRASE_FILE names an empty file, or neither it nor BACKUP_GPG_PASSPHRASE is set): refusing to write an unencrypted backup',
    );
  }
  return config.databaseUrl;
}

/**
 * What the daemon needs beyond a backup: a drill it can run. With age the server usually holds
 * public keys only, so the drill cannot decrypt; the operator says which way it is (the identity
 * as a secret, or the drill off and run elsewhere) instead of learning it from a failed drill a
 * week later.
 */
export function requireDaemonSettings(config: BackupConfig): void {
  requireBackupSettings(config);
  if (config.encryption === 'age' && config.verifySchedule && !config.keys.ageIdentityFile) {
    throw new BackupConfigError(
      'BACKUP_ENCRYPTION=age: the restore drill (BACKUP_VERIFY_SCHEDULE) needs the identity to decrypt: set BACKUP_AGE_IDENTITY_FILE, or BACKUP_VERIFY_SCHEDULE=off and drill on the host that holds it',
    );
  }
  requireAdminUrl(config);
}

/** Where to create and drop databases (restore, verify). */
export function requireAdminUrl(config: BackupConfig): string {
  if (!config.adminUrl) {
    throw new BackupConfigError(
      'BACKUP_ADMIN_URL or DATABASE_URL: required to create the database to restore into',
    );
  }
  return config.adminUrl;
}
