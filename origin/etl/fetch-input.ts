import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import pRetry, { AbortError } from 'p-retry';
import { Agent, fetch, type Response } from 'undici';
import { parseEnv } from '../env.js';
import { FeedError, FetchError } from './errors.js';
import { expandLocation, redactLocation } from './feed-location.js';
import {
  checkFeedUrl,
  confinedFilePath,
  type FeedPolicy,
  feedPolicyFrom,
  guardedLookup,
} from './feed-policy.js';

export { projectRoot } from './feed-policy.js';

export type OpenInputOptions = {
  signal?: AbortSignal;
  /** Attempts after the first for a remote source (5xx, network errors; never for 4xx). */
  retries?: number;
  /** Time allowed until the response headers arrive, per attempt. */
  timeoutMs?: number;
  /** Time allowed between two chunks of the body: a stalled download fails instead of hanging. */
  idleTimeoutMs?: number;
  /** What the location may reach. Default: from the environment (origin/env.ts, ETL_*). */
  policy?: FeedPolicy;
  /** Where `${FEED_…}` references are read from. Default: process.env. */
  env?: Record<string, string | undefined>;
};

/** Redirects followed, each checked as the first URL was. */
const MAX_REDIRECTS = 5;

/**
 * Open a source's input as a byte stream: a file under a feed root, or an https URL (http for
 * allow-listed hosts) fetched with retries, confined by the policy (origin/etl/feed-policy.ts).
 * Errors quote the location as stored, references unexpanded: never a credential.
 */
export async function openInput(
  location: string,
  options: OpenInputOptions = {},
): Promise<Readable> {
  const policy = options.policy ?? feedPolicyFrom(parseEnv(process.env));
  if (/^https?:\/\//i.test(location)) return fetchInput(location, policy, options);
  if (/^[a-z][a-z0-9+.-]*:/i.test(location) && !/^[a-z]:[\\/]/i.test(location)) {
    throw new FeedError(
      `unsupported location '${redactLocation(location)}': use a file path or an https URL`,
    );
  }
  // The size was checked against ETL_MAX_BYTES with the path.
  const path = await confinedFilePath(location, policy);
  return createReadStream(path, { highWaterMark: 256 * 1024 });
}

async function fetchInput(
  location: string,
  policy: FeedPolicy,
  options: OpenInputOptions,
): Promise<Readable> {
  const { retries = 3, timeoutMs = 30_000, idleTimeoutMs = 60_000, signal } = options;
  const shown = redactLocation(location);
  let first: URL;
  try {
    first = new URL(expandLocation(location, options.env));
  } catch (error) {
    if (error instanceof FeedError) throw error;
    throw new FeedError(`'${shown}' is not a valid URL`);
  }
  checkFeedUrl(first, policy);
  // Every connection's addresses are checked when it is made (DNS rebinding included).
  const dispatcher = new Agent({ connect: { lookup: guardedLookup(policy) } });
  const response = await pRetry(
    async () => {
      const timeout = AbortSignal.timeout(timeoutMs);
      const res = await follow(first, dispatcher, policy, {
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        shown,
      }).catch((error: unknown) => {
        if (error instanceof FeedError || error instanceof FetchError) throw new AbortError(error);
        const refused = findFeedError(error);
        if (refused) throw new AbortError(refused);
        if (signal?.aborted) throw new AbortError(new FetchError(`GET ${shown}: cancelled`));
        const reason = timeout.aborted ? `no response within ${timeoutMs} ms` : describe(error);
        throw new FetchError(`GET ${shown}: ${reason}`);
      });
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        // A client error will not get better by asking again.
        throw new AbortError(new FetchError(`GET ${shown}: ${res.status} ${res.statusText}`));
      }
      if (!res.ok || !res.body)
        throw new FetchError(`GET ${shown}: ${res.status} ${res.statusText}`);
      return res;
    },
    { retries, minTimeout: 250, factor: 2, ...(signal ? { signal } : {}) },
  ).catch((error: unknown) => {
    if (error instanceof FeedError || error instanceof FetchError) throw error;
    throw new FetchError(`GET ${shown}: ${describe(error)}`);
  });
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > policy.maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new FeedError(
      `GET ${shown}: ${declared} bytes announced, over ETL_MAX_BYTES (${policy.maxBytes})`,
    );
  }
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
  const guard = byteGuard(policy.maxBytes, idleTimeoutMs, shown);
  body.once('error', (error) => guard.destroy(error));
  guard.once('close', () => {
    body.destroy();
    void dispatcher.close().catch(() => undefined);
  });
  return body.pipe(guard);
}

/** GET with redirects followed by hand, so each target is checked before it is asked. */
async function follow(
  start: URL,
  dispatcher: Agent,
  policy: FeedPolicy,
  { signal, shown }: { signal: AbortSignal; shown: string },
): Promise<Response> {
  let url = start;
  for (let hop = 0; ; hop++) {
    const res = await fetch(url, {
      dispatcher,
      signal,
      redirect: 'manual',
      headers: { accept: 'text/csv, application/geo+json, application/x-ndjson, */*' },
    });
    const target = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || target === null) return res;
    await res.body?.cancel().catch(() => undefined);
    if (hop >= MAX_REDIRECTS)
      throw new FetchError(`GET ${shown}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(target, url);
    try {
      checkFeedUrl(next, policy);
    } catch (error) {
      throw new FeedError(
        `GET ${shown}: redirected to ${redactLocation(next.href)}, refused: ${(error as Error).message}`,
      );
    }
    url = next;
  }
}

/** The FeedError guardedLookup raised, wherever undici wrapped it. */
function findFeedError(error: unknown): FeedError | undefined {
  for (let e = error as { cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e instanceof FeedError) return e;
    e = e.cause as { cause?: unknown } | undefined;
  }
  return undefined;
}

/** Fails the stream past `maxBytes`, or when no chunk arrives for `idleMs`. */
function byteGuard(maxBytes: number, idleMs: number, shown: string): Transform {
  let timer: NodeJS.Timeout | undefined;
  let seen = 0;
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes)
        return done(new FeedError(`${shown}: over ETL_MAX_BYTES (${maxBytes} bytes)`));
      arm();
      done(null, chunk);
    },
    flush(done) {
      clearTimeout(timer);
      done();
    },
  });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => guard.destroy(new FetchError(`GET ${shown}: the download stalled for ${idleMs} ms`)),
      idleMs,
    );
    timer.unref();
  };
  arm();
  guard.on('close', () => clearTimeout(timer));
  return guard;
}

function describe(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
}
