import { prng } from '../../../scripts/lib/synthetic.js';
import { casesFor, endpointsOf, type OpenApiDocument } from '../fuzz/cases.js';
import type { OriginFuzzJob } from '../fuzz/origin-child.js';
import { sendRaw } from '../fuzz/send.js';
import { eachLimited, emptyTally, type FuzzTally, record } from '../fuzz/tally.js';
import { runJobChild } from '../lib/children.js';
import { cloneTemplate, listingsChecksum, sameChecksum } from '../lib/database.js';
import type { Platform } from '../lib/platform.js';

export type FuzzHttpSizes = {
  /** Hostile requests per endpoint through the Worker, and straight to the origin app. */
  viaWorker: number;
  direct: number;
  hugeSizes: number[];
};

export type FuzzHttpReport = {
  seed: number;
  endpoints: number;
  viaWorker: FuzzTally;
  direct: FuzzTally;
  listingsIntact: boolean;
  durationMs: number;
  violations: string[];
};

const KiB = 1024;
/** 10 KB to 1 MB, as the issue asks; one case each per endpoint. */
export const HUGE_SIZES = [10 * KiB, 64 * KiB, 256 * KiB, 1024 * KiB];

/**
 * Hostile requests to every public endpoint, derived from the origin's /openapi.json (as the
 * Worker serves it) plus the viewer's pages: through the real Worker to the real origin process,
 * and, in volume, straight into the origin app in a child process. Both at once: they share
 * nothing but the machine.
 */
export async function runFuzzHttp(options: {
  platform: Platform;
  seed: number;
  sizes: FuzzHttpSizes;
  log: (line: string) => void;
}): Promise<FuzzHttpReport> {
  const { platform, seed, sizes, log } = options;
  const started = Date.now();
  const before = await listingsChecksum(platform.db);
  const directDatabase = await cloneTemplate(platform.cluster, 'reliability_fuzz_http');

  const direct = runJobChild<{ tally: FuzzTally; unhandled: string[] }>({
    script: 'test/reliability/fuzz/origin-child.ts',
    env: { DATABASE_URL: directDatabase, NODE_ENV: 'test' },
    job: {
      seed: seed + 2,
      cases: sizes.direct,
      hugeSizes: sizes.hugeSizes,
      concurrency: 8,
    } satisfies OriginFuzzJob,
    key: 'result',
    timeoutMs: 600_000,
  });

  const main = platform.workers.main;
  const docResponse = await main.fetch('/openapi.json', {
    headers: { 'CF-Connecting-IP': '2001:db8:f::1' },
  });
  if (docResponse.status !== 200)
    throw new Error(`/openapi.json through the Worker answered ${docResponse.status}`);
  const doc = (await docResponse.json()) as OpenApiDocument;
  const endpoints = endpointsOf(doc, platform.viewerPaths);
  const random = prng(seed + 1);
  const cases = endpoints.flatMap((endpoint) =>
    casesFor(endpoint, random, {
      cases: sizes.viaWorker,
      hugeSizes: sizes.hugeSizes,
      headerFuzz: true,
    }),
  );
  const viaWorker = emptyTally();
  const base = main.url.toString();
  await eachLimited(cases, 6, async (fuzzCase) => {
    record(viaWorker, fuzzCase, await sendRaw(base, fuzzCase, 30_000));
  });
  log(
    `  through the Worker: ${viaWorker.cases} hostile requests to ${endpoints.length} endpoints in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  const violations: string[] = [];
  let directTally = emptyTally();
  try {
    const result = await direct;
    directTally = result.tally;
    for (const u of result.unhandled) violations.push(`fuzz-http (origin app): ${u}`);
  } catch (error) {
    violations.push(`fuzz-http (origin app): ${(error as Error).message}`);
  }
  log(`  straight to the origin app: ${directTally.cases} hostile requests`);

  const listingsIntact = sameChecksum(before, await listingsChecksum(platform.db));
  if (!listingsIntact)
    violations.push(
      'fuzz-http: the listings changed while hostile requests went through the Worker',
    );
  for (const [where, tally] of [
    ['through the Worker', viaWorker],
    ['origin app', directTally],
  ] as const)
    for (const [reason, { count, endpoints, examples }] of Object.entries(tally.violations)) {
      const example = examples[0];
      violations.push(
        `fuzz-http (${where}): ${count} × ${reason}, on ${Object.keys(endpoints).length} endpoint(s)${example ? `; e.g. ${example.method} ${example.target.slice(0, 120)} → ${example.status} ${example.contentType ?? '(no content type)'}` : ''}`,
      );
    }
  for (const exit of platform.origin.unexpectedExits.splice(0))
    violations.push(`fuzz-http: ${exit}`);
  return {
    seed,
    endpoints: endpoints.length,
    viaWorker,
    direct: directTally,
    listingsIntact,
    durationMs: Date.now() - started,
    violations,
  };
}
