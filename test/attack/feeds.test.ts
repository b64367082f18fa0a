import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../origin/app.js';
import type { Logger } from '../../origin/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../support/edge-assertion.js';
import { feedSource, HEADER } from '../support/etl.js';

/**
 * Issue 13, findings 4 and 7, as a user holding `etl:admin` (or `etl:read`) would try them through
 * the origin's API on PostGIS: a source whose location points at the origin's own files, its
 * environment, the cloud metadata service, loopback services (directly, by a name, by a
 * redirect), or that carries a credential. Before feeds were confined, `/etc/passwd` loaded and
 * its lines came back as rejects, and a URL's token was shown to analysts and written to runs.
 */

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
const logLines: string[] = [];
/** A "backend service" on loopback: nothing may reach it unless the operator allow-listed it. */
let internal: Server;
let internalUrl: string;
const internalHits: IncomingMessage[] = [];
/** The operator's own feed server, allow-listed. */
let feeds: Server;
let feedsBase: string;
const feedHits: IncomingMessage[] = [];
const FEED_SECRET = 'feed-token-value-that-must-never-show';
const ROW = 'F1,A,300000,2,9 Bay Rd,2024-03-01,47.7,-122.4';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await createTestDatabase();
  const logger = pino({ level: 'debug' }, { write: (line: string) => logLines.push(line) });
  app = throughEdge(
    createApp({ db: t.db, logger: logger as Logger, edgeAssertionSecret: TEST_EDGE_SECRET }),
  );
  internal = createServer((req, res) => {
    internalHits.push(req);
    res.end(`${HEADER}\nsecret-from-the-backend-network\n`);
  });
  internalUrl = await listen(internal);
  feeds = createServer((req, res) => {
    feedHits.push(req);
    if (req.url?.startsWith('/to-internal')) {
      res.writeHead(302, { location: `http://${internalUrl}/x.csv` });
      return res.end();
    }
    if (req.url?.startsWith('/to-metadata')) {
      res.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' });
      return res.end();
    }
    if (req.url?.startsWith('/big')) return res.end(`${HEADER}\n${`${ROW}\n`.repeat(2000)}`);
    if (req.url?.startsWith('/gone')) {
      res.statusCode = 404;
      return res.end();
    }
    res.end(`${HEADER}\n${ROW}\n`);
  });
  feedsBase = await listen(feeds);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

afterAll(async () => {
  internal?.closeAllConnections();
  feeds?.closeAllConnections();
  await Promise.all([
    new Promise((resolve) => internal?.close(resolve)),
    new Promise((resolve) => feeds?.close(resolve)),
  ]);
  await t?.drop();
});

type Run = { id: number; status: string; error: string | null; location: string };

function put(name: string, location: string): Promise<Response> {
  return Promise.resolve(
    app.request(`/v1/etl/sources/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...feedSource(name, location), name: undefined }),
    }),
  );
}

/** Declare, run through the API, wait for the end; the run as analysts see it, and its rejects. */
async function runOf(name: string, location: string): Promise<{ run: Run; rejects: string }> {
  const declared = await put(name, location);
  expect(declared.status, await declared.clone().text()).toBeLessThan(300);
  const started = await app.request('/v1/etl/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source: name }),
  });
  expect(started.status).toBe(202);
  const { id } = (await started.json()) as { id: number };
  for (let i = 0; i < 200; i++) {
    const run = (await (await app.request(`/v1/etl/runs/${id}`)).json()) as Run;
    if (run.status !== 'running') {
      const rejects = await (await app.request(`/v1/etl/runs/${id}/rejects`)).text();
      return { run, rejects };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`run ${id} did not end`);
}

describe('a feed location cannot reach what the origin can', () => {
  it('refuses files outside the feed roots: /etc/passwd, ../ to /proc/self/environ', async () => {
    for (const [name, location] of [
      ['passwd', '/etc/passwd'],
      ['environ', '../../../../../../proc/self/environ'],
      ['environ-abs', '/proc/self/environ'],
    ] as const) {
      const { run, rejects } = await runOf(name, location);
      expect(run.status, name).toBe('failed');
      expect(run.error, name).toMatch(/not under a feed root \(ETL_FILE_ROOTS/);
      expect(rejects, name).not.toMatch(/root:|PATH=|EDGE_ASSERTION/);
    }
    const [listings] = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM listings`);
    expect(listings?.n).toBe(0);
  });

  it('refuses a symlink inside a root that points out of it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'feed-root-'));
    vi.stubEnv('ETL_FILE_ROOTS', root);
    symlinkSync('/etc/passwd', join(root, 'feed.csv'));
    const { run } = await runOf('symlinked', join(root, 'feed.csv'));
    expect(run.error).toMatch(/not under a feed root/);
    writeFileSync(join(root, 'real.csv'), `${HEADER}\n${ROW}\n`);
    expect((await runOf('symlinked', join(root, 'real.csv'))).run.status).toBe('succeeded');
  });

  it('refuses cloud metadata, loopback and private addresses, by address or by name', async () => {
    for (const location of [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'https://169.254.169.254/latest/meta-data/',
      `https://${internalUrl}/x.csv`,
      `https://[::ffff:127.0.0.1]:${internalUrl.split(':')[1]}/x.csv`,
      `https://[::1]:${internalUrl.split(':')[1]}/x.csv`,
      'https://10.0.0.5/feed.csv',
      // A name is checked for every address it resolves to, when the connection is made.
      `https://localhost:${internalUrl.split(':')[1]}/x.csv`,
      `http://${internalUrl}/x.csv`,
      'file:///etc/passwd',
    ]) {
      const { run } = await runOf('ssrf', location);
      expect(run.status, location).toBe('failed');
      expect(run.error, location).toMatch(
        /public addresses only|not in ETL_HTTP_ALLOW_HOSTS|unsupported location/,
      );
    }
    expect(internalHits).toHaveLength(0);
  });

  it('checks every redirect of an allowed feed server, and caps the size', async () => {
    vi.stubEnv('ETL_HTTP_ALLOW_HOSTS', feedsBase);
    expect((await runOf('allowed', `http://${feedsBase}/feed.csv`)).run.status).toBe('succeeded');
    for (const path of ['/to-internal', '/to-metadata']) {
      const { run } = await runOf('redirected', `http://${feedsBase}${path}`);
      expect(run.error, path).toMatch(/redirected to .* refused/);
    }
    expect(internalHits).toHaveLength(0);
    vi.stubEnv('ETL_MAX_BYTES', '4096');
    const { run } = await runOf('too-big', `http://${feedsBase}/big.csv`);
    expect(run.error).toMatch(/ETL_MAX_BYTES/);
    const [rows] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM listings l JOIN etl_sources s ON s.id = l.source_id WHERE s.name = 'too-big'`,
    );
    expect(rows?.n).toBe(0);
  });
});

describe('a feed credential never shows', () => {
  it('refuses a literal credential in a location, and a reference to a non-feed variable', async () => {
    for (const location of [
      'https://feeder:s3cret@feeds.example.com/a.csv',
      'https://feeds.example.com/a.csv?token=abc123',
      'https://feeds.example.com/a.csv?X-Amz-Signature=abc123',
      'https://feeds.example.com/a.csv?api_key=abc123',
      `https://feeds.example.com/a.csv?token=\${EDGE_ASSERTION_SECRET}`,
    ]) {
      const res = await put('literal', location);
      expect(res.status, location).toBe(400);
      const body = await res.text();
      expect(body, location).toMatch(/FEED_<NAME>|not a feed variable/);
      expect(body, location).not.toMatch(/s3cret|abc123/);
    }
  });

  it('reads the credential from the environment, and keeps it out of answers, runs and logs', async () => {
    vi.stubEnv('ETL_HTTP_ALLOW_HOSTS', feedsBase);
    vi.stubEnv('FEED_ATTACK_TOKEN', FEED_SECRET);
    const location = `http://${feedsBase}/feed.csv?token=\${FEED_ATTACK_TOKEN}`;
    const { run } = await runOf('with-token', location);
    expect(run.status).toBe('succeeded');
    expect(feedHits.at(-1)?.url).toBe(`/feed.csv?token=${FEED_SECRET}`);
    expect(run.location).toBe(location);
    const failed = await runOf(
      'with-token',
      `http://${feedsBase}/gone?token=\${FEED_ATTACK_TOKEN}`,
    );
    expect(failed.run.error).toMatch(/404/);
    const answers = [
      JSON.stringify(failed.run),
      await (await app.request('/v1/etl/sources/with-token')).text(),
      await (await app.request('/v1/etl/sources')).text(),
      await (await app.request('/v1/etl/runs?source=with-token')).text(),
    ];
    for (const text of [...answers, ...logLines]) expect(text).not.toContain(FEED_SECRET);
    const [stored] = await t.db.rows<{ text: string }>(
      sql`SELECT string_agg(coalesce(location, '') || coalesce(error, ''), ' ') AS text FROM etl_runs`,
    );
    expect(stored?.text).not.toContain(FEED_SECRET);
    const [audit] = await t.db.rows<{ text: string }>(
      sql`SELECT string_agg(details::text, ' ') AS text FROM audit_log`,
    );
    expect(audit?.text).not.toContain(FEED_SECRET);
  });

  it('hides a literal credential stored before the rule from etl:read analysts', async () => {
    await put('legacy', 'https://feeds.example.com/a.csv');
    await t.db.rows(
      sql`UPDATE etl_sources SET location = 'https://old:hunter2@feeds.example.com/a.csv?token=zzz9' WHERE name = 'legacy'`,
    );
    const analyst = throughEdge(
      createApp({
        db: t.db,
        logger: pino({ level: 'silent' }) as Logger,
        edgeAssertionSecret: TEST_EDGE_SECRET,
      }),
      TEST_EDGE_SECRET,
      { claims: { scope: 'etl:read' } },
    );
    const one = await analyst.request('/v1/etl/sources/legacy');
    expect(one.status).toBe(200);
    const text = await one.text();
    expect(text).not.toMatch(/hunter2|zzz9/);
    expect(JSON.parse(text).location).toBe('https://***:***@feeds.example.com/a.csv?token=***');
    expect(await (await analyst.request('/v1/etl/sources')).text()).not.toMatch(/hunter2|zzz9/);
  });
});
