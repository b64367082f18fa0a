import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { asc, eq, sql } from 'drizzle-orm';
import type { JWK } from 'jose';
import type { Database } from '../db/database.js';
import { signingKeys } from '../db/schema/signing-keys.js';
import type { Logger } from '../logger.js';
import { SigningKeyError } from './errors.js';

/**
 * Signing keys' private halves at rest: AES-256-GCM under a key derived from
 * SIGNING_KEY_ENCRYPTION_SECRET, and the rotation of that secret. During a rotation the secret
 * being retired is SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: keys sealed with it still open, and
 * `npm run keys -- reencrypt` (reencryptSigningKeys) seals every key with the current one, after
 * which the previous secret can go (docs/operations.md, "Rotating secrets").
 */
export type EncryptionSecrets = {
  /** SIGNING_KEY_ENCRYPTION_SECRET: seals new keys, opens keys sealed with it. */
  encryptionSecret: string | undefined;
  /** SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: opens keys sealed before the rotation. */
  previousEncryptionSecret?: string | undefined;
};

/** How a stored key's private half is sealed, relative to the secrets this process has. */
export type SealedWith = 'none' | 'current' | 'previous';

function encryptionKey(secret: string): Buffer {
  // HKDF rather than the secret itself: the secret may be a passphrase, and the derived key is
  // bound to this one purpose.
  return Buffer.from(hkdfSync('sha256', secret, 'estate-edge', 'signing-key-encryption', 32));
}

/** AES-256-GCM with the kid as associated data, so a ciphertext cannot be moved to another row. */
export function sealPrivateKey(jwk: JWK, kid: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(secret), iv);
  cipher.setAAD(Buffer.from(kid));
  const body = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
  return [iv, body, cipher.getAuthTag()].map((b) => b.toString('base64url')).join('.');
}

/** The JWK, or undefined when `secret` is not the one it was sealed with. */
function unseal(sealed: string, kid: string, secret: string): JWK | undefined {
  const [iv, body, tag] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
  if (!iv || !body || !tag) throw new SigningKeyError(`signing key ${kid}: malformed ciphertext`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', encryptionKey(secret), iv);
    decipher.setAAD(Buffer.from(kid));
    decipher.setAuthTag(tag);
    return JSON.parse(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8'));
  } catch {
    return undefined;
  }
}

type StoredKey = { kid: string; privateKey: string; encryption: 'none' | 'aes-256-gcm' };

/**
 * A stored key's private JWK, opened with the current secret or else the previous one, and which
 * of them it was. Throws a SigningKeyError naming the variable to set when neither opens it.
 */
export function openStoredKey(
  row: StoredKey,
  secrets: EncryptionSecrets,
): { jwk: JWK; sealedWith: SealedWith } {
  if (row.encryption === 'none')
    return { jwk: JSON.parse(row.privateKey) as JWK, sealedWith: 'none' };
  const { encryptionSecret: current, previousEncryptionSecret: previous } = secrets;
  if (!current)
    throw new SigningKeyError(
      `signing key ${row.kid} is encrypted and SIGNING_KEY_ENCRYPTION_SECRET is not set`,
    );
  const withCurrent = unseal(row.privateKey, row.kid, current);
  if (withCurrent) return { jwk: withCurrent, sealedWith: 'current' };
  const withPrevious = previous ? unseal(row.privateKey, row.kid, previous) : undefined;
  if (withPrevious) return { jwk: withPrevious, sealedWith: 'previous' };
  throw new SigningKeyError(
    previous
      ? `signing key ${row.kid} cannot be decrypted with SIGNING_KEY_ENCRYPTION_SECRET nor SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: it was stored with another secret`
      : `signing key ${row.kid} cannot be decrypted: SIGNING_KEY_ENCRYPTION_SECRET is not the one it was stored with (during a rotation, set the old one as SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS until \`npm run keys -- reencrypt\` has run)`,
  );
}

export type SigningKeyReadiness = {
  /** The active key's sealing, or undefined when there is none yet (a fresh install). */
  active: SealedWith | undefined;
  /** Keys (any status) still sealed with the previous secret: `keys reencrypt` has not run. */
  underPrevious: string[];
  /** Keys (any status) stored unencrypted although a secret is set. */
  unencrypted: string[];
};

/**
 * Check at startup that the active signing key opens with the configured secrets, so a missing
 * SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS stops the process with its name instead of failing
 * every sign-in later. Throws a SigningKeyError for the active key; reports the rest.
 *
 * @example
 *   const keys = await checkSigningKeys(db, { encryptionSecret, previousEncryptionSecret });
 *   if (keys.underPrevious.length) logger.warn(keys, 'run npm run keys -- reencrypt');
 */
export async function checkSigningKeys(
  db: Database,
  secrets: EncryptionSecrets,
): Promise<SigningKeyReadiness> {
  const rows = await db.orm.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
  const readiness: SigningKeyReadiness = { active: undefined, underPrevious: [], unencrypted: [] };
  for (const row of rows) {
    if (row.status === 'active') {
      readiness.active = openStoredKey(row, secrets).sealedWith;
      if (readiness.active === 'previous') readiness.underPrevious.push(row.kid);
      if (readiness.active === 'none' && secrets.encryptionSecret)
        readiness.unencrypted.push(row.kid);
      continue;
    }
    // Keys that no longer sign only matter to the rotation's bookkeeping: never fatal here.
    if (row.encryption === 'none') {
      if (secrets.encryptionSecret) readiness.unencrypted.push(row.kid);
      continue;
    }
    try {
      if (openStoredKey(row, secrets).sealedWith === 'previous')
        readiness.underPrevious.push(row.kid);
    } catch {
      readiness.underPrevious.push(row.kid);
    }
  }
  return readiness;
}

/**
 * The origin's start (origin/index.ts): refuse to serve when the active key does not open (a
 * SigningKeyError naming the variable), and say what a rotation in progress still needs.
 */
export async function checkSigningKeysAtStartup(
  db: Database,
  secrets: EncryptionSecrets,
  logger: Logger,
): Promise<SigningKeyReadiness | undefined> {
  // Not migrated yet (MIGRATE_ON_START=false and no migrate job): readiness reports that.
  const [table] = await db.rows<{ exists: boolean }>(
    sql`SELECT to_regclass('signing_keys') IS NOT NULL AS "exists"`,
  );
  if (!table?.exists) return undefined;
  const keys = await checkSigningKeys(db, secrets);
  if (keys.underPrevious.length > 0)
    logger.warn(
      { kids: keys.underPrevious },
      'signing keys are still sealed with SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS (or an older secret): run `npm run keys -- reencrypt` before removing it',
    );
  else if (secrets.previousEncryptionSecret)
    logger.warn(
      'SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS is set but no signing key needs it: remove it',
    );
  if (keys.unencrypted.length > 0)
    logger.warn(
      { kids: keys.unencrypted },
      'signing keys are stored unencrypted although SIGNING_KEY_ENCRYPTION_SECRET is set: run `npm run keys -- reencrypt`',
    );
  return keys;
}

export type ReencryptResult = {
  /** Keys that were sealed with the previous secret and now are with the current one. */
  reencrypted: string[];
  /** Keys that were stored unencrypted and now are sealed with the current secret. */
  encrypted: string[];
  /** Keys already sealed with the current secret: left as they were. */
  unchanged: number;
};

/**
 * Seal every stored signing key (active, retiring and retired) with the current secret, in one
 * transaction: either all of them are, or (a key neither secret opens) none is changed. Running
 * it again changes nothing. Afterwards SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS can be removed.
 * Unencrypted keys (from before a secret was set) are encrypted on the way.
 *
 * @example
 *   await reencryptSigningKeys(db, { encryptionSecret: NEW, previousEncryptionSecret: OLD });
 *   // { reencrypted: ['kid1', 'kid2'], encrypted: [], unchanged: 0 }
 */
export async function reencryptSigningKeys(
  db: Database,
  secrets: EncryptionSecrets,
): Promise<ReencryptResult> {
  const current = secrets.encryptionSecret;
  if (!current)
    throw new SigningKeyError(
      'SIGNING_KEY_ENCRYPTION_SECRET is not set: there is no secret to encrypt the signing keys with',
    );
  // The rotation lock too: a `keys rotate` at the same moment waits rather than interleaves.
  const result = await db.withLock('signing-keys', () =>
    db.transaction(async (tx) => {
      const rows = await tx.orm
        .select()
        .from(signingKeys)
        .orderBy(asc(signingKeys.createdAt))
        .for('update');
      const done: ReencryptResult = { reencrypted: [], encrypted: [], unchanged: 0 };
      for (const row of rows) {
        const { jwk, sealedWith } = openStoredKey(row, secrets);
        if (sealedWith === 'current') {
          done.unchanged += 1;
          continue;
        }
        await tx.orm
          .update(signingKeys)
          .set({ privateKey: sealPrivateKey(jwk, row.kid, current), encryption: 'aes-256-gcm' })
          .where(eq(signingKeys.kid, row.kid));
        (sealedWith === 'previous' ? done.reencrypted : done.encrypted).push(row.kid);
      }
      return done;
    }),
  );
  if (!result.acquired) throw new SigningKeyError('could not take the signing-key lock');
  return result.value;
}
