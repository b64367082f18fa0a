import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { createLogger } from '../logger.js';
import { issueAccessToken, verifyAccessToken } from './access-tokens.js';
import { runKeysCli } from './cli/keys.js';
import type { CliIo } from './cli/run.js';
import type { IdentityConfig } from './config.js';
import {
  checkSigningKeys,
  checkSigningKeysAtStartup,
  reencryptSigningKeys,
} from './signing-key-encryption.js';
import { rotateSigningKey } from './signing-keys.js';
import { testIdentityConfig } from './testing.js';

/**
 * Rotating SIGNING_KEY_ENCRYPTION_SECRET against real PostgreSQL: keys sealed with the old
 * secret keep signing while the old one is SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS, `keys
 * reencrypt` seals them all with the new one, and then the new one alone suffices.
 */

const OLD = 'old-encryption-secret-'.padEnd(40, 'o');
const NEW = 'new-encryption-secret-'.padEnd(40, 'n');
const OTHER = 'some-other-secret-'.padEnd(40, 'x');

const withSecrets = (current?: string, previous?: string): IdentityConfig => ({
  ...testIdentityConfig,
  signingKeyEncryptionSecret: current,
  signingKeyEncryptionPreviousSecret: previous,
});
const subject = { sub: 'user:1', scopes: [], plan: 'standard' } as const;

function cli(db: TestDatabase['db'], env: Record<string, string>) {
  const lines: string[] = [];
  const io: CliIo = {
    db,
    env,
    out: (line) => lines.push(line),
    promptSecret: async () => '',
  };
  return { io, lines };
}

const storedKeys = (t: TestDatabase) =>
  t.db.rows<{ kid: string; private_key: string; encryption: string; status: string }>(
    sql`SELECT kid, private_key, encryption, status FROM signing_keys ORDER BY created_at`,
  );

describe('rotating SIGNING_KEY_ENCRYPTION_SECRET', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  it('signs with keys sealed with the previous secret, re-encrypts them all once, then needs only the new one', async () => {
    // Two keys sealed with the old secret: one retiring, one active.
    await rotateSigningKey(t.db, { encryptionSecret: OLD, accessTokenTtlMinutes: 10 });
    const { active } = await rotateSigningKey(t.db, {
      encryptionSecret: OLD,
      accessTokenTtlMinutes: 10,
    });
    const before = await issueAccessToken(t.db, withSecrets(OLD), subject);

    // The new secret alone cannot open them: a clear error naming the variable to set, found
    // at startup (checkSigningKeys) rather than by the first sign-in.
    await expect(checkSigningKeys(t.db, { encryptionSecret: NEW })).rejects.toThrow(
      /SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS/,
    );
    await expect(issueAccessToken(t.db, withSecrets(NEW), subject)).rejects.toMatchObject({
      code: 'SIGNING_KEY',
    });

    // New beside previous: signs, and verifies old and new tokens alike.
    const during = withSecrets(NEW, OLD);
    expect(
      await checkSigningKeys(t.db, { encryptionSecret: NEW, previousEncryptionSecret: OLD }),
    ).toMatchObject({ active: 'previous', underPrevious: expect.arrayContaining([active.kid]) });
    const duringToken = await issueAccessToken(t.db, during, subject);
    expect((await verifyAccessToken(t.db, during, duringToken.token)).kid).toBe(active.kid);
    expect((await verifyAccessToken(t.db, during, before.token)).kid).toBe(active.kid);

    // keys reencrypt: every key, in one go, with a count.
    const sealedBefore = await storedKeys(t);
    const env = {
      SIGNING_KEY_ENCRYPTION_SECRET: NEW,
      SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: OLD,
    };
    const first = cli(t.db, env);
    expect(await runKeysCli(['reencrypt'], first.io)).toBe(0);
    expect(first.lines[0]).toBe(
      're-encrypted 2 signing keys with SIGNING_KEY_ENCRYPTION_SECRET, encrypted 0 stored unencrypted, 0 already current',
    );
    expect(first.lines[1]).toMatch(/remove it/);
    const sealedAfter = await storedKeys(t);
    expect(sealedAfter.map((k) => k.kid)).toEqual(sealedBefore.map((k) => k.kid));
    for (const [i, row] of sealedAfter.entries())
      expect(row.private_key).not.toBe(sealedBefore[i]?.private_key);

    // Idempotent: a second run changes nothing.
    const second = cli(t.db, env);
    expect(await runKeysCli(['reencrypt'], second.io)).toBe(0);
    expect(second.lines[0]).toMatch(/re-encrypted 0 .* 2 already current$/);
    expect((await storedKeys(t)).map((k) => k.private_key)).toEqual(
      sealedAfter.map((k) => k.private_key),
    );
    const [audit] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'signing_key.reencrypt'`,
    );
    expect(audit?.n).toBe(1);

    // The previous secret can go: the new one alone signs and verifies everything.
    const after = withSecrets(NEW);
    expect(await checkSigningKeys(t.db, { encryptionSecret: NEW })).toEqual({
      active: 'current',
      underPrevious: [],
      unencrypted: [],
    });
    const afterToken = await issueAccessToken(t.db, after, subject);
    expect((await verifyAccessToken(t.db, after, afterToken.token)).kid).toBe(active.kid);
    expect((await verifyAccessToken(t.db, after, before.token)).kid).toBe(active.kid);
    // And the old one no longer opens them: they really were re-encrypted.
    await expect(issueAccessToken(t.db, withSecrets(OLD), subject)).rejects.toMatchObject({
      code: 'SIGNING_KEY',
    });
  });

  it('changes no key when one of them opens with neither secret, and names it', async () => {
    const { active: stranger } = await rotateSigningKey(t.db, {
      encryptionSecret: OTHER,
      accessTokenTtlMinutes: 10,
    });
    const sealed = await storedKeys(t);
    await expect(
      reencryptSigningKeys(t.db, { encryptionSecret: OLD, previousEncryptionSecret: NEW }),
    ).rejects.toThrow(
      new RegExp(
        `signing key ${stranger.kid} cannot be decrypted with SIGNING_KEY_ENCRYPTION_SECRET nor SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS`,
      ),
    );
    expect(await storedKeys(t)).toEqual(sealed);
  });

  it('refuses to re-encrypt without a current secret, naming it', async () => {
    await expect(reencryptSigningKeys(t.db, { encryptionSecret: undefined })).rejects.toThrow(
      /^SIGNING_KEY_ENCRYPTION_SECRET is not set/,
    );
  });
});

describe('keys stored before a secret was set', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  it('are encrypted by reencrypt, and reported until then', async () => {
    const { active } = await rotateSigningKey(t.db, {
      encryptionSecret: undefined,
      accessTokenTtlMinutes: 10,
    });
    expect(await checkSigningKeys(t.db, { encryptionSecret: NEW })).toMatchObject({
      active: 'none',
      unencrypted: [active.kid],
    });
    expect(await reencryptSigningKeys(t.db, { encryptionSecret: NEW })).toEqual({
      reencrypted: [],
      encrypted: [active.kid],
      unchanged: 0,
    });
    const [row] = await storedKeys(t);
    expect(row?.encryption).toBe('aes-256-gcm');
    expect(row?.private_key).not.toContain('"d"');
    const token = await issueAccessToken(t.db, withSecrets(NEW), subject);
    expect(token.kid).toBe(active.kid);
  });
});

describe('the origin at startup', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await rotateSigningKey(t.db, { encryptionSecret: OLD, accessTokenTtlMinutes: 10 });
  });
  afterAll(() => t.drop());

  const run = (env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'origin/index.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: t.url,
        INSECURE_NO_EDGE_ASSERTION: 'true',
        MIGRATE_ON_START: 'false',
        SEED_ON_START: 'false',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
        ...env,
      },
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code?: number; stderr?: string }) => ({
        code: error.code ?? -1,
        stderr: error.stderr ?? '',
      }),
    );

  it('refuses to start when the active key does not open with its secrets, naming the variable', async () => {
    const { code, stderr } = await run({ SIGNING_KEY_ENCRYPTION_SECRET: NEW });
    expect(code).toBe(2);
    expect(stderr).toContain('SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS');
    expect(stderr).toMatch(/^origin: signing key \S+ cannot be decrypted/m);
  });

  it('serves with the previous secret beside the new one', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'origin/index.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: t.url,
        INSECURE_NO_EDGE_ASSERTION: 'true',
        MIGRATE_ON_START: 'false',
        SEED_ON_START: 'false',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
        SIGNING_KEY_ENCRYPTION_SECRET: NEW,
        SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: OLD,
      },
    });
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const listening = await new Promise<boolean>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('listening on')) resolve(true);
      });
      void exited.then(() => resolve(false));
    });
    child.kill('SIGTERM');
    await exited;
    expect(listening).toBe(true);
  });

  it('starts with the previous secret beside the new one, and says reencrypt is due', async () => {
    const warnings: string[] = [];
    const logger = createLogger('warn');
    const spy = { ...logger, warn: (...args: unknown[]) => warnings.push(String(args.at(-1))) };
    expect(
      await checkSigningKeysAtStartup(
        t.db,
        { encryptionSecret: NEW, previousEncryptionSecret: OLD },
        spy as unknown as typeof logger,
      ),
    ).toMatchObject({ active: 'previous' });
    expect(warnings).toEqual([expect.stringContaining('npm run keys -- reencrypt')]);
  });
});
