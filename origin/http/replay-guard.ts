import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';

/**
 * The shared record of edge assertions already used by a write (migrations/0006). A write's
 * assertion is bound to its exact request (contract/assertion.ts), so the only replay left is
 * the same write again; recording its `jti` in PostgreSQL — the primary every origin replica
 * writes to, which outlives any of them — refuses that on every replica and after a restart.
 * Reads are not recorded: a replayed read returns what the same principal was allowed to read
 * seconds ago, and recording each would put a write on every read.
 */
export type ReplayGuard = {
  /** True the first time `jti` is presented; false for a replay. */
  firstUse(jti: string, expiresAtSeconds: number): Promise<boolean>;
};

/** One INSERT per write; expired rows are swept now and then by the same statement's caller. */
export function databaseReplayGuard(db: Database): ReplayGuard {
  let uses = 0;
  return {
    async firstUse(jti, expiresAtSeconds) {
      const rows = await db.rows<{ jti: string }>(sql`
        INSERT INTO edge_assertion_uses (jti, expires_at)
        VALUES (${jti}, to_timestamp(${expiresAtSeconds}))
        ON CONFLICT (jti) DO NOTHING
        RETURNING jti`);
      // Rows only matter until their assertion expires (30 s); sweeping on one write in 100
      // keeps the table at about a minute of writes without a job of its own.
      uses += 1;
      if (uses % 100 === 0)
        await db.rows(
          sql`DELETE FROM edge_assertion_uses WHERE expires_at < now() - interval '1 minute'`,
        );
      return rows.length === 1;
    },
  };
}

/** In memory, for tests of the middleware alone (one process: no replicas to agree with). */
export function memoryReplayGuard(): ReplayGuard {
  const used = new Set<string>();
  return {
    async firstUse(jti) {
      if (used.has(jti)) return false;
      used.add(jti);
      return true;
    },
  };
}
