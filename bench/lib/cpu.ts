/**
 * Where the CPU went during a measurement, in cores (1.0 = one core busy all along). On a small
 * machine the load generator, the origin and PostgreSQL share the same cores, so a throughput
 * figure means little without knowing who used them. Linux only (/proc); elsewhere NaN.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's counters: 100 on every Linux this runs on (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

function readTicks(path: string, pick: (fields: number[]) => number): number {
  try {
    return pick(readFileSync(path, 'utf8').trim().split(/\s+/).map(Number));
  } catch {
    return Number.NaN;
  }
}

/** CPU ticks a process has used (user + system); its name may hold spaces, so cut after ')'. */
function processTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text
      .slice(text.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    return (fields[11] as number) + (fields[12] as number);
  } catch {
    return Number.NaN;
  }
}

/** Busy ticks of the whole machine (every state but idle and iowait), from /proc/stat's `cpu` line. */
function machineBusyTicks(): number {
  return readTicks('/proc/stat', ([, user, nice, system, , , irq, softirq, steal]) => {
    return (
      (user as number) +
      (nice as number) +
      (system as number) +
      (irq as number) +
      (softirq as number) +
      (steal as number)
    );
  });
}

/**
 * Start measuring; the returned function gives, for the time since, the cores used by the
 * machine as a whole and by each of `pids`.
 *
 * @example
 * const stop = cpuMeter({ origin: server.pid });
 * await work();
 * const { machine, origin } = stop(); // e.g. { machine: 1.93, origin: 0.81 }
 */
export function cpuMeter(pids: Record<string, number | undefined>): () => Record<string, number> {
  const started = performance.now();
  const machine0 = machineBusyTicks();
  const before = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, pid ? processTicks(pid) : Number.NaN]),
  );
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const cores = (ticks: number) => ticks / TICKS_PER_SECOND / seconds;
    const result: Record<string, number> = { machine: cores(machineBusyTicks() - machine0) };
    for (const [name, pid] of Object.entries(pids))
      result[name] = pid ? cores(processTicks(pid) - (before[name] as number)) : Number.NaN;
    return result;
  };
}
