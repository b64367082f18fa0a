/**
 * The edge benchmark's preparations, before anything is timed: the data (synthetic listings through
 * the real ETL, into a scratch database), the Workers' vars, and the checks that every server
 * answers what it should (the same listing through the edge as from the origin; a warm cache).
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../../origin/db/database.js';
import { migrate } from '../../origin/db/migrate.js';
import { loadSyntheticListings } from '../lib/synthetic-listings.js';
import { CACHE_RULES, NEVER_REACHED, type WorkerSpec } from './scenarios.js';

/** Sent with every request, as Cloudflare does (a documentation address, RFC 5737). */
export const CLIENT_HEADERS = { 'CF-Connecting-IP': '203.0.113.7' };

export type ListingPaths = {
  /** `count` listing paths (`/v1/listings/{id}`), a fixed spread over the table. */
  paths: string[];
  /** Every other listing's path, for requests that must each ask for a new one. */
  pool: string[];
};

/**
 * Migrate, load `rows` synthetic listings with the real ETL, and return their paths: a fixed
 * spread of `count` to go round (never one URL over and over), and all the others.
 */
export async function loadListings(
  db: Database,
  workDir: string,
  rows: number,
  count: number,
): Promise<ListingPaths> {
  await migrate(db);
  await loadSyntheticListings(db, workDir, rows);
  const ids = await db.rows<{ id: string }>(
    sql`SELECT id::text AS id FROM listings ORDER BY md5(id::text)`,
  );
  const all = ids.map(({ id }) => `/v1/listings/${id}`);
  return { paths: all.slice(0, count), pool: all.slice(count) };
}

export type Endpoints = {
  /** The origin that requires the edge assertion (production), and the one that does not. */
  signedOrigin: string;
  openOrigin: string;
  edgeAssertionSecret: string;
  /** Absent when no selected scenario counts quotas. */
  quotaStore?: { url: string; token: string };
  /** The same, through the delay proxies (absent when no `far` scenario runs). */
  far?: { signedOrigin: string; openOrigin: string; quotaStoreUrl?: string };
  /** Redis key prefix of this run's quotas, so nothing collides with anyone's. */
  quotaPrefix: string;
};

/**
 * The vars of one Worker: wrangler.toml's top-level ones, with the origin, the secret, the cache
 * rules and limits the benchmark needs (nothing is ever refused), and, for the bare Worker, the
 * body it answers.
 */
export function workerVars(
  spec: WorkerSpec,
  tomlVars: Record<string, unknown>,
  endpoints: Endpoints,
  body: string,
): Record<string, unknown> {
  if (spec.bundle === 'bare') return { BODY: body, ...spec.vars };
  const toml = tomlVars.RATE_LIMITS as { plans?: Record<string, unknown> };
  const vars: Record<string, unknown> = {
    ...tomlVars,
    ENVIRONMENT: 'bench',
    ORIGIN_URL: spec.far
      ? farOf(endpoints).signedOrigin
      : spec.origin === 'open'
        ? endpoints.openOrigin
        : endpoints.signedOrigin,
    EDGE_ASSERTION_SECRET: endpoints.edgeAssertionSecret,
    CACHE_RULES: CACHE_RULES[spec.cache ?? 'none'],
    RATE_LIMITS: {
      ...toml,
      prefix: endpoints.quotaPrefix,
      burst: { limit: NEVER_REACHED, period: 10 },
      global: { limit: NEVER_REACHED, window: '1 s' },
      plans: { ...toml.plans, anonymous: [{ limit: NEVER_REACHED, window: '1 m' }] },
    },
    ...spec.vars,
  };
  if (spec.quotas) {
    if (!endpoints.quotaStore) throw new Error('quotas asked for, but no quota store was started');
    vars.UPSTASH_REDIS_REST_URL = spec.far
      ? (farOf(endpoints).quotaStoreUrl ?? endpoints.quotaStore.url)
      : endpoints.quotaStore.url;
    vars.UPSTASH_REDIS_REST_TOKEN = endpoints.quotaStore.token;
  }
  return vars;
}

function farOf(endpoints: Endpoints): NonNullable<Endpoints['far']> {
  if (!endpoints.far) throw new Error('a far Worker asked for, but no delay proxy was started');
  return endpoints.far;
}

export type Answer = { status: number; body: string; headers: Headers };

/** One GET, on a connection of its own, read to the end. */
export async function get(baseUrl: string, path: string): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    headers: { ...CLIENT_HEADERS, Connection: 'close' },
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/**
 * Ask a caching Worker for every path until each answers `X-Cache: HIT` (the store runs after the
 * answer, in waitUntil, so the second ask may still miss), checking each body against the origin's.
 */
export async function warmCache(
  baseUrl: string,
  paths: readonly string[],
  expected: ReadonlyMap<string, string>,
): Promise<void> {
  for (const path of paths) {
    for (let attempt = 1; ; attempt++) {
      const answer = await get(baseUrl, path);
      if (answer.status !== 200 || answer.body !== expected.get(path))
        throw new Error(
          `GET ${path} through the edge: ${answer.status}, not the origin's answer: ${answer.body.slice(0, 200)}`,
        );
      if (answer.headers.get('x-cache') === 'HIT') break;
      if (attempt === 10) throw new Error(`GET ${path} never became a cache HIT`);
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

/** Check one answer: status, body, and X-Cache when the server is the real Worker. */
export async function checkAnswer(
  baseUrl: string,
  path: string,
  expected: { body: string; xCache?: string; rateLimited?: boolean },
): Promise<void> {
  const answer = await get(baseUrl, path);
  const problems: string[] = [];
  if (answer.status !== 200) problems.push(`status ${answer.status}`);
  if (answer.body !== expected.body) problems.push(`body ${answer.body.slice(0, 200)}`);
  const xCache = answer.headers.get('x-cache');
  if (expected.xCache !== undefined && xCache !== expected.xCache)
    problems.push(`X-Cache ${xCache}, not ${expected.xCache}`);
  if (expected.rateLimited && !answer.headers.has('ratelimit-limit'))
    problems.push('no RateLimit-Limit header: the quotas were not checked');
  if (problems.length > 0) throw new Error(`GET ${baseUrl}${path}: ${problems.join('; ')}`);
}
