import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTied } from '../scripts/lib/spawn-tied.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

/**
 * `npm start` under a supervisor (issue 14, finding 10): a SIGTERM (or a Ctrl-C's SIGINT) to the
 * process the supervisor started, npm itself, must stop everything it started (the origin,
 * `wrangler dev` and its workerd, the tools they spawn) within 10 s, leaving the ports free, so
 * the next start does not fail on "address in use".
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const STOP_WITHIN_MS = 10_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Whether something listens on the port (we cannot bind it ourselves). */
async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

/** Every live descendant of `pid`, from /proc (Linux). */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // Gone between readdir and read.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of parentOf) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    // A zombie still answers signal 0 but holds nothing; count it as gone.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Started = { npm: ChildProcess; output: () => string; ports: number[] };

async function startPlatform(database: TestDatabase): Promise<Started> {
  const [origin, edge, redisRest, noRedis] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  let output = '';
  const npm = spawnTied('npm', ['start'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(origin),
      EDGE_PORT: String(edge),
      REDIS_REST_PORT: String(redisRest),
      // Nothing listens there: quotas off, no Redis needed.
      REDIS_URL: `redis://127.0.0.1:${noRedis}`,
      DATABASE_URL: database.url,
      SEED_ON_START: 'false',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  npm.stdout?.on('data', (d) => {
    output += d;
  });
  npm.stderr?.on('data', (d) => {
    output += d;
  });
  const started = Date.now();
  while (!output.includes('estate-edge is up')) {
    if (npm.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    if (Date.now() - started > 90_000) throw new Error(`npm start did not come up:\n${output}`);
    await sleep(200);
  }
  return { npm, output: () => output, ports: [origin, edge] };
}

describe('npm start', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the origin, wrangler dev and all they started within 10 s of a ${signal}, freeing the ports`, async () => {
      const { npm, output, ports } = await startPlatform(database);
      const pid = npm.pid ?? 0;
      const tree = descendantsOf(pid);
      // npm, the launcher, the origin, wrangler and its workerd at least.
      expect(tree.length).toBeGreaterThanOrEqual(4);
      for (const port of ports) expect(await portInUse(port)).toBe(true);

      const sent = Date.now();
      npm.kill(signal);
      while (Date.now() - sent < STOP_WITHIN_MS) {
        const left = [pid, ...tree].filter(alive);
        if (left.length === 0 && npm.exitCode !== null) break;
        await sleep(100);
      }
      const left = [pid, ...tree].filter(alive);
      // Clean up before asserting, so a failure leaves nothing running on the shared machine.
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
      expect({ left, log: left.length > 0 ? output() : '' }).toEqual({ left: [], log: '' });
      expect(Date.now() - sent).toBeLessThan(STOP_WITHIN_MS);
      for (const port of ports)
        expect({ port, inUse: await portInUse(port) }).toEqual({ port, inUse: false });
    }, 150_000);
  }
});
