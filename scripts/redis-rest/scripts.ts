/**
 * Lua scripts as `@upstash/ratelimit` sends them, made acceptable to a plain Redis.
 */
import { createHash } from 'node:crypto';

export type ResultFix = (result: unknown) => unknown;

// An Upstash-only script flag: it asks Upstash to lock only the script's declared keys.
const UPSTASH_ONLY_FLAG = 'allow-key-locking';

/**
 * `@upstash/ratelimit` 2.x starts its scripts with `#!lua flags=allow-key-locking`, which Redis
 * refuses ("Unexpected flag in script shebang"). The adapter drops that flag on the way in (Redis
 * runs one script at a time anyway, so nothing is lost) and remembers which SHA the client knows
 * the script by, so the client's EVALSHA, sent with the SHA of the text it holds, hits the script
 * Redis loaded instead of costing a NOSCRIPT round trip on every call.
 */
export class ScriptTranslator {
  /** The client's SHA (of the text it sent) → Redis's SHA (of the text Redis got). */
  private readonly shas = new Map<string, string>();

  /** Rewrites `command` in place; returns how to fix its result, when that needs fixing too. */
  translate(command: string[]): ResultFix | undefined {
    const name = command[0];
    if (name === 'EVALSHA' || name === 'EVALSHA_RO') {
      const sha = this.shas.get((command[1] ?? '').toLowerCase());
      if (sha !== undefined) command[1] = sha;
    } else if (name === 'EVAL' || name === 'EVAL_RO') {
      this.rewrite(command, 1);
    } else if (name === 'SCRIPT') {
      const sub = (command[1] ?? '').toUpperCase();
      if (sub === 'LOAD') {
        const clientSha = this.rewrite(command, 2);
        // SCRIPT LOAD answers the SHA; the client expects the one of the text it sent.
        if (clientSha !== undefined) return () => Buffer.from(clientSha);
      } else if (sub === 'EXISTS') {
        for (let i = 2; i < command.length; i++) {
          command[i] =
            this.shas.get((command[i] as string).toLowerCase()) ?? (command[i] as string);
        }
      }
    }
    return undefined;
  }

  /** Drops the Upstash-only flag from the script at `at`; returns the client's SHA if it did. */
  private rewrite(command: string[], at: number): string | undefined {
    const script = command[at];
    if (script === undefined || !script.startsWith('#!lua')) return undefined;
    const eol = script.indexOf('\n');
    const shebang = eol === -1 ? script : script.slice(0, eol);
    if (!shebang.includes(UPSTASH_ONLY_FLAG)) return undefined;
    // Redis splits the shebang on spaces and the flags on commas; `flags=` alone is valid.
    const cleaned = shebang
      .split(' ')
      .map((part) =>
        part.startsWith('flags=')
          ? `flags=${part
              .slice(6)
              .split(',')
              .filter((flag) => flag !== UPSTASH_ONLY_FLAG)
              .join(',')}`
          : part,
      )
      .join(' ');
    const rewritten = eol === -1 ? cleaned : cleaned + script.slice(eol);
    const clientSha = sha1(script);
    // Scripts are few (a handful per library); the cap only stops a runaway client.
    if (this.shas.size >= 10_000) this.shas.clear();
    this.shas.set(clientSha, sha1(rewritten));
    command[at] = rewritten;
    return clientSha;
  }
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
