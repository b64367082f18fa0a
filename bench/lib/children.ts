/**
 * The API benchmark's child processes (the origin, the HTTP load generator, the direct-SQL
 * runner) and the small request/reply protocol they speak over Node's IPC channel. Each lives in
 * a process of its own so no two of them share an event loop: the load generator must never
 * steal the server's thread, nor the other way round.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

type Reply<T> = { id: number; ok: true; value: T } | { id: number; ok: false; error: string };

/** A child process started with `tsx`, answering jobs sent with `ask`. */
export type Child = {
  name: string;
  process: ChildProcess;
  /** Send a job and wait for its reply, at most `timeoutMs` (then the child is killed). */
  ask<T>(job: unknown, timeoutMs: number): Promise<T>;
  /** The first message the child sends on its own (the server's "listening on"). */
  ready: Promise<unknown>;
  /** Ask it to stop (SIGTERM, then SIGKILL after 5 s) and wait until it has. */
  stop(): Promise<void>;
};

/**
 * Start `script` (a path relative to the repository) in its own Node process with an IPC
 * channel. Its stdout is discarded (the origin logs there, as it does in production), stderr is
 * passed through.
 */
export function startChild(name: string, script: string, env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let onFirst: (value: unknown) => void = () => {};
  const ready = new Promise<unknown>((resolve, reject) => {
    onFirst = resolve;
    child.once('exit', (code, signal) =>
      reject(new Error(`${name} exited before it was ready (${signal ?? code})`)),
    );
  });
  ready.catch(() => {}); // only awaited by callers that need it
  child.on('message', (message: Reply<unknown> | { ready: unknown }) => {
    if ('ready' in message) {
      onFirst(message.ready);
      return;
    }
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (!waiter) return;
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(new Error(`${name}: ${message.error}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`${name} exited (${signal ?? code}) with a job in progress`));
    pending.clear();
  });

  return {
    name,
    process: child,
    ready,
    ask<T>(job: unknown, timeoutMs: number) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          child.kill('SIGKILL');
          reject(new Error(`${name} did not answer within ${timeoutMs} ms; killed`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, job });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(force);
    },
  };
}

/**
 * The child's side: answer each job with `handle`, one at a time, in order. A job that throws
 * is answered with its message; the child stays up for the next one.
 *
 * @example
 * serveJobs(async (job: LoadJob) => runLoad(job));
 */
export function serveJobs<J, R>(handle: (job: J) => Promise<R>): void {
  let queue = Promise.resolve();
  process.on('message', (message: { id: number; job: J }) => {
    queue = queue.then(async () => {
      let reply: Reply<R>;
      try {
        reply = { id: message.id, ok: true, value: await handle(message.job) };
      } catch (error) {
        reply = {
          id: message.id,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
        };
      }
      process.send?.(reply);
    });
  });
  // The parent went away (it crashed, or was killed): nothing left to answer to.
  process.once('disconnect', () => process.exit(0));
}

/** Tell the parent the child is ready, with `value` (e.g. the port it listens on). */
export function announceReady(value: unknown): void {
  process.send?.({ ready: value });
}
