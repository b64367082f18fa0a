import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTied } from './spawn-tied.js';

export type RedisServer = {
  url: string;
  port: number;
  /** Stops it gracefully (SIGTERM) and waits for the process to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (nothing is persisted). */
  start(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would, and waits for the process to exit. */
  kill(): Promise<void>;
};

const READY_TIMEOUT_MS = 10_000;
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const running = new Set<ChildProcess>();
const dirs = new Map<ChildProcess, string>();
// Whatever happens to the test process, no redis-server and no directory outlives it.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of dirs.values()) rmSync(dir, { recursive: true, force: true });
});

/**
 * A private `redis-server` of this test file's own, on a free port, persisting nothing, so a test
 * can stop it, kill it and bring it back on the same port without touching anyone else's Redis.
 *
 * @example
 * const redis = await startRedisServer();
 * await redis.stop(); // ... Redis is down ...
 * await redis.start(); // back on the same port
 * afterAll(() => redis.stop());
 */
export async function startRedisServer(): Promise<RedisServer> {
  // The free port is found by binding it and letting go; another process can take it in between,
  // so a start that fails on a taken port retries on a new one.
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      child = await spawnRedis(port);
      break;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }

  async function halt(signal: NodeJS.Signals) {
    const current = child;
    child = undefined;
    if (current === undefined) return;
    if (current.exitCode === null && current.signalCode === null) {
      const exited = new Promise((resolve) => current.once('exit', resolve));
      current.kill(signal);
      await exited;
    }
    removeDir(current);
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await halt('SIGTERM');
    },
    kill: async () => {
      await halt('SIGKILL');
    },
    start: async () => {
      if (child !== undefined) throw new Error(`redis-server on port ${port} is already running`);
      child = await spawnRedis(port);
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function removeDir(child: ChildProcess) {
  const dir = dirs.get(child);
  dirs.delete(child);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

function spawnRedis(port: number): Promise<ChildProcess> {
  // Its working directory lives as long as the process: nothing is persisted across a restart.
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
  // Dies with the test process even when vitest SIGKILLs its worker (spawnTied).
  const child = spawnTied(
    REDIS_SERVER,
    [
      // No RDB, no AOF: a restart comes back empty and nothing is written outside `dir`.
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...['--dir', dir, '--daemonize', 'no', '--loglevel', 'notice'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  dirs.set(child, dir);
  child.once('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(child);
      }
    };
    // Keep draining after readiness: a full pipe would block redis-server's logging.
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      removeDir(child);
      reject(new Error(`redis-server on port ${port} exited (${code}) before ready:\n${output}`));
    };
    child.once('exit', onExit);
    child.once('error', (error) => {
      clearTimeout(timer);
      removeDir(child);
      reject(new Error(`cannot start redis-server (set REDIS_SERVER_BIN): ${error.message}`));
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`redis-server on port ${port} not ready in ${READY_TIMEOUT_MS} ms:\n${output}`),
      );
    }, READY_TIMEOUT_MS);
  });
}
