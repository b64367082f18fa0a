import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv, parseServerEnv } from './env.js';

/** The EnvError parseEnv throws for this input. */
function envErrorOf(source: Record<string, string | undefined>): EnvError {
  try {
    parseEnv(source);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvError);
    return error as EnvError;
  }
  throw new Error('expected an EnvError, but parseEnv returned');
}

describe('parseEnv', () => {
  it('fills every default from an empty environment', () => {
    expect(parseEnv({})).toEqual({
      NODE_ENV: 'development',
      DATA_DIR: '.data/pglite',
      HOST: '127.0.0.1',
      PORT: 3000,
      MIGRATE_ON_START: true,
      SEED_ON_START: true,
      DATABASE_POOL_MAX: 10,
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: 10_000,
      TILE_CLUSTER_MAX_ZOOM: 10,
      TOKEN_ISSUER: 'estate-edge-origin',
      TOKEN_AUDIENCE: 'estate-edge-api',
      ACCESS_TOKEN_TTL_MINUTES: 10,
      REFRESH_TOKEN_TTL_DAYS: 30,
      LOGIN_FAILURES_PER_ACCOUNT: 10,
      LOGIN_FAILURES_PER_IP: 50,
      LOGIN_FAILURE_WINDOW_SECONDS: 900,
      ANONYMOUS_ACCESS: true,
      INSECURE_NO_EDGE_ASSERTION: false,
      ETL_MAX_BYTES: 1024 ** 3,
    });
  });

  it('refuses to serve without EDGE_ASSERTION_SECRET, in any environment, unless told there is no edge', () => {
    // Issue 13, finding 3: outside production the origin started without it and trusted anyone.
    for (const NODE_ENV of ['production', 'development', 'test'])
      expect(() =>
        parseServerEnv({ NODE_ENV, DATABASE_URL: 'postgres://app@db:5432/estate' }),
      ).toThrow(/EDGE_ASSERTION_SECRET: required .*INSECURE_NO_EDGE_ASSERTION=true/);
    expect(parseServerEnv({ INSECURE_NO_EDGE_ASSERTION: 'true' }).EDGE_ASSERTION_SECRET).toBe(
      undefined,
    );
    expect(() => parseEnv({ NODE_ENV: 'production', INSECURE_NO_EDGE_ASSERTION: 'true' })).toThrow(
      /INSECURE_NO_EDGE_ASSERTION: not allowed in production/,
    );
    for (const typo of ['True', 'yes', '1', ' true'])
      expect(() => parseEnv({ INSECURE_NO_EDGE_ASSERTION: typo }), typo).toThrow(
        /INSECURE_NO_EDGE_ASSERTION: must be exactly true or false/,
      );
    for (const typo of ['False', 'no', '0'])
      expect(() => parseEnv({ ANONYMOUS_ACCESS: typo }), typo).toThrow(/ANONYMOUS_ACCESS/);
    expect(() => parseEnv({ NODE_ENV: 'production', EDGE_ASSERTION_SECRET: 'short' })).toThrow(
      /EDGE_ASSERTION_SECRET: must be at least 32 bytes/,
    );
    expect(parseEnv({ NODE_ENV: 'development' }).EDGE_ASSERTION_SECRET).toBeUndefined();
  });

  it('refuses production without DATABASE_URL: the embedded database is for development', () => {
    expect(() =>
      parseEnv({ NODE_ENV: 'production', EDGE_ASSERTION_SECRET: 'x'.repeat(32) }),
    ).toThrow(/DATABASE_URL: required in production/);
  });

  it('reads an empty optional setting, as compose passes it, as not set', () => {
    const env = parseEnv({ CF_ACCESS_TEAM_DOMAIN: '', CF_ACCESS_AUD: ' ', BACKUP_STATUS_FILE: '' });
    expect(env.CF_ACCESS_TEAM_DOMAIN).toBeUndefined();
    expect(env.CF_ACCESS_AUD).toBeUndefined();
    expect(env.BACKUP_STATUS_FILE).toBeUndefined();
    // An empty number is still refused: guessing 0 for PORT would listen on a random port.
    expect(() => parseEnv({ PORT: '' })).toThrow(/PORT/);
  });

  it('leaves DATABASE_URL unset when it is not given, so the embedded database is used', () => {
    expect(parseEnv({}).DATABASE_URL).toBeUndefined();
  });

  it('reads numbers and booleans from their text', () => {
    const env = parseEnv({
      PORT: '8080',
      DATABASE_POOL_MAX: '25',
      MIGRATE_ON_START: 'false',
      SEED_ON_START: '0',
      SHUTDOWN_TIMEOUT_MS: '2500',
      LOG_LEVEL: 'silent',
      NODE_ENV: 'production',
      EDGE_ASSERTION_SECRET: 'x'.repeat(32),
      DATABASE_URL: 'postgres://estate_app@db:5432/estate',
    });
    expect(env.PORT).toBe(8080);
    expect(env.DATABASE_POOL_MAX).toBe(25);
    expect(env.MIGRATE_ON_START).toBe(false);
    expect(env.SEED_ON_START).toBe(false);
    expect(env.SHUTDOWN_TIMEOUT_MS).toBe(2500);
    expect(env.LOG_LEVEL).toBe('silent');
    expect(env.NODE_ENV).toBe('production');
  });

  it('reads MIGRATE_ON_START=true as true', () => {
    expect(parseEnv({ MIGRATE_ON_START: 'true' }).MIGRATE_ON_START).toBe(true);
  });

  it.each(['postgres://user:pw@db:5432/estate', 'postgresql://db/estate'])(
    'accepts the database URL %s',
    (url) => {
      expect(parseEnv({ DATABASE_URL: url }).DATABASE_URL).toBe(url);
    },
  );

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', ''],
    ['PORT', '1e3'],
    ['SHUTDOWN_TIMEOUT_MS', ''],
    ['DATABASE_POOL_MAX', ' '],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://db/estate'],
    ['DATABASE_URL', 'http://db/estate'],
    ['MIGRATE_ON_START', 'perhaps'],
    ['DATABASE_POOL_MAX', '0'],
    ['LOG_LEVEL', 'verbose'],
    ['NODE_ENV', 'staging'],
  ])('refuses %s=%j with an EnvError naming the variable', (name, value) => {
    const error = envErrorOf({ [name]: value });
    expect(error.code).toBe('ENV_INVALID');
    expect(error.message).toMatch(new RegExp(`^invalid environment: ${name}: `));
  });

  it('refuses an empty PORT rather than reading it as 0, a random port', () => {
    expect(envErrorOf({ PORT: '' }).message).toBe(
      'invalid environment: PORT: must be a whole number',
    );
  });

  it('names every bad variable at once, not only the first', () => {
    const error = envErrorOf({ PORT: 'eighty', DATABASE_URL: 'nope', LOG_LEVEL: 'loud' });
    expect(error.message).toContain('PORT: ');
    expect(error.message).toContain('DATABASE_URL: ');
    expect(error.message).toContain('LOG_LEVEL: ');
  });

  it('takes a previous secret for each rotatable secret, only beside a different current one', () => {
    const current = 'c'.repeat(32);
    const previous = 'p'.repeat(32);
    const env = parseEnv({
      CURSOR_SECRET: current,
      CURSOR_SECRET_PREVIOUS: previous,
      SIGNING_KEY_ENCRYPTION_SECRET: current,
      SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: previous,
    });
    expect(env.CURSOR_SECRET_PREVIOUS).toBe(previous);
    expect(env.SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS).toBe(previous);
    // Blank, as compose passes an unset one: not set.
    expect(
      parseEnv({ CURSOR_SECRET_PREVIOUS: '', SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: ' ' }),
    ).not.toHaveProperty('CURSOR_SECRET_PREVIOUS');
    for (const name of [
      'CURSOR_SECRET',
      'SIGNING_KEY_ENCRYPTION_SECRET',
      'EDGE_ASSERTION_SECRET',
    ]) {
      expect(envErrorOf({ [`${name}_PREVIOUS`]: previous }).message).toContain(
        `${name}_PREVIOUS: set only beside ${name}`,
      );
      expect(envErrorOf({ [name]: current, [`${name}_PREVIOUS`]: current }).message).toContain(
        `${name}_PREVIOUS: the same as ${name}`,
      );
      expect(envErrorOf({ [name]: current, [`${name}_PREVIOUS`]: 'short' }).message).toContain(
        `${name}_PREVIOUS: `,
      );
    }
  });

  it('ignores variables it does not know', () => {
    expect(parseEnv({ PATH: '/usr/bin', HOME: '/root' })).not.toHaveProperty('PATH');
  });
});
