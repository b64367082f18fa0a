import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey as JoseKey,
  type JWK,
} from 'jose';
import type { Database } from '../db/database.js';
import { type SigningKeyStatus, signingKeys } from '../db/schema/signing-keys.js';
import { SigningKeyError } from './errors.js';
import { type EncryptionSecrets, openStoredKey, sealPrivateKey } from './signing-key-encryption.js';

/** ES256: small signatures, verified natively by WebCrypto in workerd (the edge). */
export const SIGNING_ALG = 'ES256';

/** A retiring key keeps verifying this long past the longest token it may have signed. */
const CLOCK_SKEW_SECONDS = 60;

// --- the keys

export type SigningKeyRecord = typeof signingKeys.$inferSelect;

/** The secrets that seal new keys and open stored ones (origin/auth/signing-key-encryption.ts). */
export type CreateSigningKeyParams = EncryptionSecrets;

/** A new ES256 key pair, stored `active`. Callers retire the previous one (see rotateSigningKey). */
async function insertSigningKey(
  db: Database,
  params: CreateSigningKeyParams,
): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  const secret = params.encryptionSecret;
  const [row] = await db.orm
    .insert(signingKeys)
    .values({
      kid,
      alg: SIGNING_ALG,
      publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
      privateKey: secret ? sealPrivateKey(privateJwk, kid, secret) : JSON.stringify(privateJwk),
      encryption: secret ? 'aes-256-gcm' : 'none',
      status: 'active',
    })
    .returning();
  if (!row) throw new SigningKeyError('the signing key was not stored');
  return row;
}

export type RotateSigningKeyParams = CreateSigningKeyParams & { accessTokenTtlMinutes: number };

/**
 * Make a new active key; the previous active one becomes `retiring` and keeps verifying until
 * every token it signed has expired (`verify_until`). Serialised by a lock, so two rotations at
 * once cannot leave two active keys.
 */
export async function rotateSigningKey(
  db: Database,
  params: RotateSigningKeyParams,
): Promise<{ active: SigningKeyRecord; retiring: string[] }> {
  const result = await db.withLock('signing-keys', () =>
    db.transaction(async (tx) => {
      const verifyUntilSeconds = params.accessTokenTtlMinutes * 60 + CLOCK_SKEW_SECONDS;
      const retiring = await tx.orm
        .update(signingKeys)
        .set({
          status: 'retiring',
          retiringAt: sql`now()`,
          verifyUntil: sql`now() + make_interval(secs => ${verifyUntilSeconds})`,
        })
        .where(eq(signingKeys.status, 'active'))
        .returning({ kid: signingKeys.kid });
      const active = await insertSigningKey(tx, params);
      return { active, retiring: retiring.map((r) => r.kid) };
    }),
  );
  if (!result.acquired) throw new SigningKeyError('another rotation holds the lock');
  return result.value;
}

/** Mark `retiring` keys whose tokens have all expired as `retired`; returns their kids. */
export async function retireExpiredSigningKeys(db: Database): Promise<string[]> {
  const rows = await db.orm
    .update(signingKeys)
    .set({ status: 'retired', retiredAt: sql`now()` })
    .where(and(eq(signingKeys.status, 'retiring'), lt(signingKeys.verifyUntil, sql`now()`)))
    .returning({ kid: signingKeys.kid });
  return rows.map((r) => r.kid);
}

export async function listSigningKeys(db: Database): Promise<SigningKeyRecord[]> {
  return db.orm.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
}

/** The public JWKs that verify: active and retiring keys (the JWKS document). */
export async function verifyingPublicKeys(db: Database): Promise<JWK[]> {
  const rows = await db.orm
    .select({ publicJwk: signingKeys.publicJwk })
    .from(signingKeys)
    .where(inArray(signingKeys.status, ['active', 'retiring'] satisfies SigningKeyStatus[]))
    .orderBy(asc(signingKeys.createdAt));
  return rows.map((r) => r.publicJwk as JWK);
}

/** The public key for `kid` when it may verify, else undefined. */
export async function verificationKey(db: Database, kid: string): Promise<JoseKey | undefined> {
  const [row] = await db.orm
    .select({ publicJwk: signingKeys.publicJwk })
    .from(signingKeys)
    .where(
      and(
        eq(signingKeys.kid, kid),
        inArray(signingKeys.status, ['active', 'retiring'] satisfies SigningKeyStatus[]),
      ),
    );
  if (!row) return undefined;
  return (await importJWK(row.publicJwk as JWK, SIGNING_ALG)) as JoseKey;
}

/**
 * The key that signs now, with its private half. On a fresh install there is none: the first
 * one is made here (under the rotation lock), so a first login works without an operator step.
 */
export async function activeSigningKey(
  db: Database,
  params: RotateSigningKeyParams,
): Promise<{ kid: string; privateKey: JoseKey }> {
  const find = () =>
    db.orm
      .select()
      .from(signingKeys)
      .where(eq(signingKeys.status, 'active'))
      .orderBy(desc(signingKeys.createdAt))
      .limit(1);
  let [row] = await find();
  if (!row) {
    const made = await db.withLock('signing-keys', async () => {
      const [again] = await find();
      return again ?? (await insertSigningKey(db, params));
    });
    if (!made.acquired) throw new SigningKeyError('could not take the signing-key lock');
    row = made.value;
  }
  const { jwk } = openStoredKey(row, params);
  return { kid: row.kid, privateKey: (await importJWK(jwk, SIGNING_ALG)) as JoseKey };
}
