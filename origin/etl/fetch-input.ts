import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pRetry, { AbortError } from 'p-retry';
import { FeedError, FetchError } from './errors.js';

/** Relative paths in source definitions are from the project root, wherever the process runs. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export type OpenInputOptions = {
  signal?: AbortSignal;
  /** Attempts after the first for a remote source (5xx, network errors; never for 4xx). */
  retries?: number;
  /** Time allowed until the response headers arrive, per attempt. */
  timeoutMs?: number;
  /** Time allowed between two chunks of the body: a stalled download fails instead of hanging. */
  idleTimeoutMs?: number;
};

/** Open a source's input as a byte stream: a local file, or an http(s) URL fetched with retries. */
export async function openInput(
  location: string,
  options: OpenInputOptions = {},
): Promise<Readable> {
  if (/^https?:\/\//i.test(location)) return fetchInput(location, options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new FeedError(`unsupported location '${location}': use a file path or an http(s) URL`);
  }
  const path = isAbsolute(location) ? location : resolve(projectRoot, location);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new FeedError(`no such file: ${path}`);
  if (!info.isFile()) throw new FeedError(`not a file: ${path}`);
  return createReadStream(path, { highWaterMark: 256 * 1024 });
}

async function fetchInput(url: string, options: OpenInputOptions): Promise<Readable> {
  const { retries = 3, timeoutMs = 30_000, idleTimeoutMs = 60_000, signal } = options;
  const response = await pRetry(
    async () => {
      const timeout = AbortSignal.timeout(timeoutMs);
      let res: Response;
      try {
        res = await fetch(url, {
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          headers: { accept: 'text/csv, application/geo+json, application/x-ndjson, */*' },
        });
      } catch (error) {
        if (signal?.aborted) throw new AbortError(new FetchError(`GET ${url}: cancelled`));
        const reason = timeout.aborted ? `no response within ${timeoutMs} ms` : describe(error);
        throw new FetchError(`GET ${url}: ${reason}`);
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        // A client error will not get better by asking again.
        throw new AbortError(new FetchError(`GET ${url}: ${res.status} ${res.statusText}`));
      }
      if (!res.ok || !res.body) throw new FetchError(`GET ${url}: ${res.status} ${res.statusText}`);
      return res;
    },
    { retries, minTimeout: 250, factor: 2, ...(signal ? { signal } : {}) },
  ).catch((error: unknown) => {
    throw error instanceof FetchError ? error : new FetchError(`GET ${url}: ${describe(error)}`);
  });
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
  return body.pipe(idleGuard(idleTimeoutMs, url));
}

/** Fails the stream when no chunk arrives for `ms`. */
function idleGuard(ms: number, url: string): Transform {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Transform({
    transform(chunk, _encoding, done) {
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
      () => guard.destroy(new FetchError(`GET ${url}: the download stalled for ${ms} ms`)),
      ms,
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
