/**
 * The HTTP fuzz straight against the origin app, in a process of its own: createApp over a
 * database of its own (a clone of the suite's template), requests through app.request (no
 * socket: volume is cheap, and values of a megabyte reach the routes instead of Node's header
 * limit). Every request carries an admin's edge assertion bound to it (test/support/
 * edge-assertion.ts), so the admin routes' validation is reached too; whatever those routes write
 * lands in this throwaway database.
 *
 * Driven over IPC: receives { seed, cases, hugeSizes, concurrency }, answers with the tally.
 */
import { createApp } from '../../../origin/app.js';
import { openDatabase } from '../../../origin/db/database.js';
import { createLogger } from '../../../origin/logger.js';
import { prng } from '../../../scripts/lib/synthetic.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../support/edge-assertion.js';
import { casesFor, endpointsOf, type OpenApiDocument } from './cases.js';
import { eachLimited, emptyTally, type FuzzAnswer, record } from './tally.js';

export type OriginFuzzJob = {
  seed: number;
  cases: number;
  hugeSizes: number[];
  concurrency: number;
};

const unhandled: string[] = [];
process.on('unhandledRejection', (reason) =>
  unhandled.push(`unhandled rejection: ${String(reason)}`),
);

process.once('message', (job: OriginFuzzJob) => {
  fuzz(job)
    .then(
      (result) => process.send?.({ result }),
      (error: Error) => process.send?.({ fatal: error.stack ?? String(error) }),
    )
    .finally(() => process.disconnect?.());
});

async function fuzz(job: OriginFuzzJob) {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const db = await openDatabase({ url, dataDir: '', poolMax: 8 });
  // Unhandled errors are logged by onError at 'error': silent here, the 500 is what counts.
  const app = throughEdge(
    createApp({ db, logger: createLogger('silent'), edgeAssertionSecret: TEST_EDGE_SECRET }),
  );
  const doc = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
  const page = await (await app.request('/')).text();
  const viewerPaths = [...page.matchAll(/(?:src|href)="(\/viewer\/[^"]+)"/g)].map(
    (m) => m[1] as string,
  );
  const random = prng(job.seed);
  const cases = endpointsOf(doc, viewerPaths).flatMap((endpoint) =>
    casesFor(endpoint, random, { cases: job.cases, hugeSizes: job.hugeSizes, headerFuzz: false }),
  );
  const tally = emptyTally();
  await eachLimited(cases, job.concurrency, async (fuzzCase) => {
    let answer: FuzzAnswer;
    try {
      const res = await app.request(fuzzCase.target, {
        method: fuzzCase.method,
        headers: fuzzCase.headers,
        ...(fuzzCase.body !== undefined ? { body: fuzzCase.body } : {}),
      });
      answer = {
        status: res.status,
        contentType: res.headers.get('content-type'),
        body: (await res.text()).slice(0, 8_192),
        fromOurCode: true,
      };
    } catch (error) {
      // app.request threw instead of answering: the app let an error escape its onError.
      answer = {
        status: 0,
        contentType: null,
        body: '',
        fromOurCode: true,
        error: `threw ${(error as Error).message}`,
      };
    }
    record(tally, fuzzCase, answer);
  });
  await db.close();
  return { tally, unhandled };
}
