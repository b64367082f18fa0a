/**
 * One benchmark part in a process of its own (bench/suite/main.ts and bench/scaling/main.ts run every part
 * this way): its memory, its event loop and its timing are its own, and a part that crashes or
 * hangs cannot take the others with it. Its progress (stderr) is passed through as it comes; its
 * report (stdout) is kept for the results file. Bounded in time: past its deadline it is asked to
 * stop (SIGINT, on which every bench/<part>/main.ts drops its scratch databases), then killed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** How long a part has to clean up after SIGINT (drop databases, stop workerd) before SIGKILL. */
const GRACE_MS = 60_000;

export type PartProcessResult = {
  /** The exit code, or null when it died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It ran past its deadline and was stopped. */
  timedOut: boolean;
  durationMs: number;
  stdout: string;
};

/** The part that is running now, so Ctrl-C on the suite stops it (and only it) cleanly. */
let running: { stop(): void } | undefined;

/** Forward SIGINT/SIGTERM to the running part; the caller then finishes and exits. */
export function stopRunningPart(): void {
  running?.stop();
}

/**
 * Run `script` (a path relative to the repository) with `args` under tsx, at most `timeoutMs`.
 *
 * @example
 * const r = await runPart('bench/etl/main.ts', ['--rows', '100000', '--json-out', path], 30 * 60_000);
 * if (r.code !== 0) console.error('the ETL part failed');
 */
export function runPart(
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<PartProcessResult> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group: a Ctrl-C at the terminal reaches the suite only, which passes one
    // SIGINT on. Every part handles the first SIGINT by cleaning up; a second would kill it
    // halfway through (its handler is `once`), leaving scratch databases behind.
    detached: true,
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (killer || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    // Then the whole group: the part and whatever it started (origin, load generator, workerd).
    killer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }, GRACE_MS);
  };
  running = { stop };
  const deadline = setTimeout(() => {
    timedOut = true;
    console.error(
      `[bench] ${script} ran past its ${Math.round(timeoutMs / 60_000)} min: stopping it`,
    );
    stop();
  }, timeoutMs);
  return new Promise((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(deadline);
      clearTimeout(killer);
      running = undefined;
      resolve({ code, signal, timedOut, durationMs: performance.now() - started, stdout });
    };
    child.once('error', (error) => {
      stdout += `\n${error.message}`;
      finish(1, null);
    });
    child.once('close', finish);
  });
}
