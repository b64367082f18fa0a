import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { BackupConfigError, ToolError } from './errors.js';
import { childEnv, startTool, type Tool, toolVersion } from './tool.js';

/**
 * Encryption of dumps at rest, by the two tools operators already trust, run as filters so a dump
 * is never whole in memory and never on disk in clear when encryption is on.
 *
 * - age: public-key. The backup host holds only recipients (public keys); the identity that
 *   decrypts lives elsewhere (a password manager, the restore host), so a stolen backup disk
 *   or bucket reveals nothing.
 * - gpg: symmetric (AES-256) with a passphrase, for teams that already keep one in a vault.
 */
export type EncryptionKind = 'none' | 'age' | 'gpg';

export type EncryptionKeys = {
  /** age public keys to encrypt to (BACKUP_AGE_RECIPIENTS). */
  ageRecipients: string[];
  /** age identity file to decrypt with (BACKUP_AGE_IDENTITY_FILE). */
  ageIdentityFile?: string | undefined;
  /** gpg symmetric passphrase (BACKUP_GPG_PASSPHRASE or the content of BACKUP_GPG_PASSPHRASE_FILE). */
  gpgPassphrase?: string | undefined;
};

/** The file name suffix of each kind, so `ls` tells what a file is. */
export const ENCRYPTION_SUFFIX: Record<EncryptionKind, string> = {
  none: '',
  age: '.age',
  gpg: '.gpg',
};

/** A running filter: write to stdin, read from stdout; `cleanup` after it settled. */
export type Filter = Tool & { cleanup: () => Promise<void> };

/** Start the encrypting filter for `kind`, or null for none. Throws when the key is missing. */
export async function startEncryptor(
  kind: EncryptionKind,
  keys: EncryptionKeys,
): Promise<Filter | null> {
  if (kind === 'none') return null;
  if (kind === 'age') {
    if (keys.ageRecipients.length === 0) {
      throw new BackupConfigError('age encryption needs BACKUP_AGE_RECIPIENTS');
    }
    const args = ['--encrypt', ...keys.ageRecipients.flatMap((r) => ['--recipient', r])];
    return withoutCleanup(startTool('age', 'age', args));
  }
  if (!keys.gpgPassphrase) {
    throw new BackupConfigError(
      'gpg encryption needs BACKUP_GPG_PASSPHRASE or BACKUP_GPG_PASSPHRASE_FILE',
    );
  }
  // pg_dump's custom format is already compressed: compressing again only costs CPU.
  return startGpg(['--symmetric', '--cipher-algo', 'AES256', '--compress-algo', 'none'], keys);
}

/** Start the decrypting filter for a file encrypted with `kind`, or null for none. */
export async function startDecryptor(
  kind: EncryptionKind,
  keys: EncryptionKeys,
): Promise<Filter | null> {
  if (kind === 'none') return null;
  if (kind === 'age') {
    if (!keys.ageIdentityFile) {
      throw new BackupConfigError(
        'this backup is encrypted with age: set BACKUP_AGE_IDENTITY_FILE to the file holding its identity (age-keygen output)',
      );
    }
    const tool = startTool('age', 'age', ['--decrypt', '--identity', keys.ageIdentityFile]);
    return withoutCleanup(explained(tool, 'age could not decrypt the backup'));
  }
  if (!keys.gpgPassphrase) {
    throw new BackupConfigError(
      'this backup is encrypted with gpg: set BACKUP_GPG_PASSPHRASE or BACKUP_GPG_PASSPHRASE_FILE',
    );
  }
  const filter = await startGpg(['--decrypt'], keys);
  return explained(filter, 'gpg could not decrypt the backup (wrong passphrase?)');
}

/** The version line of the tool behind `kind`, for the manifest. */
export async function encryptionToolVersion(kind: EncryptionKind): Promise<string | null> {
  if (kind === 'age') return toolVersion('age');
  if (kind === 'gpg') return toolVersion('gpg');
  return null;
}

function withoutCleanup(tool: Tool): Filter {
  return { ...tool, cleanup: async () => {} };
}

/** Prefix a decryptor's failure with what it means for the operator. */
function explained<T extends Tool>(tool: T, what: string): T {
  const exited = tool.exited.catch((error: unknown) => {
    if (error instanceof ToolError && !error.stoppedByUs) {
      // age ends every error with a line asking to report unhelpful errors: noise for an operator.
      const message = error.message.replace(
        /\n?age: report unexpected or unhelpful errors.*$/s,
        '',
      );
      throw new ToolError(error.tool, `${what}: ${message}`);
    }
    throw error;
  });
  return { ...tool, exited };
}

const execFileAsync = promisify(execFile);

/**
 * gpg with a throwaway home directory: nothing is read from or left in the operator's keyring.
 * The passphrase goes through an extra pipe (fd 3), never argv or the environment. gpg starts an
 * agent for its home directory even for symmetric work; `cleanup` stops that agent and removes
 * the directory.
 */
async function startGpg(operation: string[], keys: EncryptionKeys): Promise<Filter> {
  const home = await mkdtemp(join(tmpdir(), 'estate-gpg-'));
  const cleanup = async () => {
    await execFileAsync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], {
      env: childEnv(),
      timeout: 10_000,
    }).catch(() => {});
    await rm(home, { recursive: true, force: true });
  };
  try {
    const tool = startTool(
      'gpg',
      'gpg',
      [
        '--homedir',
        home,
        '--batch',
        '--yes',
        '--no-tty',
        '--quiet',
        '--no-symkey-cache',
        '--pinentry-mode',
        'loopback',
        '--passphrase-fd',
        '3',
        ...operation,
        '--output',
        '-',
      ],
      { env: childEnv({ GNUPGHOME: home }), extraFds: ['pipe'] },
    );
    const passphrasePipe = tool.child.stdio[3] as Writable;
    passphrasePipe.on('error', () => {});
    passphrasePipe.end(`${keys.gpgPassphrase}\n`);
    return { ...tool, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
