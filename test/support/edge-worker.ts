import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import type { z } from 'zod';
import type { cacheRulesSchema } from '../../edge/middleware/edge-cache/config.js';
import type { originPolicySchema } from '../../edge/middleware/origin-proxy/policy.js';
import type { rateLimitConfigSchema } from '../../edge/middleware/rate-limit/config.js';
import type { corsOriginsSchema } from '../../edge/middleware/security-headers/cors.js';

const projectRoot = new URL('../../', import.meta.url).pathname;

/**
 * The gateway's vars and secrets (docs/edge-gateway.md), typed by the Worker's own schemas so a
 * test cannot pass a value the Worker would refuse. Structured ones are objects, as wrangler.toml's
 * TOML tables reach the Worker. Each one given replaces wrangler.toml's whole value.
 */
export type GatewayVars = {
  /** The Upstash-compatible endpoint holding the quotas (scripts/lib/redis-rest-process.ts). */
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  RATE_LIMITS?: z.input<typeof rateLimitConfigSchema>;
  RATE_LIMIT_FAIL_MODE?: 'open' | 'closed';
  CACHE_RULES?: z.input<typeof cacheRulesSchema>;
  ORIGIN_POLICY?: z.input<typeof originPolicySchema>;
  /** Seconds an isolate trusts the data version it knows. */
  DATA_VERSION_TTL?: number;
  CORS_ORIGINS?: z.input<typeof corsOriginsSchema>;
};

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
  /** Over wrangler.toml's top-level [vars]. Unset ones keep wrangler.toml's values. */
  vars?: GatewayVars;
  /**
   * Vars exactly as given, unchecked and applied last: for the tests of the Worker's own config
   * checks, which must hand it what `vars` would refuse (`RATE_LIMIT_FAIL_MODE: 'Closed'`).
   */
  uncheckedVars?: Record<string, unknown>;
  /** The BURST_LIMITER binding's figures; default wrangler.toml's `[[ratelimits]]` block. */
  burstLimit?: { limit: number; period: 10 | 60 };
  /**
   * Receives every line the Worker logs (console.log/warn/error), instead of the test's stdout.
   * Unset, workerd's output goes to the test's stdout as before.
   */
  onLog?: (entry: WorkerLog) => void;
  /** A bundle from buildEdgeWorker(), shared by several Workers; default: one built for this one. */
  bundle?: EdgeBundle;
};

export type WorkerLog = { level: string; message: string };

export type EdgeWorker = {
  /** `http://127.0.0.1:<port>/`: the Worker, listening like `wrangler dev` does. */
  url: URL;
  /** fetch() against the Worker's URL, on a fresh connection each time. */
  fetch: (path: string, init?: RequestInit) => Promise<Response>;
  stop: () => Promise<void>;
};

/** What wrangler.toml gives the Worker at its top level (no `--env`), as Miniflare takes it. */
type TopLevelConfig = {
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, unknown>;
  ratelimits: Record<string, { simple: { limit: number; period?: 10 | 60 } }>;
};

/** The Worker as `wrangler deploy` would upload it, and wrangler.toml's settings for it. */
export type EdgeBundle = {
  /** Holds `index.js`, the bundle. */
  dir: string;
  config: TopLevelConfig;
  dispose: () => Promise<void>;
};

/**
 * `wrangler deploy --dry-run` bundles edge/index.ts exactly as a deploy would, so a broken build
 * fails here too. A build takes seconds; a test file that starts several Workers (different
 * vars) builds once and passes the bundle to each, then disposes of it.
 *
 * @example
 *   const bundle = await buildEdgeWorker();
 *   const a = await startEdgeWorker({ ...options, bundle });
 *   const b = await startEdgeWorker({ ...options, bundle, vars: { RATE_LIMIT_FAIL_MODE: 'closed' } });
 *   await Promise.all([a.stop(), b.stop()]);
 *   await bundle.dispose();
 */
export async function buildEdgeWorker(): Promise<EdgeBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'estate-edge-worker-'));
  try {
    const [config] = await Promise.all([
      // In parallel: importing wrangler takes seconds too.
      topLevelConfig(),
      // `--env=""`: the top-level environment, explicitly (wrangler warns otherwise).
      promisify(execFile)(
        join(projectRoot, 'node_modules/.bin/wrangler'),
        ['deploy', '--dry-run', '--outdir', dir, '--env='],
        {
          cwd: projectRoot,
          timeout: 60_000,
          env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
        },
      ),
    ]);
    return { dir, config, dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The real Worker, as it would be deployed, on a random local port: Miniflare, the workerd
 * runner inside `wrangler dev`, serves the bundle with wrangler.toml's top-level vars and
 * `[[ratelimits]]` binding (Miniflare does not read wrangler.toml itself), then the given ones.
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
  const ownBundle = options.bundle === undefined;
  const bundle = options.bundle ?? (await buildEdgeWorker());
  try {
    const { config } = bundle;
    const startup: string[] = [];
    let started = false;
    const mf = new Miniflare({
      modules: true,
      scriptPath: join(bundle.dir, 'index.js'),
      // Module names are paths relative to this root; the default (the cwd) would name the
      // bundle '../../tmp/...', which workerd refuses.
      modulesRoot: bundle.dir,
      compatibilityDate: config.compatibilityDate,
      compatibilityFlags: config.compatibilityFlags,
      host: '127.0.0.1',
      port: 0,
      bindings: {
        ...config.vars,
        ENVIRONMENT: 'test',
        ORIGIN_URL: options.originUrl,
        EDGE_ASSERTION_SECRET: options.edgeAssertionSecret,
        AUTH_ISSUER: options.issuer,
        AUTH_AUDIENCE: options.audience,
        ANONYMOUS_ACCESS: String(options.anonymousAccess ?? true),
        API_KEY_CACHE_TTL: String(options.apiKeyCacheTtl ?? 1),
        ...gatewayBindings(options.vars ?? {}),
        ...options.uncheckedVars,
      },
      ratelimits: options.burstLimit
        ? { ...config.ratelimits, BURST_LIMITER: { simple: options.burstLimit } }
        : config.ratelimits,
      ...(options.onLog
        ? {
            // workerd's own structured lines: one per console call, with its level. Miniflare
            // checks that the handler returns nothing, hence the braces.
            handleStructuredLogs: ({ level, message }: WorkerLog) => {
              if (!started) startup.push(`${level}: ${message}`);
              options.onLog?.({ level, message });
            },
          }
        : {}),
    });
    const url = await mf.ready.catch(async (error: unknown) => {
      await mf.dispose().catch(() => undefined);
      // Miniflare's error says "there is likely additional logging output above": with onLog
      // that output went there, so it travels in the error instead.
      if (startup.length === 0) throw error;
      throw new Error(`the Worker did not start:\n${startup.join('\n')}`, { cause: error });
    });
    started = true;
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
        if (ownBundle) await bundle.dispose();
      },
    };
  } catch (error) {
    if (ownBundle) await bundle.dispose();
    throw error;
  }
}

/** The given vars as bindings: objects stay JSON (as TOML tables arrive), numbers become text. */
function gatewayBindings(vars: GatewayVars): Record<string, unknown> {
  const bindings: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) continue;
    bindings[name] = typeof value === 'number' ? String(value) : value;
  }
  return bindings;
}

/**
 * wrangler.toml's top level read by wrangler itself, so TOML tables arrive as the same JSON the
 * deployed Worker gets. Not `unstable_getMiniflareWorkerOptions`: that one also reads .dev.vars,
 * and a developer's local secrets must not change what a test sees.
 */
async function topLevelConfig(): Promise<TopLevelConfig> {
  const { unstable_readConfig } = await import('wrangler');
  // Its declared type comes from a package wrangler bundles without publishing, so it is `any`
  // here: the fields read are spelled out.
  const config: {
    compatibility_date?: string;
    compatibility_flags: string[];
    vars: Record<string, unknown>;
    ratelimits: { name: string; simple: { limit: number; period?: 10 | 60 } }[];
  } = unstable_readConfig({ config: join(projectRoot, 'wrangler.toml') });
  if (!config.compatibility_date) throw new Error('wrangler.toml has no compatibility_date');
  return {
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    vars: config.vars,
    ratelimits: Object.fromEntries(
      config.ratelimits.map((binding) => [binding.name, { simple: binding.simple }]),
    ),
  };
}
