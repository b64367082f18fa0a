import type { ChildProcess } from 'node:child_process';
import { exited, spawnScript, stopChild } from './children.js';
import { within } from './wait.js';

export type OriginLogTally = {
  warnings: number;
  errors: number;
  /** The last few warning/error messages (message and error text only, never a request). */
  recent: string[];
};

export type OriginProcess = {
  url: string;
  port: number;
  /** The current process's id, undefined while it is down. */
  pid: () => number | undefined;
  /** SIGKILL, as a crash or the OOM killer would; resolves once it is gone. */
  kill: () => Promise<void>;
  /** Starts it (again) on the same port; resolves when it listens. */
  start: () => Promise<void>;
  /** SIGTERM: the origin drains and closes its pool (origin/index.ts). */
  stop: () => Promise<void>;
  logs: OriginLogTally;
  /** Exits nobody asked for (a crash during a fault is a finding). */
  unexpectedExits: string[];
};

const START_TIMEOUT_MS = 60_000;

/**
 * The origin as production runs it: `node --import tsx origin/index.ts` in a process of its own
 * (so its RSS is its own and SIGKILL is a real crash), configured only through the environment,
 * on a fixed port so a restart comes back where the Worker looks for it.
 */
export async function startOriginProcess(options: {
  port: number;
  env: NodeJS.ProcessEnv;
}): Promise<OriginProcess> {
  let child: ChildProcess | undefined;
  let expectingExit = false;
  const logs: OriginLogTally = { warnings: 0, errors: 0, recent: [] };
  const unexpectedExits: string[] = [];

  const start = async () => {
    if (child && !exited(child)) throw new Error('the origin is already running');
    expectingExit = false;
    const current = spawnScript('origin/index.ts', {
      ...options.env,
      PORT: String(options.port),
      HOST: '127.0.0.1',
    });
    child = current;
    let buffered = '';
    let output = '';
    const listening = new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        output = `${output}${line}\n`.slice(-4_000);
        if (line.includes('origin listening on')) resolve();
        tally(logs, line);
      };
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      };
      current.stdout?.on('data', onData);
      current.stderr?.on('data', onData);
      current.once('exit', (code, signal) => {
        reject(new Error(`the origin exited (${signal ?? code}) before listening:\n${output}`));
        if (!expectingExit)
          unexpectedExits.push(
            `the origin process exited on its own (${signal ?? `code ${code}`})`,
          );
      });
    });
    await within('the origin start', listening, START_TIMEOUT_MS);
  };

  await start();
  return {
    url: `http://127.0.0.1:${options.port}`,
    port: options.port,
    pid: () => (child && !exited(child) ? child.pid : undefined),
    kill: async () => {
      if (!child) return;
      expectingExit = true;
      await stopChild(child, 'SIGKILL');
    },
    start,
    stop: async () => {
      if (!child) return;
      expectingExit = true;
      await stopChild(child, 'SIGTERM', 12_000);
    },
    logs,
    unexpectedExits,
  };
}

/** pino's JSON lines at warn (40) or above are counted, their message kept. */
function tally(logs: OriginLogTally, line: string): void {
  if (!line.startsWith('{')) return;
  let entry: {
    level?: number;
    msg?: string;
    err?: { message?: string; code?: string; cause?: { message?: string; code?: string } };
  };
  try {
    entry = JSON.parse(line);
  } catch {
    return;
  }
  if ((entry.level ?? 0) < 40) return;
  if ((entry.level ?? 0) >= 50) logs.errors += 1;
  else logs.warnings += 1;
  // drizzle's "Failed query: <the whole SQL>" keeps the driver's error in `cause` (or after the
  // SQL, on its last line): that is the part that says what happened.
  const error = entry.err;
  // pino appends the causes to the message; drizzle's last line starts with the query's
  // parameters (request data), which the report does not need.
  const lastLine = error?.message?.split('\n').at(-1);
  const cause =
    error?.cause?.message ??
    (lastLine?.startsWith('params:') ? lastLine.split(': ').at(-1) : lastLine);
  const code = error?.cause?.code ?? error?.code;
  const text = [entry.msg, error?.message?.split('\n')[0]?.slice(0, 60), cause, code && `(${code})`]
    .filter(Boolean)
    .join(': ')
    .slice(0, 400);
  logs.recent.push(text);
  if (logs.recent.length > 20) logs.recent.shift();
}
