import { type ChildProcess, execFile, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { InterruptedError, ToolError } from './errors.js';

/** How much of a tool's stderr an error keeps: enough for pg_restore's first error and context. */
const STDERR_TAIL_BYTES = 4_096;

/** One stage of a stream pipeline: a source, a transform or a sink. */
export type StreamStage = NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream;

/** A running external program: its stdio and a promise that settles when it has exited. */
export type Tool = {
  name: string;
  child: ChildProcess;
  stdin: Writable | null;
  stdout: Readable | null;
  exited: Promise<void>;
  /** Stop it (SIGTERM); its `exited` then rejects with a ToolError marked `stoppedByUs`. */
  stop(): void;
};

export type StartToolOptions = {
  env?: NodeJS.ProcessEnv;
  /** Extra stdio after stderr, e.g. fd 3 for gpg's passphrase; `'pipe'` to write to it. */
  extraFds?: ('pipe' | 'ignore')[];
  stdin?: 'pipe' | 'ignore';
  stdout?: 'pipe' | 'ignore';
};

/** Variables that hold secrets of ours: a child never needs them, so it never sees them. */
const SECRET_VARIABLES = [
  'DATABASE_URL',
  'METABASE_DATABASE_URL',
  'BACKUP_ADMIN_URL',
  'BACKUP_GPG_PASSPHRASE',
  'BACKUP_S3_SECRET_ACCESS_KEY',
  'BACKUP_S3_ACCESS_KEY_ID',
];

/** The environment for a child: ours without our secrets, plus what the tool needs. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SECRET_VARIABLES) delete env[name];
  return { ...env, ...extra };
}

/**
 * Spawn `command` and watch it. `exited` rejects with a ToolError carrying the end of stderr when
 * it exits non-zero, dies of a signal or cannot start (not installed).
 */
export function startTool(
  name: string,
  command: string,
  args: readonly string[],
  options: StartToolOptions = {},
): Tool {
  const child = spawn(command, args, {
    env: options.env ?? childEnv(),
    stdio: [options.stdin ?? 'pipe', options.stdout ?? 'pipe', 'pipe', ...(options.extraFds ?? [])],
  });
  let stopped = false;
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new ToolError(
          name,
          error.code === 'ENOENT'
            ? `${name} is not installed (${command} not found on PATH)`
            : `${name} could not start: ${error.message}`,
        ),
      );
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const said = stderr.trim();
      // Only a death by our own SIGTERM is ours: a tool that exited with a code of its own
      // failed by itself, even if we were about to stop it.
      reject(new ToolError(name, `${name} ${how}${said ? `: ${said}` : ''}`, stopped && !!signal));
    });
  });
  // A pipe we stop reading from (after a failure elsewhere) must not crash the process with EPIPE.
  child.stdin?.on('error', () => {});
  return {
    name,
    child,
    stdin: child.stdin,
    stdout: child.stdout,
    exited,
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopped = true;
      child.kill('SIGTERM');
    },
  };
}

/** Errors that are consequences, not causes: a pipe closed because the other end failed. */
function isConsequence(error: unknown): boolean {
  if (error instanceof ToolError) return error.stoppedByUs;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    (error as Error).name === 'AbortError' ||
    code === 'EPIPE' ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ERR_STREAM_DESTROYED'
  );
}

/**
 * Run streams and tools as one unit: resolve when every stream pipeline finished and every tool
 * exited 0; at the first failure stop everything, wait for it all to settle (no orphan child, no
 * half-written stream), and throw the error that explains it: the first one that is not a mere
 * consequence of another (a wrong key in the decryptor, not pg_restore's "file too short" after
 * it; a full disk, not pg_dump's broken pipe after it).
 */
export async function runTogether(
  streams: StreamStage[][],
  tools: Tool[],
  signal?: AbortSignal,
): Promise<void> {
  const controller = new AbortController();
  const stopAll = () => {
    controller.abort();
    for (const tool of tools) tool.stop();
  };
  const onAbort = () => stopAll();
  if (signal?.aborted) stopAll();
  else signal?.addEventListener('abort', onAbort, { once: true });

  const failures: unknown[] = [];
  const tasks: Promise<void>[] = [
    ...streams.map((chain) =>
      // biome-ignore lint/suspicious/noExplicitAny: pipeline's overloads do not accept a spread array
      (pipeline as (...args: any[]) => Promise<void>)(...chain, { signal: controller.signal }),
    ),
    ...tools.map((tool) => tool.exited),
  ];
  await Promise.allSettled(
    tasks.map((task) =>
      task.catch((error: unknown) => {
        // In the order they happen: the first real failure is the cause.
        failures.push(error);
        stopAll();
      }),
    ),
  );
  signal?.removeEventListener('abort', onAbort);

  if (failures.length === 0) return;
  if (signal?.aborted) {
    const reason = typeof signal.reason === 'string' ? signal.reason : 'aborted';
    throw new InterruptedError(`interrupted (${reason})`);
  }
  throw failures.find((e) => !isConsequence(e)) ?? failures[0];
}

const execFileAsync = promisify(execFile);

/** The first line of `command --version`, or null when the tool is not there. */
export async function toolVersion(command: string, args = ['--version']): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync(command, args, { timeout: 10_000, env: childEnv() });
    return stdout.split('\n')[0]?.trim() || null;
  } catch {
    return null;
  }
}
