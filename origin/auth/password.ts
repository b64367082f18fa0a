import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashing with node's scrypt (no native or WASM dependency to keep up to date).
 * Parameters: N = 2^15, r = 8, p = 1 (the OWASP minimum for scrypt), a 64-byte key and a 16-byte
 * random salt. scrypt needs 128·N·r bytes = 32 MiB; node's default `maxmem` is exactly 32 MiB,
 * which the bookkeeping pushes over, so maxmem is set to 64 MiB. A hash records its parameters
 * (`scrypt$N=32768,r=8,p=1$<salt>$<key>`, base64url), so the cost can be raised later: old
 * hashes still verify with the parameters they were made with.
 */
export const scryptParams = { N: 2 ** 15, r: 8, p: 1, keyLength: 64, saltLength: 16 } as const;

/** Hashes with parameters above these are refused, so a stored row cannot make us allocate GBs. */
const MAX_N = 2 ** 20;
const MAX_R = 16;
const MAX_P = 4;

function maxmemFor(N: number, r: number): number {
  return 2 * 128 * N * r;
}

function derive(password: string, salt: Buffer, N: number, r: number, p: number, length: number) {
  const options: ScryptOptions = { N, r, p, maxmem: maxmemFor(N, r) };
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, keyLength, saltLength } = scryptParams;
  const salt = randomBytes(saltLength);
  const key = await derive(password, salt, N, r, p, keyLength);
  return `scrypt$N=${N},r=${r},p=${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{16,})$/;

/** Whether `password` matches `encoded`. A malformed or over-costly hash never matches. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = FORMAT.exec(encoded);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N > MAX_N || r > MAX_R || p > MAX_P || (N & (N - 1)) !== 0 || N < 2) return false;
  const salt = Buffer.from(m[4] as string, 'base64url');
  const expected = Buffer.from(m[5] as string, 'base64url');
  const actual = await derive(password, salt, N, r, p, expected.length);
  return timingSafeEqual(actual, expected);
}

let dummy: Promise<string> | undefined;

/**
 * A real hash of a random password, made once per process: a login for an unknown email is
 * checked against it, so it costs one scrypt exactly like a known email (constant time).
 */
export function dummyPasswordHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}

/**
 * The hasher login uses, as an object so a test can observe that both code paths (known and
 * unknown email) run scrypt, instead of timing them.
 */
export const passwords = { hash: hashPassword, verify: verifyPassword };
