import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));

// Every child is started with spawnTied: if the runner itself is killed (SIGKILL, OOM), the
// kernel kills its children too, so no origin, load generator or fuzz process outlives it.
import { spawnTied } from '../../../scripts/lib/spawn-tied.js';

export { spawnTied };

/**
 * A TypeScript file of this repository in a Node process of its own (`node --import tsx`, as
 * `npm start` runs the origin), with an IPC channel. One process each: the load generator must
 * not share an event loop with what it measures, and a fuzzed parser that crashes must take only
 * its own process down.
 */
export function spawnScript(
  script: string,
  env: NodeJS.ProcessEnv,
  stdio: SpawnOptions['stdio'] = ['ignore', 'pipe', 'pipe', 'ipc'],
  args: string[] = [],
): ChildProcess {
  return spawnTied(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio,
  });
}

/** Whether the process has exited (or was never started). */
export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. Resolves at once if gone. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 5_000,
): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** The resident set size of a process in bytes (Linux /proc), or undefined when unreadable. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** A free TCP port on 127.0.0.1 (bound then released: good enough for a private server). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `script` as a one-job child: sends `job`, resolves with the message that carries `key`,
 * rejects when the child reports `fatal`, exits first, or exceeds `timeoutMs` (then it is
 * killed). Other messages go to `onMessage` (progress).
 */
export async function runJobChild<T>(options: {
  script: string;
  env: NodeJS.ProcessEnv;
  job: unknown;
  key: string;
  timeoutMs: number;
  onMessage?: (message: Record<string, unknown>) => void;
}): Promise<T> {
  const child = spawnScript(options.script, options.env, ['ignore', 'inherit', 'pipe', 'ipc']);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = `${stderr}${chunk.toString()}`.slice(-4_000);
  });
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${options.script} did not finish within ${options.timeoutMs / 1000} s`));
      }, options.timeoutMs);
      child.on('message', (message: Record<string, unknown>) => {
        if (options.key in message) {
          clearTimeout(timer);
          resolve(message[options.key] as T);
        } else if ('fatal' in message) {
          clearTimeout(timer);
          reject(new Error(`${options.script} failed: ${String(message.fatal)}`));
        } else options.onMessage?.(message);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${options.script} exited (${signal ?? `code ${code}`}) without a result${stderr ? `:\n${stderr}` : ''}`,
          ),
        );
      });
      child.send(options.job as object);
    });
  } finally {
    await stopChild(child, 'SIGKILL', 0);
  }
}
