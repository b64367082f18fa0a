import { describe, expect, inject, it } from 'vitest';
import { historyKeys } from '../scheduled/health/history';
import {
  FIVE_MINUTES,
  MINUTE,
  monitoringVars,
  readiness,
  readyRoute,
  runCron,
  testRedis,
} from '../scheduled/testing';
import { scenario } from '../test/scenario';
import { statusStyles } from './page';
import type { StatusSummary } from './summary';

const healthOnly = { CRON_JOBS: { [FIVE_MINUTES]: ['health'] } };
const HOUR = 60 * MINUTE;

/** Writes samples (newest first) and incidents as the health job stores them. */
async function seed(prefix: string, samples: object[], incidents: object[] = []) {
  const redis = testRedis();
  if (samples.length)
    await redis.rpush(`${prefix}:${historyKeys.samples}`, ...samples.map((s) => JSON.stringify(s)));
  if (incidents.length)
    await redis.rpush(
      `${prefix}:${historyKeys.incidents}`,
      ...incidents.map((i) => JSON.stringify(i)),
    );
}

async function statusJson(vars: Record<string, unknown>, originUrl?: string) {
  const s = await scenario();
  return s.fetch('/status.json', {}, { ...vars, ...(originUrl ? { ORIGIN_URL: originUrl } : {}) });
}

describe('GET /status.json', () => {
  it('reflects the history recorded by the health check: states, uptime and incidents', async () => {
    const origin = await scenario({ routes: readyRoute(readiness()) });
    const { vars } = monitoringVars({}, { ORIGIN_URL: origin.originUrl, ...healthOnly });
    const start = Math.floor(Date.now() / MINUTE) * MINUTE - 30 * MINUTE;
    const tick = (n: number) => runCron(vars, { at: start + n * 5 * MINUTE });

    await tick(0);
    await origin.set({ destroy: true });
    await tick(1);
    await tick(2);
    await origin.set({ routes: readyRoute(readiness()) });
    await tick(3);

    const res = await origin.fetch('/status.json', {}, vars);
    expect(res.status).toBe(200);
    const body = (await res.json()) as StatusSummary;
    expect(body.status).toBe('operational');
    expect(body.checked_at).toBe(new Date(start + 15 * MINUTE).toISOString());
    expect(body.uptime).toEqual({ last_24h: 50, last_7d: 50 });
    expect(body.checks.find((c) => c.name === 'origin')).toMatchObject({
      state: 'up',
      up_24h: 50,
    });
    // Unknown while the origin was down: the database's share counts only the checks that knew.
    expect(body.checks.find((c) => c.name === 'database')?.up_24h).toBe(100);
    expect(body.incidents).toEqual([
      expect.objectContaining({ check: 'origin', from: 'down', to: 'up' }),
      expect.objectContaining({ check: 'origin', from: 'up', to: 'down' }),
    ]);
  });

  it('computes uptime over 24 h and 7 days, and the p95 latency, from the stored samples', async () => {
    const { prefix, vars } = monitoringVars();
    const now = Date.now();
    const up = (hoursAgo: number, ms: number) => ({
      at: now - hoursAgo * HOUR,
      http: 200,
      ms,
      c: 'uuuuuuu',
    });
    const down = (hoursAgo: number) => ({
      at: now - hoursAgo * HOUR,
      http: null,
      ms: null,
      c: 'x??????',
    });
    const dbDown = (hoursAgo: number) => ({
      at: now - hoursAgo * HOUR,
      http: 503,
      ms: 40,
      c: 'ux??uuu',
    });
    await seed(prefix, [
      { ...up(1, 20), c: 'uuuuudu' },
      up(2, 30),
      down(3),
      dbDown(4),
      ...Array.from({ length: 16 }, (_, i) => up(5 + i, 10)),
      ...Array.from({ length: 4 }, (_, i) => down(30 + i)),
      down(24 * 8),
    ]);

    const body = (await (await statusJson(vars)).json()) as StatusSummary;

    expect(body.status).toBe('degraded');
    expect(body.uptime.last_24h).toBe(90); // 18 of 20
    expect(body.uptime.last_7d).toBe(75); // 18 of 24; the 8-day-old sample is out
    expect(body.latency_p95_ms_24h).toBe(40);
    expect(body.checks.find((c) => c.name === 'disk')?.state).toBe('degraded');
  });

  it('answers from Redis alone when the origin is down', async () => {
    const { prefix, vars } = monitoringVars();
    await seed(prefix, [{ at: Date.now() - MINUTE, http: null, ms: null, c: 'x??????' }]);

    const res = await statusJson(vars, inject('closedOriginUrl'));

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'outage', stale: false });
  });

  it('says the monitor is stale when no check was recorded for three periods', async () => {
    const { prefix, vars } = monitoringVars();
    await seed(prefix, [{ at: Date.now() - 20 * MINUTE, http: 200, ms: 5, c: 'uuuuuuu' }]);

    const body = (await (await statusJson(vars)).json()) as StatusSummary;

    expect(body.stale).toBe(true);
  });

  it('is short-lived in caches, public, and exposes no detail, URL or secret', async () => {
    const { prefix, vars } = monitoringVars({ status_cache_seconds: 30 });
    await seed(
      prefix,
      [{ at: Date.now() - MINUTE, http: 503, ms: 12, c: 'ux??uuu' }],
      [{ at: Date.now() - MINUTE, check: 'database', from: 'up', to: 'down' }],
    );
    const origin = await scenario();

    const res = await origin.fetch('/status.json', {}, { ...vars, ANONYMOUS_ACCESS: 'false' });
    const text = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=30');
    expect(text).not.toContain(origin.originUrl);
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain(inject('quotaStoreToken'));
    expect(text).not.toContain(prefix);
    expect((await origin.counts()).hits).toBe(0);
  });

  it('answers 503 problem+json when no Redis is configured', async () => {
    const res = await statusJson({});

    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toMatchObject({
      type: 'urn:estate-edge:problem:status-unavailable',
      status: 503,
      detail: expect.stringContaining('not configured'),
    });
  });

  it('answers 503 with Retry-After when Redis does not answer', async () => {
    const { vars } = monitoringVars({}, { UPSTASH_REDIS_REST_URL: inject('deadQuotaStoreUrl') });

    const res = await statusJson(vars);

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(await res.json()).toMatchObject({ detail: expect.stringContaining('cannot be read') });
  });

  it('skips corrupt entries in the history instead of failing', async () => {
    const { prefix, vars } = monitoringVars();
    const redis = testRedis();
    await redis.rpush(
      `${prefix}:${historyKeys.samples}`,
      JSON.stringify({ at: Date.now() - MINUTE, http: 200, ms: 5, c: 'uuuuuuu' }),
      'not json at all',
      JSON.stringify({ at: 'yesterday', c: 42 }),
      JSON.stringify({ at: Date.now() - 2 * MINUTE, http: 200, ms: 5, c: '<script>' }),
    );

    const res = await statusJson(vars);

    expect(res.status).toBe(200);
    expect(((await res.json()) as StatusSummary).uptime.last_24h).toBe(100);
  });
});

describe('GET /status', () => {
  async function sha256(text: string) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    return btoa(String.fromCharCode(...new Uint8Array(digest)));
  }

  it('is a small HTML page with a strict CSP allowing its own style only, and no script', async () => {
    const { prefix, vars } = monitoringVars({ status_cache_seconds: 30 });
    const at = Date.now() - MINUTE;
    await seed(
      prefix,
      [{ at, http: 200, ms: 8, c: 'uuuuuuu' }],
      [{ at, check: 'origin', from: 'down', to: 'up' }],
    );
    const origin = await scenario();

    const res = await origin.fetch('/status', {}, vars);
    const page = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=30');
    expect(res.headers.get('content-security-policy')).toBe(
      `default-src 'none'; style-src 'sha256-${await sha256(statusStyles)}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect(page).toContain(`<style>${statusStyles}</style>`);
    expect(page).toContain('All systems operational');
    expect(page).toContain('API (origin)');
    expect(page).toMatch(/Down → <span class="state s-up">Up<\/span>/);
    expect(page).not.toMatch(/<script|src=|href=/i);
  });

  it('says plainly that history is unavailable without Redis', async () => {
    const origin = await scenario();

    const res = await origin.fetch('/status', {}, {});
    const page = await res.text();

    expect(res.status).toBe(503);
    expect(page).toContain('Status history is unavailable');
    expect(page).toContain('not configured');
  });

  it('needs no credentials even where anonymous access is off', async () => {
    const { prefix, vars } = monitoringVars();
    await seed(prefix, [{ at: Date.now(), http: 200, ms: 8, c: 'uuuuuuu' }]);
    const origin = await scenario();

    const res = await origin.fetch('/status', {}, { ...vars, ANONYMOUS_ACCESS: 'false' });

    expect(res.status).toBe(200);
    await res.body?.cancel();
  });
});
