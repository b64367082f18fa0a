/**
 * The Workers of the edge benchmark, in a process of their own (started by bench/edge/main.ts, which
 * sends it jobs over IPC): each one a `workerd` process serving a bundle on its own socket on
 * 127.0.0.1, with the vars and bindings the job gives; started with a config of ours
 * (bench/edge/workerd.ts) or through Miniflare, as the tests do.
 *
 * Never `wrangler dev`: it puts a Node proxy in front of workerd (it caps near 2,000 req/s on this
 * machine). In both runtimes the URL is workerd's own socket (bench/edge/main.ts checks the listener's
 * process).
 *
 * workerd's stdout (the Worker's access log, one JSON line per request) is read here, not printed:
 * the lines are counted by status, cache and rate-limit outcome, so the benchmark can prove that a
 * "HIT" run was all hits. Its stderr is passed through.
 */
import type { Readable } from 'node:stream';
import { type Json, Miniflare } from 'miniflare';
import { announceReady, serveJobs } from '../lib/children.js';
import type { WorkerBundle } from './build.js';
import { serveWithWorkerd } from './workerd.js';

export type StartWorkerJob = {
  op: 'start';
  name: string;
  /**
   * `workerd`: `workerd serve` with a config of ours (bench/edge/workerd.ts), what the figures
   * use. `miniflare`: the same bundle as the tests run it (test/support/edge-worker.ts).
   */
  runtime: 'workerd' | 'miniflare';
  bundle: WorkerBundle;
  compatibilityDate: string;
  /** Vars and secrets; structured vars as objects, as wrangler passes TOML tables. */
  bindings: Record<string, unknown>;
  /** The Cache API's stand-in (bench/edge/cache-worker.ts), for the `workerd` runtime. */
  cache?: WorkerBundle;
  /** The BURST_LIMITER binding's limit per 10 s; absent: no binding. */
  burstLimit?: number;
  /**
   * Miniflare routes every outbound fetch through a small Worker of its own that drops
   * CF-Connecting-IP (Cloudflare does that natively). Off by default here: that hop is Miniflare's
   * cost, not the gateway's.
   */
  stripCfConnectingIp?: boolean;
  /** Open workerd's DevTools inspector (`workerd` runtime): for CPU profiles. */
  inspector?: boolean;
};
export type WorkerJob =
  | StartWorkerJob
  /** The access-log counts since the last `counts` job of this Worker (then reset). */
  | { op: 'counts'; name: string }
  | { op: 'stop'; name: string };

export type StartedWorker = { url: string; port: number; inspectorPort?: number };
/** `"<status> <cache> <rate_limit>"` → lines; `other` counts lines that are not access-log lines. */
export type LogCounts = Record<string, number>;

type Running = { stop(): Promise<void>; counts: LogCounts };
const running = new Map<string, Running>();

/** Count access-log lines as they stream by; a line may span two chunks. */
function countLines(stream: NodeJS.ReadableStream, counts: LogCounts): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      let key = 'other';
      // Cheap enough at 10,000 lines/s; the fields are the access log's (edge/middleware/access-log).
      if (line.includes('"msg":"request"')) {
        try {
          const entry = JSON.parse(line) as {
            status?: number;
            cache?: string;
            rate_limit?: string;
          };
          key = `${entry.status} ${entry.cache ?? '-'} ${entry.rate_limit ?? '-'}`;
        } catch {
          key = 'unparsed';
        }
      }
      counts[key] = (counts[key] ?? 0) + 1;
    }
  });
}

async function start(job: StartWorkerJob): Promise<StartedWorker> {
  if (running.has(job.name)) throw new Error(`${job.name} is already running`);
  const counts: LogCounts = {};
  if (job.runtime === 'workerd') {
    const workerd = await serveWithWorkerd({
      name: job.name,
      bundle: job.bundle,
      compatibilityDate: job.compatibilityDate,
      vars: job.bindings,
      ...(job.burstLimit === undefined ? {} : { burstLimit: job.burstLimit }),
      ...(job.cache ? { cache: job.cache } : {}),
      onStdout: (stdout) => countLines(stdout, counts),
      ...(job.inspector ? { inspector: true } : {}),
    });
    running.set(job.name, { stop: workerd.stop, counts });
    return {
      url: workerd.url,
      port: workerd.port,
      ...(workerd.inspectorPort ? { inspectorPort: workerd.inspectorPort } : {}),
    };
  }
  const mf = new Miniflare({
    name: job.name,
    modules: true,
    scriptPath: job.bundle.scriptPath,
    // Module names are relative to this root (see test/support/edge-worker.ts).
    modulesRoot: job.bundle.modulesRoot,
    compatibilityDate: job.compatibilityDate,
    host: '127.0.0.1',
    port: 0,
    // JSON-shaped by construction (strings and TOML tables), as wrangler passes vars.
    bindings: job.bindings as Record<string, Json>,
    ...(job.burstLimit === undefined
      ? {}
      : { ratelimits: { BURST_LIMITER: { simple: { limit: job.burstLimit, period: 10 } } } }),
    stripCfConnectingIp: job.stripCfConnectingIp ?? false,
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      countLines(stdout, counts);
      stderr.pipe(process.stderr);
    },
  });
  const url = await mf.ready;
  running.set(job.name, { stop: () => mf.dispose(), counts });
  return { url: url.toString().replace(/\/$/, ''), port: Number(url.port) };
}

serveJobs(async (job: WorkerJob) => {
  switch (job.op) {
    case 'start':
      return start(job);
    case 'counts': {
      const worker = running.get(job.name);
      if (!worker) throw new Error(`no Worker named ${job.name}`);
      const snapshot = { ...worker.counts };
      for (const key of Object.keys(worker.counts)) delete worker.counts[key];
      return snapshot;
    }
    case 'stop': {
      const worker = running.get(job.name);
      running.delete(job.name);
      await worker?.stop();
      return null;
    }
  }
});

async function stopAll() {
  await Promise.allSettled([...running.values()].map((w) => w.stop()));
  process.exit(0);
}
process.on('SIGTERM', () => void stopAll());
process.on('SIGINT', () => void stopAll());
announceReady(true);
