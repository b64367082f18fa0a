import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export type ScratchDatabase = {
  name: string;
  /** The admin URL pointed at the scratch database. */
  url: string;
  /** Drop it (disconnecting whoever is still connected). Safe to call twice. */
  drop(): Promise<void>;
};

/**
 * Create an empty database `<prefix>_<random>` on the server of `adminUrl` (a role allowed to
 * CREATE DATABASE), so a benchmark never touches anyone's data and leaves nothing behind.
 *
 * @example
 * const scratch = await createScratchDatabase(adminUrl, 'estate_bench');
 * try { ... connect to scratch.url ... } finally { await scratch.drop(); }
 */
export async function createScratchDatabase(
  adminUrl: string,
  prefix: string,
): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    // Identifiers cannot be bound parameters; the name is ours (prefix + hex), not user input.
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      const again = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        // WITH (FORCE), PostgreSQL 13+: a child process killed mid-run may leave a session behind.
        await again.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await again.end({ timeout: 5 });
      }
    },
  };
}
