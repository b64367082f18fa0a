import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';

const projectRoot = new URL('../../', import.meta.url).pathname;

export type EdgeWorkerOptions = {
  /** Where the Worker forwards to: the real origin, e.g. `http://127.0.0.1:41234`. */
  originUrl: string;
  edgeAssertionSecret: string;
  /** The origin's TOKEN_ISSUER / TOKEN_AUDIENCE. */
  issuer: string;
  audience: string;
  /** Seconds an API-key lookup is cached (the revocation bound). Default 1: tests wait on it. */
  apiKeyCacheTtl?: number;
  anonymousAccess?: boolean;
};

export type EdgeWorker = {
  /** `http://127.0.0.1:<port>/`: the Worker, listening like `wrangler dev` does. */
  url: URL;
  /** fetch() against the Worker's URL, on a fresh connection each time. */
  fetch: (path: string, init?: RequestInit) => Promise<Response>;
  stop: () => Promise<void>;
};

/**
 * The real Worker, as it would be deployed, on a random local port: `wrangler deploy --dry-run`
 * bundles edge/index.ts exactly as a deploy would (so a broken build fails here too), and
 * Miniflare, the workerd runner inside `wrangler dev`, serves that bundle with the given vars.
 *
 * Why Miniflare rather than spawning `wrangler dev`: it starts in-process in about a second,
 * reports its URL by promise (no waiting for "Ready on" in a child's stdout, no port races:
 * port 0 is taken by workerd itself), and dispose() stops workerd for sure, so a failed test
 * leaves no process behind on a shared machine.
 *
 * @example
 *   const edge = await startEdgeWorker({ originUrl, edgeAssertionSecret, issuer, audience });
 *   const res = await edge.fetch('/v1/listings?limit=1');
 *   await edge.stop();
 */
export async function startEdgeWorker(options: EdgeWorkerOptions): Promise<EdgeWorker> {
  const outdir = await mkdtemp(join(tmpdir(), 'estate-edge-worker-'));
  try {
    // `--env=""`: the top-level environment, explicitly (wrangler warns otherwise). Its vars are
    // overridden by the bindings below.
    await promisify(execFile)(
      join(projectRoot, 'node_modules/.bin/wrangler'),
      ['deploy', '--dry-run', '--outdir', outdir, '--env='],
      {
        cwd: projectRoot,
        timeout: 60_000,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      },
    );
    const mf = new Miniflare({
      modules: true,
      scriptPath: join(outdir, 'index.js'),
      // Module names are paths relative to this root; the default (the cwd) would name the
      // bundle '../../tmp/...', which workerd refuses.
      modulesRoot: outdir,
      compatibilityDate: await compatibilityDate(),
      host: '127.0.0.1',
      port: 0,
      bindings: {
        ENVIRONMENT: 'test',
        ORIGIN_URL: options.originUrl,
        EDGE_ASSERTION_SECRET: options.edgeAssertionSecret,
        AUTH_ISSUER: options.issuer,
        AUTH_AUDIENCE: options.audience,
        ANONYMOUS_ACCESS: String(options.anonymousAccess ?? true),
        API_KEY_CACHE_TTL: String(options.apiKeyCacheTtl ?? 1),
      },
    });
    const url = await mf.ready;
    return {
      url,
      fetch: (path, init) => {
        // One connection per request: workerd may close a kept-alive connection after answering
        // without reading a request body (a 403 to a POST), and undici then sends the next request
        // on the dead socket (ECONNRESET, seen on a loaded machine). A test does not need reuse.
        const headers = new Headers(init?.headers);
        headers.set('Connection', 'close');
        return fetch(new URL(path, url), { ...init, headers });
      },
      stop: async () => {
        await mf.dispose();
        await rm(outdir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(outdir, { recursive: true, force: true });
    throw error;
  }
}

/** The Worker's compatibility_date, from wrangler.toml: the test runs what production runs. */
async function compatibilityDate(): Promise<string> {
  const toml = await readFile(join(projectRoot, 'wrangler.toml'), 'utf8');
  const date = /^compatibility_date\s*=\s*"(\d{4}-\d{2}-\d{2})"/m.exec(toml)?.[1];
  if (!date) throw new Error('wrangler.toml has no compatibility_date');
  return date;
}
