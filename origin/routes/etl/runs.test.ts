import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../../test/support/edge-assertion.js';
import { declare, feedSource, fixture, HEADER } from '../../../test/support/etl.js';
import { createApp } from '../../app.js';
import { runSource } from '../../etl/run.js';
import type { Logger } from '../../logger.js';

type Problem = { type: string; title: string; status: number; detail: string; request_id?: string };
type Run = {
  id: number;
  source: string;
  status: string;
  trigger: string;
  location: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  rows: { read: number; inserted: number; updated: number; unchanged: number; rejected: number };
  timings: Record<string, number> | null;
  error: string | null;
  links: { self: string; rejects: string };
};

const ROWS = 600;
/** Every seventh row lies at (0, 0), outside the source's bounds: the ETL rejects it. */
const isBad = (i: number) => i % 7 === 3;
const badRows = Array.from({ length: ROWS }, (_, i) => i + 1).filter(isBad);

function feedLine(i: number): string {
  const [lat, lon] = isBad(i) ? [0, 0] : [47.5 + (i % 50) / 1000, -122.3 + (i % 40) / 1000];
  return `H${i},A,${400_000 + i * 10},${1 + (i % 5)},${i} Pine St,2024-02-${String(1 + (i % 28)).padStart(2, '0')},${lat},${lon}`;
}
const feedText = `${HEADER}\n${Array.from({ length: ROWS }, (_, k) => feedLine(k + 1)).join('\n')}\n`;

/**
 * A remote feed that sends its rows and then holds the response open until released: a run of
 * it stays `running` for exactly as long as a test needs, with no sleep and no race.
 */
function heldFeed() {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/csv' });
    res.write(feedText);
    void gate.then(() => res.end());
  });
  return { server, release: () => release() };
}

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
let feed: ReturnType<typeof heldFeed>;
let feedUrl: string;
const logLines: Record<string, unknown>[] = [];

async function json<T>(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: T; res: Response }> {
  const res = await app.request(path, init);
  return { status: res.status, body: (await res.json()) as T, res };
}

function post(body: unknown, raw = false): Promise<Response> {
  return Promise.resolve(
    app.request('/v1/etl/runs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: raw ? (body as string) : JSON.stringify(body),
    }),
  );
}

/** Poll a run until it leaves `running`, as a client would. */
async function waitForRun(id: number, timeoutMs = 30_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await json<Run>(`/v1/etl/runs/${id}`);
    if (body.status !== 'running') return body;
    if (Date.now() > deadline) throw new Error(`run ${id} still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  t = await createTestDatabase();
  feed = heldFeed();
  await new Promise<void>((resolve) => feed.server.listen(0, '127.0.0.1', resolve));
  feedUrl = `http://127.0.0.1:${(feed.server.address() as AddressInfo).port}/feed.csv`;
  // A feed server on loopback is an internal one: the operator names it (origin/etl/feed-policy.ts).
  vi.stubEnv('ETL_HTTP_ALLOW_HOSTS', '127.0.0.1');
  await declare(t.db, feedSource('held-feed', feedUrl));
  await declare(t.db, feedSource('missing-file', '/nonexistent/estate-edge/feed.csv'));
  await declare(t.db, feedSource('local-feed', fixture(feedText)));
  // Logs go to an array: the outcome of a background run must reach the log.
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink) as unknown as Logger;
  app = throughEdge(createApp({ db: t.db, logger, edgeAssertionSecret: TEST_EDGE_SECRET }));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  feed?.release();
  // Let background runs end before the database goes away.
  await t?.db.rows(sql`SELECT 1`);
  for (let i = 0; i < 100; i += 1) {
    const [row] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM etl_runs WHERE status = 'running'`,
    );
    if (row?.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => feed?.server.close(resolve));
  await t?.drop();
});

describe('POST /v1/etl/runs', () => {
  let runId: number;

  it('answers 202 with the run id and its Location while the run is still going', async () => {
    const res = await post({ source: 'held-feed' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      id: number;
      source: string;
      status: string;
      links: { self: string };
    };
    expect(body.source).toBe('held-feed');
    expect(body.status).toBe('running');
    expect(res.headers.get('Location')).toBe(`/v1/etl/runs/${body.id}`);
    expect(body.links.self).toBe(`/v1/etl/runs/${body.id}`);
    runId = body.id;
    // The feed has not ended: the run is recorded and running, the response did not wait for it.
    const [row] = await t.db.rows<{ status: string; trigger: string }>(
      sql`SELECT status, trigger FROM etl_runs WHERE id = ${runId}`,
    );
    expect(row).toEqual({ status: 'running', trigger: 'api' });
    const { body: polled } = await json<Run>(`/v1/etl/runs/${runId}`);
    expect(polled.status).toBe('running');
    expect(polled.finished_at).toBeNull();
  });

  it('refuses a second run of the same source while one runs with 409 problem+json', async () => {
    const res = await post({ source: 'held-feed' });
    expect(res.status).toBe(409);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    const problem = (await res.json()) as Problem;
    expect(problem.status).toBe(409);
    expect(problem.detail).toContain('held-feed');
    expect(problem.request_id).toBeTruthy();
    const [row] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id WHERE s.name = 'held-feed'`,
    );
    expect(row?.n).toBe(1);
  });

  it('can be polled until the run succeeds, with its counts, timings and trigger', async () => {
    feed.release();
    const run = await waitForRun(runId);
    expect(run.status).toBe('succeeded');
    expect(run.source).toBe('held-feed');
    expect(run.trigger).toBe('api');
    expect(run.location).toBe(feedUrl);
    expect(run.error).toBeNull();
    expect(run.rows).toEqual({
      read: ROWS,
      inserted: ROWS - badRows.length,
      updated: 0,
      unchanged: 0,
      rejected: badRows.length,
    });
    expect(run.timings?.total).toBeGreaterThanOrEqual(0);
    expect(run.duration_ms).toBe(
      Date.parse(run.finished_at as string) - Date.parse(run.started_at),
    );
    const [listings] = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM listings`);
    expect(listings?.n).toBe(ROWS - badRows.length);
  });

  it('logs the outcome of the background run', async () => {
    // Logged once the run's follow-up (the analytics refresh) is done too.
    await expect
      .poll(() => logLines.some((l) => l.msg === 'etl run finished' && l.runId === runId), {
        timeout: 30_000,
      })
      .toBe(true);
    const line = logLines.find((l) => l.msg === 'etl run finished' && l.runId === runId);
    expect(line).toMatchObject({
      source: 'held-feed',
      status: 'succeeded',
      rowsRejected: badRows.length,
    });
  });

  it('starts again once the previous run is over', async () => {
    const res = await post({ source: 'held-feed' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: number };
    const run = await waitForRun(id);
    expect(run.status).toBe('succeeded');
    // Same feed, same rows: nothing new, nothing changed.
    expect(run.rows.unchanged).toBe(ROWS - badRows.length);
  });

  it('records a run that fails (missing file) as failed, with the reason, and logs it', async () => {
    const res = await post({ source: 'missing-file' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: number };
    const run = await waitForRun(id);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('no such file');
    await expect
      .poll(() => logLines.some((l) => l.msg === 'etl run failed' && l.runId === id))
      .toBe(true);
  });

  it('answers 404 for a source nobody declared, and records no run', async () => {
    const before = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM etl_runs`);
    const res = await post({ source: 'no-such-source' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as Problem).detail).toContain('no-such-source');
    const after = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM etl_runs`);
    expect(after).toEqual(before);
  });

  it.each([
    ['a missing source', {}, 'source'],
    ['an unknown field', { source: 'held-feed', force: true }, 'force'],
    ['a number', { source: 42 }, 'source'],
    ['SQL', { source: "x'; DROP TABLE etl_runs; --" }, 'source'],
    ['capitals and unicode', { source: 'Kïng-County' }, 'source'],
    ['a 10 KB name', { source: 'a'.repeat(10_000) }, 'source'],
  ])('answers 400 naming the field for %s', async (_case, body, field) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    const problem = (await res.json()) as Problem;
    expect(problem.detail).toContain(field);
    expect(problem.detail.length).toBeLessThanOrEqual(600);
  });

  it('answers 400 for a body that is not JSON, and 415 for one sent without a JSON content type', async () => {
    const malformed = await post('{"source": ', true);
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('Content-Type')).toBe('application/problem+json');
    const plain = await app.request('/v1/etl/runs', { method: 'POST', body: 'source=held-feed' });
    // Not JSON by its own account: refused as an unsupported media type, same error shape.
    expect(plain.status).toBe(415);
    expect(plain.headers.get('Content-Type')).toBe('application/problem+json');
  });
});

describe('GET /v1/etl/runs', () => {
  beforeAll(async () => {
    // A few more runs of another source, started outside the API, so filters have work to do.
    for (let i = 0; i < 3; i += 1) await runSource(t.db, 'local-feed', { trigger: 'test' });
  });

  it('lists every run newest first', async () => {
    const { body } = await json<{ items: Run[]; next_before_id: number | null }>('/v1/etl/runs');
    const ids = await t.db.rows<{ id: number }>(
      sql`SELECT id FROM etl_runs ORDER BY started_at DESC, id DESC`,
    );
    expect(body.items.map((r) => r.id)).toEqual(ids.map((r) => r.id));
    expect(body.next_before_id).toBeNull();
  });

  it('filters by source and by a list of statuses', async () => {
    const bySource = await json<{ items: Run[] }>('/v1/etl/runs?source=local-feed');
    expect(bySource.body.items).toHaveLength(3);
    expect(
      bySource.body.items.every((r) => r.source === 'local-feed' && r.trigger === 'test'),
    ).toBe(true);

    const failed = await json<{ items: Run[] }>('/v1/etl/runs?status=failed,abandoned');
    expect(failed.body.items.map((r) => r.source)).toEqual(['missing-file']);

    const none = await json<{ items: Run[] }>('/v1/etl/runs?source=held-feed&status=failed');
    expect(none.body.items).toEqual([]);
  });

  it('pages with before_id with no duplicates and no gaps', async () => {
    const all = await t.db.rows<{ id: number }>(sql`SELECT id FROM etl_runs ORDER BY id DESC`);
    const seen: number[] = [];
    let next: number | null = null;
    let pages = 0;
    do {
      const query: string = next === null ? '' : `&before_id=${next}`;
      const { body } = await json<{ items: Run[]; next_before_id: number | null }>(
        `/v1/etl/runs?limit=2${query}`,
      );
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((r) => r.id));
      next = body.next_before_id;
      pages += 1;
    } while (next !== null && pages < 20);
    expect(seen).toEqual(all.map((r) => r.id));
    expect(pages).toBe(Math.ceil(all.length / 2));
  });

  it.each([
    ['limit=0', 'limit=0', 'limit'],
    ['limit=201', 'limit=201', 'limit'],
    ['limit=10000', 'limit=10000', 'limit'],
    ['limit=abc', 'limit=abc', 'limit'],
    ['limit=NaN', 'limit=NaN', 'limit'],
    ['status=bogus', 'status=bogus', 'status'],
    ['an empty status', 'status=', 'status'],
    ['before_id=-1', 'before_id=-1', 'before_id'],
    ['before_id=1e3', 'before_id=1e3', 'before_id'],
    ['before_id=99999999999', 'before_id=99999999999', 'before_id'],
    ['SQL in source', "source=x'%20OR%201=1--", 'source'],
    ['a 10 KB source', `source=${'a'.repeat(10_000)}`, 'source'],
    ['an unknown parameter', 'sort=id', 'sort'],
  ])('answers 400 naming the parameter for %s', async (_case, query, name) => {
    const res = await app.request(`/v1/etl/runs?${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(((await res.json()) as Problem).detail).toContain(name);
  });
});

describe('GET /v1/etl/runs/{id}', () => {
  it('answers the run as the database holds it, not to be cached', async () => {
    const [row] = await t.db.rows<{ id: number; rows_read: number; location: string }>(
      sql`SELECT id, rows_read, location FROM etl_runs ORDER BY id LIMIT 1`,
    );
    const { status, body, res } = await json<Run>(`/v1/etl/runs/${row?.id}`);
    expect(status).toBe(200);
    expect(body.rows.read).toBe(row?.rows_read);
    expect(body.location).toBe(row?.location);
    expect(body.links.rejects).toBe(`/v1/etl/runs/${row?.id}/rejects`);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });

  it('answers 404 for a run that does not exist', async () => {
    const res = await app.request('/v1/etl/runs/2147483647');
    expect(res.status).toBe(404);
    expect(((await res.json()) as Problem).detail).toContain('2147483647');
  });

  it.each(['abc', '-1', '0', '1.5', '99999999999', "1'%20OR%20'1'='1"])(
    'answers 400 naming the id for %s',
    async (id) => {
      const res = await app.request(`/v1/etl/runs/${id}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as Problem).detail).toContain("'id'");
    },
  );
});

describe('GET /v1/etl/runs/{id}/rejects', () => {
  async function firstRunId(): Promise<number> {
    const [row] = await t.db.rows<{ id: number }>(
      sql`SELECT r.id FROM etl_runs r JOIN etl_sources s ON s.id = r.source_id WHERE s.name = 'held-feed' ORDER BY r.id LIMIT 1`,
    );
    return row?.id as number;
  }

  it('pages through every rejected row in file order, with its reason and raw text', async () => {
    const id = await firstRunId();
    const seen: { row_number: number; reason: string; raw: string }[] = [];
    let after: number | null = null;
    let pages = 0;
    do {
      const query: string = after === null ? '' : `&after_row=${after}`;
      const { body } = await json<{ items: typeof seen; next_after_row: number | null }>(
        `/v1/etl/runs/${id}/rejects?limit=25${query}`,
      );
      seen.push(...body.items);
      after = body.next_after_row;
      pages += 1;
    } while (after !== null && pages < 100);
    expect(seen.map((r) => r.row_number)).toEqual(badRows);
    expect(pages).toBe(Math.ceil(badRows.length / 25));
    for (const reject of seen) {
      expect(reject.reason).toContain('outside');
      expect(reject.raw).toContain(`H${reject.row_number}`);
    }
  });

  it('answers an empty page for a run with no rejects, and 404 for a run that does not exist', async () => {
    const [clean] = await t.db.rows<{ id: number }>(
      sql`SELECT id FROM etl_runs WHERE rows_rejected = 0 ORDER BY id LIMIT 1`,
    );
    const { body } = await json<{ items: unknown[]; next_after_row: number | null }>(
      `/v1/etl/runs/${clean?.id}/rejects`,
    );
    expect(body).toEqual({ items: [], next_after_row: null });
    expect((await app.request('/v1/etl/runs/2147483647/rejects')).status).toBe(404);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['after_row=-5', 'after_row'],
    ['after_row=abc', 'after_row'],
    ['after_row=1;DROP', 'after_row'],
    ['cursor=x', 'cursor'],
  ])('answers 400 naming the parameter for %s', async (query, name) => {
    const id = await firstRunId();
    const res = await app.request(`/v1/etl/runs/${id}/rejects?${query}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Problem).detail).toContain(name);
  });
});
