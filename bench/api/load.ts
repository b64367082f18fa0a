/**
 * The HTTP load generator of the API benchmark, in a process of its own (started by
 * bench/api/main.ts, which sends it jobs over IPC): `connections` keep-alive connections to the
 * origin on 127.0.0.1, each a closed loop over the job's paths (see bench/lib/closed-loop.ts).
 * Every response is read to its end; anything but a 200 is an error.
 */
import { Agent, request } from 'node:http';
import { serveJobs } from '../lib/children.js';
import { closedLoop, type LoopResult } from '../lib/closed-loop.js';

export type LoadJob = {
  port: number;
  paths: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
};

export type LoadResult = LoopResult & { bytesPerRequest: number };

/** Loopback only: the benchmark must never send load anywhere else. */
const HOST = '127.0.0.1';

async function runLoad(job: LoadJob): Promise<LoadResult> {
  // One socket per connection, kept alive between requests, as a browser or a proxy would.
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections, scheduling: 'fifo' });
  let bytes = 0;
  let responses = 0;
  const get = (path: string) =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: HOST, port: job.port, path, agent, method: 'GET' }, (res) => {
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
        });
        res.once('error', reject);
        res.once('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`GET ${path}: ${res.statusCode}`));
            return;
          }
          bytes += size;
          responses += 1;
          resolve();
        });
      });
      // A stuck request must not stall the loop forever; the parent's own deadline is longer.
      req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path}: no answer in 30 s`)));
      req.once('error', reject);
      req.end();
    });
  try {
    const result = await closedLoop(
      { concurrency: job.connections, warmupMs: job.warmupMs, durationMs: job.durationMs },
      (i) => get(job.paths[i % job.paths.length] as string),
    );
    return { ...result, bytesPerRequest: responses > 0 ? bytes / responses : 0 };
  } finally {
    agent.destroy();
  }
}

serveJobs(runLoad);
