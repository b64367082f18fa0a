import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../../test/support/edge-assertion.js';
import { declare, feedSource, fixture, HEADER } from '../../../test/support/etl.js';
import { createApp } from '../../app.js';
import { openDatabase } from '../../db/database.js';
import { createLogger } from '../../logger.js';

type Sample = { name: string; labels: Record<string, string>; value: number };

/**
 * The Prometheus text format, parsed strictly enough that a malformed line fails the test.
 * (prom-client writes NaN as "Nan"; Prometheus reads floats with Go's ParseFloat, which takes
 * any case.)
 */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (/^# HELP \S+ .*$/.test(line)) continue;
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1] as string] = m[2] as string;
    }
    samples.push({
      name: sample[1] as string,
      labels,
      value: /nan/i.test(sample[3] as string) ? Number.NaN : Number(sample[3]),
    });
  }
  return { samples, types };
}

let t: TestDatabase;
let app: ReturnType<typeof createApp>;

async function scrape(target = app) {
  const res = await target.request('/metrics');
  expect(res.status).toBe(200);
  return { res, ...parse(await res.text()) };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value ?? 0;
}

beforeAll(async () => {
  t = await createTestDatabase();
  const rows = Array.from(
    { length: 20 },
    (_, i) =>
      `M${i},A,${300_000 + i},3,${i} Elm St,2024-03-01,${i === 0 ? 0 : 47.6},${i === 0 ? 0 : -122.3}`,
  );
  await declare(t.db, feedSource('metered', fixture(`${HEADER}\n${rows.join('\n')}\n`)));
  app = throughEdge(
    createApp({ db: t.db, logger: createLogger('silent'), edgeAssertionSecret: TEST_EDGE_SECRET }),
  );
});

afterAll(async () => {
  await t?.drop();
});

describe('GET /metrics', () => {
  it('answers the Prometheus text format with process, database and HTTP series', async () => {
    await app.request('/health');
    const { res, samples, types } = await scrape();
    expect(res.headers.get('Content-Type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(types.get('http_requests_total')).toBe('counter');
    expect(types.get('http_request_duration_seconds')).toBe('histogram');
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('nodejs_heap_size_total_bytes')).toBe('gauge');
    expect(value(samples, 'db_up', {})).toBe(1);
    expect(value(samples, 'db_ping_seconds', {})).toBeGreaterThan(0);
    // This test's own pool has at least the connection that ran the query.
    const [own] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'estate-edge-origin'`,
    );
    const connections = samples
      .filter((s) => s.name === 'db_connections')
      .reduce((sum, s) => sum + s.value, 0);
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(connections).toBeLessThanOrEqual((own?.n ?? 0) + 1);
  });

  it('counts requests by route pattern and status, and times them', async () => {
    const before = (await scrape()).samples;
    const labels = { method: 'GET', route: '/health', status: '200' };
    for (let i = 0; i < 3; i += 1) await app.request('/health');
    await app.request('/v1/etl/runs/12345');
    const after = (await scrape()).samples;
    expect(
      value(after, 'http_requests_total', labels) - value(before, 'http_requests_total', labels),
    ).toBe(3);
    expect(
      value(after, 'http_request_duration_seconds_count', labels) -
        value(before, 'http_request_duration_seconds_count', labels),
    ).toBe(3);
    const inf = { ...labels, le: '+Inf' };
    expect(value(after, 'http_request_duration_seconds_bucket', inf)).toBe(
      value(after, 'http_request_duration_seconds_count', labels),
    );
    // The pattern, not the id in the path.
    expect(value(after, 'http_requests_total', { route: '/v1/etl/runs/:id', status: '404' })).toBe(
      1,
    );
    expect(after.some((s) => s.labels.route?.includes('12345'))).toBe(false);
  });

  it('keeps label cardinality bounded: 1000 distinct unknown paths and odd methods add no series each', async () => {
    const seriesCount = (samples: Sample[]) =>
      samples.filter((s) => s.name === 'http_requests_total').length;
    const before = seriesCount((await scrape()).samples);
    for (let i = 0; i < 1000; i += 1) await app.request(`/no/such/path/${i}?q=${i}`);
    for (const method of ['PROPFIND', 'BREW', 'X-EVIL']) await app.request('/health', { method });
    const { samples } = await scrape();
    // One series for every unmatched request, one for the odd methods, one for /metrics itself.
    expect(seriesCount(samples) - before).toBeLessThanOrEqual(3);
    expect(
      samples
        .filter((s) => s.name === 'http_requests_total' && s.labels.status === '404')
        .reduce((n, s) => n + s.value, 0),
    ).toBeGreaterThanOrEqual(1000);
    expect(samples.some((s) => s.labels.method === 'BREW')).toBe(false);
    expect(value(samples, 'http_requests_total', { method: 'OTHER' })).toBe(3);
  });

  it('counts ETL runs and rows by outcome when a run started through the API finishes', async () => {
    const res = await app.request('/v1/etl/runs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'metered' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: number };
    await expect
      .poll(
        async () =>
          value((await scrape()).samples, 'etl_runs_total', {
            source: 'metered',
            status: 'succeeded',
          }),
        { timeout: 20_000 },
      )
      .toBe(1);
    const { samples } = await scrape();
    const [run] = await t.db.rows<{
      rows_inserted: number;
      rows_rejected: number;
      finished: number;
    }>(
      sql`SELECT rows_inserted, rows_rejected, extract(epoch FROM finished_at)::float8 AS finished FROM etl_runs WHERE id = ${id}`,
    );
    expect(value(samples, 'etl_rows_total', { source: 'metered', outcome: 'inserted' })).toBe(
      run?.rows_inserted,
    );
    expect(value(samples, 'etl_rows_total', { source: 'metered', outcome: 'rejected' })).toBe(
      run?.rows_rejected,
    );
    expect(run?.rows_rejected).toBe(1);
    expect(value(samples, 'etl_run_duration_seconds_count', { source: 'metered' })).toBe(1);
    expect(value(samples, 'etl_last_success_timestamp_seconds', { source: 'metered' })).toBeCloseTo(
      run?.finished ?? 0,
      3,
    );
  });

  it('keeps each app in its own registry', async () => {
    const other = throughEdge(
      createApp({
        db: t.db,
        logger: createLogger('silent'),
        edgeAssertionSecret: TEST_EDGE_SECRET,
      }),
    );
    for (let i = 0; i < 5; i += 1) await other.request('/health');
    const mine = (await scrape()).samples;
    const theirs = (await scrape(other)).samples;
    expect(value(theirs, 'http_requests_total', { route: '/health', status: '200' })).toBe(5);
    expect(value(mine, 'http_requests_total', { route: '/health', status: '200' })).not.toBe(5);
  });

  it('still answers, with db_up 0, when the database is down', async () => {
    const db = await openDatabase({
      url: 'postgres://nobody@127.0.0.1:1/none',
      dataDir: '',
      poolMax: 1,
    });
    try {
      const { samples } = await scrape(
        throughEdge(
          createApp({ db, logger: createLogger('silent'), edgeAssertionSecret: TEST_EDGE_SECRET }),
        ),
      );
      expect(value(samples, 'db_up', {})).toBe(0);
      expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    } finally {
      await db.close();
    }
  });
});
