import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { scenario } from '../test/scenario';
import { parseSettings, settingsOf } from './settings';

/** The test Worker's own vars (wrangler.toml's top level plus the test bindings), with changes. */
const vars = (changes: Record<string, unknown> = {}) => ({ ...env, ...changes });

function problemOf(changes: Record<string, unknown>) {
  const check = parseSettings(vars(changes));
  return check.ok ? undefined : check.problems;
}

describe('the settings schema', () => {
  it('accepts the vars of wrangler.toml as they are', () => {
    const check = parseSettings(vars());
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(check.settings.RATE_LIMIT_FAIL_MODE).toBe('open');
      expect(check.settings.ANONYMOUS_ACCESS).toBe(true);
    }
  });

  it('reads "closed", "false" and whole seconds exactly, and TOML booleans and integers too', () => {
    const check = parseSettings(
      vars({
        RATE_LIMIT_FAIL_MODE: 'closed',
        ANONYMOUS_ACCESS: false,
        API_KEY_CACHE_TTL: '0',
        DATA_VERSION_TTL: 5,
      }),
    );
    expect(check.ok && check.settings).toMatchObject({
      RATE_LIMIT_FAIL_MODE: 'closed',
      ANONYMOUS_ACCESS: false,
      API_KEY_CACHE_TTL: 0,
      DATA_VERSION_TTL: 5,
    });
    expect(parseSettings(vars({ ANONYMOUS_ACCESS: 'false' }))).toMatchObject({
      ok: true,
      settings: { ANONYMOUS_ACCESS: false },
    });
  });

  it('reads an unset optional var as its documented default, and names an unset required one', () => {
    const unset = (...names: string[]) =>
      Object.fromEntries(Object.entries(vars()).filter(([name]) => !names.includes(name)));
    const check = parseSettings(
      unset('ANONYMOUS_ACCESS', 'API_KEY_CACHE_TTL', 'DATA_VERSION_TTL', 'ORIGIN_POLICY'),
    );
    expect(check.ok && check.settings).toMatchObject({
      ANONYMOUS_ACCESS: true,
      API_KEY_CACHE_TTL: 60,
      DATA_VERSION_TTL: 15,
      ORIGIN_POLICY: { timeout_ms: 10_000, retries: 2 },
    });
    expect(parseSettings(unset('CACHE_RULES'))).toMatchObject({
      ok: false,
      problems: [{ variable: 'CACHE_RULES' }],
    });
  });

  it.each([
    ['RATE_LIMIT_FAIL_MODE', 'Closed'],
    ['RATE_LIMIT_FAIL_MODE', 'CLOSED'],
    ['RATE_LIMIT_FAIL_MODE', ' closed'],
    ['RATE_LIMIT_FAIL_MODE', ''],
    ['ANONYMOUS_ACCESS', 'False'],
    ['ANONYMOUS_ACCESS', 'no'],
    ['ANONYMOUS_ACCESS', '0'],
    ['ANONYMOUS_ACCESS', ''],
    ['API_KEY_CACHE_TTL', '60s'],
    ['API_KEY_CACHE_TTL', '86400'],
    ['API_KEY_CACHE_TTL', '-1'],
    ['DATA_VERSION_TTL', '1.5'],
    ['DATA_VERSION_TTL', '0'],
    ['ORIGIN_URL', 'origin.example.com'],
    ['RATE_LIMITS', '{not json'],
  ])('refuses %s=%j, naming the var and never falling back to a default', (name, value) => {
    const problems = problemOf({ [name]: value });
    expect(problems?.map((p) => p.variable)).toEqual([name]);
  });

  it('names every bad var at once, and the field inside a structured one', () => {
    const problems = problemOf({
      RATE_LIMIT_FAIL_MODE: 'Closed',
      ANONYMOUS_ACCESS: 'False',
      CACHE_RULES: [{ prefix: '/v1/auth', ttl: 60 }],
    });
    expect(problems?.map((p) => p.variable).sort()).toEqual([
      'ANONYMOUS_ACCESS',
      'CACHE_RULES',
      'RATE_LIMIT_FAIL_MODE',
    ]);
    expect(problems?.find((p) => p.variable === 'RATE_LIMIT_FAIL_MODE')?.problem).toBe(
      'must be "open" or "closed", exactly (lower case)',
    );
  });

  it('throws a ConfigError naming the var from settingsOf, for code without the gate', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(() => settingsOf(vars({ RATE_LIMIT_FAIL_MODE: 'Closed' }))).toThrow(
      /RATE_LIMIT_FAIL_MODE must be "open" or "closed"/,
    );
    vi.restoreAllMocks();
  });
});

describe('a Worker with an invalid setting', () => {
  it.each([
    ['RATE_LIMIT_FAIL_MODE', 'Closed'],
    ['ANONYMOUS_ACCESS', 'False'],
  ])(
    'answers every request with 503 problem+json naming %s=%s, and forwards nothing',
    async (name, value) => {
      const s = await scenario();
      const error = vi.spyOn(console, 'error').mockImplementation(() => {});
      for (const path of ['/v1/listings', '/status.json', '/openapi.json']) {
        const res = await s.fetch(path, undefined, { [name]: value });
        expect(res.status, path).toBe(503);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.headers.get('cache-control')).toBe('no-store');
        const body = (await res.json()) as Record<string, unknown>;
        expect(body).toMatchObject({ type: 'urn:estate-edge:problem:misconfigured', status: 503 });
        expect(String(body.detail)).toContain(name);
        // What it must be, not what it is.
        expect(String(body.detail)).not.toContain(value);
      }
      expect((await s.counts()).hits).toBe(0);
      expect(error.mock.calls.map((c) => String(c[0])).join('\n')).toContain(name);
      error.mockRestore();
    },
  );

  it('says so at /edge/health: 503 problem+json, the var named', async () => {
    const s = await scenario();
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await s.fetch(
      '/edge/health',
      { headers: { origin: 'https://attacker.example' } },
      {
        RATE_LIMIT_FAIL_MODE: 'Closed',
      },
    );
    vi.restoreAllMocks();

    expect(res.status).toBe(503);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({
      type: 'urn:estate-edge:problem:misconfigured',
      status: 503,
      problems: [
        { variable: 'RATE_LIMIT_FAIL_MODE', problem: expect.stringContaining('"closed"') },
      ],
    });
  });

  it('reports its settings at /edge/health when they are valid', async () => {
    const s = await scenario();
    const res = await s.fetch('/edge/health', undefined, { RATE_LIMIT_FAIL_MODE: 'closed' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', rate_limit_fail_mode: 'closed' });
  });
});
