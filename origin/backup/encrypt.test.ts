import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EncryptionKeys,
  type EncryptionKind,
  type Filter,
  startDecryptor,
  startEncryptor,
} from './encrypt.js';
import { BackupConfigError, ToolError } from './errors.js';
import { runTogether } from './tool.js';

/** Real age and gpg, as the backup job runs them. */
let dir: string;
let identity: string;
let recipient: string;
let otherIdentity: string;

function newAgeKey(name: string): { file: string; recipient: string } {
  const file = join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  const publicKey = execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim();
  return { file, recipient: publicKey };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'estate-encrypt-'));
  const key = newAgeKey('identity.txt');
  identity = key.file;
  recipient = key.recipient;
  otherIdentity = newAgeKey('other.txt').file;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Push `input` through a filter, collecting what comes out. */
async function through(filter: Filter | null, input: Buffer): Promise<Buffer> {
  if (!filter) throw new Error('expected a filter');
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  try {
    await runTogether(
      [
        [Readable.from([input]), filter.stdin as NodeJS.WritableStream],
        [filter.stdout as NodeJS.ReadableStream, sink],
      ],
      [filter],
    );
  } finally {
    await filter.cleanup();
  }
  return Buffer.concat(chunks);
}

async function roundTrip(kind: EncryptionKind, write: EncryptionKeys, read: EncryptionKeys) {
  // Bigger than any pipe buffer, so back-pressure between the stages is exercised.
  const plain = Buffer.concat([Buffer.from('PGDMP marker'), randomBytes(3 * 1024 * 1024)]);
  const sealed = await through(await startEncryptor(kind, write), plain);
  return {
    plain,
    sealed,
    opened: () => startDecryptor(kind, read).then((f) => through(f, sealed)),
  };
}

describe('age', () => {
  it('encrypts to the recipient, and the identity decrypts it back byte for byte', async () => {
    const { plain, sealed, opened } = await roundTrip(
      'age',
      { ageRecipients: [recipient] },
      { ageRecipients: [], ageIdentityFile: identity },
    );
    expect(sealed.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(sealed.includes(Buffer.from('PGDMP marker'))).toBe(false);
    expect((await opened()).equals(plain)).toBe(true);
  });

  it('fails clearly with another identity', async () => {
    const { opened } = await roundTrip(
      'age',
      { ageRecipients: [recipient] },
      { ageRecipients: [], ageIdentityFile: otherIdentity },
    );
    const failure = opened();
    await expect(failure).rejects.toThrow(ToolError);
    await expect(opened()).rejects.toThrow(
      /^age could not decrypt the backup: age exited with code 1: age: error: no identity matched any of the recipients$/,
    );
  });

  it('refuses to start without a recipient, or without an identity to decrypt', async () => {
    await expect(startEncryptor('age', { ageRecipients: [] })).rejects.toThrow(BackupConfigError);
    await expect(startDecryptor('age', { ageRecipients: [recipient] })).rejects.toThrow(
      'BACKUP_AGE_IDENTITY_FILE',
    );
  });
});

describe('gpg', () => {
  const passphrase = 'correct horse battery staple';

  it('encrypts with the passphrase, and the same passphrase decrypts it back', async () => {
    const { plain, sealed, opened } = await roundTrip(
      'gpg',
      { ageRecipients: [], gpgPassphrase: passphrase },
      { ageRecipients: [], gpgPassphrase: passphrase },
    );
    expect(sealed.includes(Buffer.from('PGDMP marker'))).toBe(false);
    // An OpenPGP message that opens with a symmetric-key encrypted session key packet (tag 3).
    const header = sealed[0] as number;
    expect(header & 0x80).toBe(0x80);
    expect(header & 0x40 ? header & 0x3f : (header >> 2) & 0x0f).toBe(3);
    expect((await opened()).equals(plain)).toBe(true);
  });

  it('fails clearly with a wrong passphrase', async () => {
    const { opened } = await roundTrip(
      'gpg',
      { ageRecipients: [], gpgPassphrase: passphrase },
      { ageRecipients: [], gpgPassphrase: 'wrong horse' },
    );
    await expect(opened()).rejects.toThrow(
      /gpg could not decrypt the backup \(wrong passphrase\?\): .*Bad session key/,
    );
  });

  it('refuses to start without a passphrase', async () => {
    await expect(startEncryptor('gpg', { ageRecipients: [] })).rejects.toThrow(
      'BACKUP_GPG_PASSPHRASE',
    );
    await expect(startDecryptor('gpg', { ageRecipients: [] })).rejects.toThrow(
      'BACKUP_GPG_PASSPHRASE',
    );
  });
});

describe('none', () => {
  it('starts no filter', async () => {
    expect(await startEncryptor('none', { ageRecipients: [] })).toBeNull();
    expect(await startDecryptor('none', { ageRecipients: [] })).toBeNull();
  });
});
