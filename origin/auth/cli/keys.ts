/**
 * The operator's signing-key command.
 *
 *   npm run keys -- rotate           a new key signs; the previous one verifies until its tokens expire
 *   npm run keys -- list
 *   npm run keys -- retire-expired   retiring keys whose tokens have all expired stop verifying
 *   npm run keys -- reencrypt        seal every key with SIGNING_KEY_ENCRYPTION_SECRET (after a
 *                                    rotation of it: then SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS can go)
 *
 * Exit code: 0 ok, 1 refused, 2 usage.
 */
import { fileURLToPath } from 'node:url';
import { parseEnv } from '../../env.js';
import { appendAudit } from '../audit.js';
import { identityConfigFrom } from '../config.js';
import { reencryptSigningKeys } from '../signing-key-encryption.js';
import { listSigningKeys, retireExpiredSigningKeys, rotateSigningKey } from '../signing-keys.js';
import { type CliIo, cliAudit, parseCliArgs, UsageError } from './run.js';

export const keysUsage = [
  'usage: npm run keys -- rotate',
  '       npm run keys -- list',
  '       npm run keys -- retire-expired',
  '       npm run keys -- reencrypt',
].join('\n');

/** Run one keys command; returns the exit code. */
export async function runKeysCli(argv: string[], io: CliIo): Promise<number> {
  const { positionals } = parseCliArgs(argv, {});
  const [command] = positionals;
  const config = identityConfigFrom(parseEnv(io.env));
  const audit = cliAudit();
  if (command === 'rotate') {
    const { active, retiring } = await rotateSigningKey(io.db, {
      encryptionSecret: config.signingKeyEncryptionSecret,
      previousEncryptionSecret: config.signingKeyEncryptionPreviousSecret,
      accessTokenTtlMinutes: config.accessTokenTtlMinutes,
    });
    await appendAudit(io.db, {
      ...audit,
      action: 'signing_key.rotate',
      target: `signing_key:${active.kid}`,
      outcome: 'success',
      details: { retiring, encryption: active.encryption },
    });
    io.out(
      `new active key ${active.kid} (${active.encryption === 'none' ? 'NOT encrypted: set SIGNING_KEY_ENCRYPTION_SECRET' : 'encrypted'})`,
    );
    for (const kid of retiring)
      io.out(`retiring ${kid}: verifies for ${config.accessTokenTtlMinutes} more minutes`);
    return 0;
  }
  if (command === 'list') {
    for (const k of await listSigningKeys(io.db))
      io.out(
        [
          k.kid,
          k.status,
          k.encryption,
          `created ${k.createdAt.toISOString()}`,
          k.verifyUntil ? `verifies until ${k.verifyUntil.toISOString()}` : '',
        ]
          .filter(Boolean)
          .join('\t'),
      );
    return 0;
  }
  if (command === 'retire-expired') {
    const retired = await retireExpiredSigningKeys(io.db);
    if (retired.length > 0)
      await appendAudit(io.db, {
        ...audit,
        action: 'signing_key.retire',
        target: null,
        outcome: 'success',
        details: { retired },
      });
    io.out(retired.length ? `retired ${retired.join(', ')}` : 'nothing to retire');
    return 0;
  }
  if (command === 'reencrypt') {
    // One transaction: a key neither secret opens leaves every key as it was (exit 1, named).
    const { reencrypted, encrypted, unchanged } = await reencryptSigningKeys(io.db, {
      encryptionSecret: config.signingKeyEncryptionSecret,
      previousEncryptionSecret: config.signingKeyEncryptionPreviousSecret,
    });
    if (reencrypted.length + encrypted.length > 0)
      await appendAudit(io.db, {
        ...audit,
        action: 'signing_key.reencrypt',
        target: null,
        outcome: 'success',
        details: { reencrypted, encrypted, unchanged },
      });
    io.out(
      `re-encrypted ${reencrypted.length} signing keys with SIGNING_KEY_ENCRYPTION_SECRET, encrypted ${encrypted.length} stored unencrypted, ${unchanged} already current`,
    );
    if (config.signingKeyEncryptionPreviousSecret)
      io.out('no key needs SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS any more: remove it');
    return 0;
  }
  throw new UsageError(command ? `unknown command '${command}'` : '');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { main } = await import('./main.js');
  await main('keys', keysUsage, runKeysCli);
}
