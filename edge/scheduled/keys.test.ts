import { describe, expect, it, vi } from 'vitest';
import { retireSigningKeysPath } from '../../contract/routes';
import { scenario } from '../test/scenario';
import { FIVE_MINUTES, MINUTE, runCron } from './testing';

const keysOnly = { CRON_JOBS: { [FIVE_MINUTES]: ['keys'] } };
const at = Date.parse('2026-05-01T07:05:00Z');

describe('the keys job (npm run keys -- retire-expired, scheduled)', () => {
  it("asks the origin to retire expired signing keys, as the edge, with the route's internal scope", async () => {
    const origin = await scenario({
      routes: { [`POST ${retireSigningKeysPath}`]: { status: 200, body: { retired: ['kid-1'] } } },
    });
    const log = vi.spyOn(console, 'log');

    await runCron({ ORIGIN_URL: origin.originUrl, ...keysOnly }, { at });

    const lines = log.mock.calls.map((c) => String(c[0]));
    log.mockRestore();
    const { requests } = await origin.counts();
    expect(requests.map((r) => [r.method, r.path, r.scope])).toEqual([
      ['POST', retireSigningKeysPath, 'signing-keys:retire'],
    ]);
    const line = lines.find((l) => l.includes('signing keys retired'));
    expect(line && JSON.parse(line)).toMatchObject({ job: 'keys', retired: ['kid-1'] });
  });

  it('logs an origin that refuses as an error (a deploy mistake), and does not throw', async () => {
    const origin = await scenario({
      routes: { [`POST ${retireSigningKeysPath}`]: { status: 404, body: {} } },
    });
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});

    await runCron({ ORIGIN_URL: origin.originUrl, ...keysOnly }, { at: at + 5 * MINUTE });

    const lines = error.mock.calls.map((c) => String(c[0]));
    error.mockRestore();
    expect(lines.some((l) => l.includes('signing keys not retired'))).toBe(true);
    expect(lines.some((l) => l.includes('scheduled job failed'))).toBe(false);
  });

  it('runs on the five-minute cron of every environment (wrangler.toml)', async () => {
    // The bindings are wrangler.toml's top level; test/deploy-worker.test.ts checks every env.
    const { env } = await import('cloudflare:workers');
    expect((env as { CRON_JOBS: Record<string, string[]> }).CRON_JOBS[FIVE_MINUTES]).toContain(
      'keys',
    );
  });
});
