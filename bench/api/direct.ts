/**
 * The limit side of the API benchmark, in a process of its own (started by bench/api/main.ts, which
 * sends it jobs over IPC): the database functions the route handlers call (`searchListings`,
 * `listingStats`, `listingsTile`…), with the same parameters as the HTTP requests, from a pool of
 * `concurrency` connections, each a closed loop (see bench/lib/closed-loop.ts). Same SQL, same
 * driver, no HTTP, no validation, no JSON.
 */
import { openDatabase } from '../../origin/db/database.js';
import { serveJobs } from '../lib/children.js';
import { closedLoop, type LoopResult } from '../lib/closed-loop.js';
import { type DirectCall, executeDirect } from './workload.js';

export type DirectJob = {
  url: string;
  calls: DirectCall[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
};

async function runDirect(job: DirectJob): Promise<LoopResult> {
  // A pool per job, closed after it: its connections are not held while the origin is measured.
  const db = await openDatabase({ url: job.url, dataDir: '', poolMax: job.concurrency });
  try {
    return await closedLoop(
      { concurrency: job.concurrency, warmupMs: job.warmupMs, durationMs: job.durationMs },
      async (i) => {
        await executeDirect(db, job.calls[i % job.calls.length] as DirectCall);
      },
    );
  } finally {
    await db.close();
  }
}

serveJobs(runDirect);
