import { userInfo } from 'node:os';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Database } from '../../db/database.js';
import type { AuditContext } from '../audit.js';

/** What a CLI command needs, injected so tests drive the commands against a real database. */
export type CliIo = {
  db: Database;
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  /** Ask for a secret without echo (the terminal), or fail when there is no terminal. */
  promptSecret: (question: string) => Promise<string>;
};

export class UsageError extends Error {}

export function parseCliArgs(argv: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** CLI actions are audited as the operating-system user who ran them. */
export function cliAudit(): AuditContext {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (some containers): still audited, as cli:unknown
  }
  return { actor: `cli:${name}`, ip: null, requestId: null };
}

/**
 * Read a line from the terminal without echoing it. Raw mode, so the characters never reach the
 * screen (or a terminal recording); refuses when stdin is not a terminal.
 */
export async function promptSecretFromTty(question: string): Promise<string> {
  const { stdin, stderr } = process;
  if (!stdin.isTTY)
    throw new UsageError('no terminal to ask for the password: set ESTATE_USER_PASSWORD');
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new UsageError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}
