import type { ChildProcess } from 'node:child_process';
import type { GeneratorMessage, LoadConfig, LoadRecord } from '../load/mix.js';
import { exited, spawnScript, stopChild } from './children.js';
import { onCleanup } from './cleanup.js';
import { within } from './wait.js';

export type LoadSummary = {
  sent: number;
  shed: number;
  maxInFlight: number;
  startedAt: number;
  stoppedAt: number;
};

export type RunningLoad = {
  /** When the generator started sending (wall-clock ms): time zero of every report. */
  startedAt: number;
  /** Every outcome received so far, in arrival order (start times are wall-clock ms). */
  readonly records: LoadRecord[];
  /** Stops sending, waits for the answers in flight, returns the generator's own counts. */
  stop: () => Promise<LoadSummary>;
};

/**
 * Starts load/generator.ts in its own process and collects what it reports. The generator runs
 * until stop(); parts look at the records of their own time window.
 */
export async function startLoad(config: LoadConfig): Promise<RunningLoad> {
  const child: ChildProcess = spawnScript('test/reliability/load/generator.ts', {}, [
    'ignore',
    'inherit',
    'inherit',
    'ipc',
  ]);
  const forget = onCleanup('the load generator', () => stopChild(child, 'SIGKILL'));
  const records: LoadRecord[] = [];
  let onStopped: (summary: LoadSummary) => void = () => {};
  const stopped = new Promise<LoadSummary>((resolve, reject) => {
    onStopped = resolve;
    child.once('exit', (code, signal) =>
      reject(new Error(`the load generator exited (${signal ?? code}) before it was stopped`)),
    );
  });
  stopped.catch(() => {});
  child.on('message', (message: GeneratorMessage) => {
    if (message.type === 'records') for (const r of message.records) records.push(r);
    if (message.type === 'stopped') {
      const { sent, shed, maxInFlight, startedAt, stoppedAt } = message;
      onStopped({ sent, shed, maxInFlight, startedAt, stoppedAt });
    }
  });
  const started = new Promise<number>((resolve, reject) => {
    child.on('message', (message: GeneratorMessage) => {
      if (message.type === 'started') resolve(message.startedAt);
    });
    child.once('exit', () => reject(new Error('the load generator exited before it started')));
  });
  child.send({ type: 'start', config });
  const startedAt = await within('the load generator start', started, 30_000);
  return {
    startedAt,
    records,
    stop: async () => {
      if (exited(child)) return stopped;
      child.send({ type: 'stop' });
      const summary = await within('the load generator stop', stopped, config.timeoutMs + 10_000);
      await stopChild(child);
      forget();
      return summary;
    },
  };
}
