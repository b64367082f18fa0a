import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

/**
 * How busy the machine was, beside the figures it explains: on a shared two-core machine a
 * neighbour's benchmark can starve the Worker and turn a 10 ms answer into a 30 s one. Every few
 * seconds, from /proc (Linux): the load average, the cores busy on the whole machine, and the
 * cores the suite's own processes used (this process's descendants and the private PostgreSQL).
 */
export type MachineSample = {
  /** Wall-clock ms. */
  at: number;
  load1: number;
  /** Cores busy on the whole machine since the previous sample. */
  busyCores: number;
  /** Of those, the suite's processes. */
  suiteCores: number;
};

export type MachineSampler = {
  readonly samples: readonly MachineSample[];
  stop: () => void;
};

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
export const CORES = cpus().length;

/**
 * Samples every `everyMs` until stopped. `extraRoots` are process ids whose trees count as the
 * suite's though they are not our descendants (the daemonized PostgreSQL postmaster).
 */
export function sampleMachine(everyMs: number, extraRoots: () => number[]): MachineSampler {
  const samples: MachineSample[] = [];
  let previous: { at: number; busy: number; perPid: Map<number, number> } | undefined;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const [machine, processes, loadavg] = await Promise.all([
        machineBusyTicks(),
        processTicks(),
        readFile('/proc/loadavg', 'utf8'),
      ]);
      const roots = new Set([process.pid, ...extraRoots()]);
      const ours = suiteProcesses(processes, roots);
      const perPid = new Map([...ours].map((pid) => [pid, processes.get(pid)?.ticks ?? 0]));
      const at = Date.now();
      if (previous) {
        const seconds = (at - previous.at) / 1000;
        let suiteTicks = 0;
        for (const [pid, ticks] of perPid) suiteTicks += ticks - (previous.perPid.get(pid) ?? 0);
        samples.push({
          at,
          load1: Number(loadavg.split(' ')[0]),
          busyCores: round2((machine - previous.busy) / TICKS_PER_SECOND / seconds),
          suiteCores: round2(Math.max(0, suiteTicks) / TICKS_PER_SECOND / seconds),
        });
      }
      previous = { at, busy: machine, perPid };
    } catch {
      // Not Linux, or /proc unreadable: the report says nothing about the machine.
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), everyMs);
  return {
    samples,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Averages over the samples taken in [from, to]. */
export function machineDuring(samples: readonly MachineSample[], from: number, to: number) {
  const inside = samples.filter((s) => s.at >= from && s.at <= to);
  if (inside.length === 0) return undefined;
  const mean = (pick: (s: MachineSample) => number) =>
    round2(inside.reduce((sum, s) => sum + pick(s), 0) / inside.length);
  const busy = mean((s) => s.busyCores);
  const suite = mean((s) => s.suiteCores);
  return {
    cores: CORES,
    load1: mean((s) => s.load1),
    busyCores: busy,
    suiteCores: suite,
    othersCores: round2(Math.max(0, busy - suite)),
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

async function machineBusyTicks(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are not busy.
  return total - (fields[3] ?? 0) - (fields[4] ?? 0);
}

type ProcessTicks = { ppid: number; ticks: number };

async function processTicks(): Promise<Map<number, ProcessTicks>> {
  const out = new Map<number, ProcessTicks>();
  const entries = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    entries.map(async (name) => {
      try {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8');
        // The command name is in parentheses and may hold spaces: fields start after the last ')'.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(Number(name), {
          ppid: Number(fields[1]),
          ticks: Number(fields[11]) + Number(fields[12]),
        });
      } catch {
        // The process ended meanwhile.
      }
    }),
  );
  return out;
}

function suiteProcesses(processes: Map<number, ProcessTicks>, roots: Set<number>): Set<number> {
  const ours = new Set<number>();
  for (const pid of processes.keys()) {
    let at: number | undefined = pid;
    for (let depth = 0; at !== undefined && at > 1 && depth < 64; depth++) {
      if (roots.has(at) || ours.has(at)) {
        ours.add(pid);
        break;
      }
      at = processes.get(at)?.ppid;
    }
  }
  return ours;
}
