import { z } from 'zod';

/**
 * A whole number from its text. z.coerce.number() reads '' (an empty `PORT=` in a compose file)
 * as 0, which would silently listen on a random port or exit without draining: refuse it instead.
 */
const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\s*\d+\s*$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/**
 * A security switch: exactly `true` or `false`. z.stringbool() would also take `yes`, `1`,
 * `False`...; a setting that decides who gets in is spelled one way, and anything else stops the
 * process naming the variable.
 */
const strictBool = (fallback: boolean) =>
  z
    .enum(['true', 'false'], { error: 'must be exactly true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true');

/** A comma-separated list, each entry checked by `entry`; blank entries are refused, not skipped. */
const commaList = (entry: z.ZodString) =>
  z
    .string()
    .transform((s) => s.split(',').map((e) => e.trim()))
    .pipe(z.array(entry).min(1));

/** Parsed once at the door; anything invalid stops the process with the variable's name. */
const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** A PostGIS server. Unset: the embedded PGlite default under DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** Where the embedded database keeps its files. */
  DATA_DIR: z.string().min(1).default('.data/pglite'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: wholeNumber(0, 65535).default(3000),
  /**
   * Vector tiles at this zoom and below carry aggregated cells (count, median price) instead of
   * points (origin/routes/tiles/tile.ts); above it, points, or cells where a tile holds more
   * listings than a tile can carry. 0..22.
   */
  TILE_CLUSTER_MAX_ZOOM: wholeNumber(0, 22).default(10),
  /**
   * A second listener serving only GET /metrics, for Prometheus on the private network
   * (origin/http/metrics-listener.ts): never routed by the tunnel, and it asks for
   * `Authorization: Bearer $METRICS_TOKEN`. Unset: no such listener (GET /metrics on PORT still
   * answers the edge's ops:read callers).
   */
  METRICS_PORT: wholeNumber(1, 65535).optional(),
  /** Required with METRICS_PORT: at least 32 characters (e.g. `openssl rand -hex 32`). */
  METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Apply pending migrations on start (the compose stack runs them in a one-shot service). */
  MIGRATE_ON_START: z.stringbool().default(true),
  /** Load the bundled King County sample when the listings table is empty. */
  SEED_ON_START: z.stringbool().default(true),
  /** Size of the postgres connection pool. */
  DATABASE_POOL_MAX: wholeNumber(1, 100).default(10),
  /**
   * Signs pagination cursors (HMAC), so a tampered cursor is refused. Unset: a random secret per
   * process, and cursors stop working across a restart or between replicas.
   */
  CURSOR_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * The cursor secret being rotated out: cursors it signed are still accepted beside
   * CURSOR_SECRET's, new ones are signed with CURSOR_SECRET only (docs/operations.md).
   */
  CURSOR_SECRET_PREVIOUS: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * Shared with the Worker; verifies X-Edge-Assertion so the origin serves only requests that
   * came through the edge (docs/edge-auth.md). Required: without it the origin refuses to start,
   * unless INSECURE_NO_EDGE_ASSERTION=true says, for development, that there is no edge.
   */
  EDGE_ASSERTION_SECRET: z
    .string()
    .refine((s) => Buffer.byteLength(s) >= 32, 'must be at least 32 bytes')
    .optional(),
  /** The secret being rotated out, accepted beside EDGE_ASSERTION_SECRET (docs/operations.md). */
  EDGE_ASSERTION_SECRET_PREVIOUS: z
    .string()
    .refine((s) => Buffer.byteLength(s) >= 32, 'must be at least 32 bytes')
    .optional(),
  /**
   * `true`: serve requests that did not come through the edge (callers authenticated here by
   * bearer token; the route table still enforced). For an origin on a developer's machine with
   * no Worker in front; refused in production. Exactly `true` or `false`.
   */
  INSECURE_NO_EDGE_ASSERTION: strictBool(false),
  /**
   * Cloudflare Access in front of the tunnel (tunnel/README.md): with both set, the origin also
   * requires a valid `Cf-Access-Jwt-Assertion` from this team for this application.
   */
  CF_ACCESS_TEAM_DOMAIN: z
    .string()
    .regex(/^[a-z0-9-]+\.cloudflareaccess\.com$/i, 'must look like <team>.cloudflareaccess.com')
    .optional(),
  CF_ACCESS_AUD: z.string().min(16, 'must be the application AUD tag').optional(),
  /** The JSON file the backup job writes `{ finished_at, ok, size_bytes }` to (readiness reads it). */
  BACKUP_STATUS_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** SIGTERM budget: how long in-flight requests may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: wholeNumber(0).default(10_000),
  // --- identity (origin/auth/config.ts, docs/identity.md)
  /** `iss` and `aud` of access tokens; the edge verifies the same values. */
  TOKEN_ISSUER: z.string().min(1).default('estate-edge-origin'),
  TOKEN_AUDIENCE: z.string().min(1).default('estate-edge-api'),
  ACCESS_TOKEN_TTL_MINUTES: wholeNumber(1, 60).default(10),
  REFRESH_TOKEN_TTL_DAYS: wholeNumber(1, 365).default(30),
  /** Encrypts signing keys at rest (AES-256-GCM). Unset: stored unencrypted (dev only). */
  SIGNING_KEY_ENCRYPTION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * The encryption secret being rotated out: signing keys stored with it still open, until
   * `npm run keys -- reencrypt` has sealed them all with SIGNING_KEY_ENCRYPTION_SECRET.
   */
  SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS: z
    .string()
    .min(32, 'must be at least 32 characters')
    .optional(),
  LOGIN_FAILURES_PER_ACCOUNT: wholeNumber(1).default(10),
  LOGIN_FAILURES_PER_IP: wholeNumber(1).default(50),
  LOGIN_FAILURE_WINDOW_SECONDS: wholeNumber(1, 86_400).default(900),
  /** Whether callers without credentials get the read scopes (enforced at the edge). */
  ANONYMOUS_ACCESS: strictBool(true),
  // --- feeds (origin/etl/feed-policy.ts, docs/etl.md)
  /**
   * Directories a source's file location must lie under (real paths: `..` and symlinks resolved
   * first). Unset: origin/etl/samples, and outside production the OS temp directory too.
   */
  ETL_FILE_ROOTS: commaList(z.string().min(1, 'a feed root cannot be empty')).optional(),
  /**
   * Hosts (`host` or `host:port`) feeds may be fetched from over plain http and at private or
   * loopback addresses: internal feed servers. Everything else is https to a public address.
   */
  ETL_HTTP_ALLOW_HOSTS: commaList(
    z
      .string()
      .regex(
        /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i,
        'each entry is a host or host:port, without a scheme',
      ),
  ).optional(),
  /** The largest feed read, file or download, in bytes (default 1 GiB). */
  ETL_MAX_BYTES: wholeNumber(1).default(1024 ** 3),
});

export type OriginEnv = z.infer<typeof EnvSchema>;

/** Rules across variables, checked after each one parsed. */
function crossCheck(env: OriginEnv): string[] {
  const problems: string[] = [];
  if (env.NODE_ENV === 'production' && !env.DATABASE_URL) {
    problems.push(
      'DATABASE_URL: required in production (the embedded database is for development on one machine)',
    );
  }
  if (env.NODE_ENV === 'production' && env.INSECURE_NO_EDGE_ASSERTION) {
    problems.push(
      'INSECURE_NO_EDGE_ASSERTION: not allowed in production (the origin must refuse anything that did not come through the edge)',
    );
  }
  if (env.METRICS_PORT !== undefined && !env.METRICS_TOKEN)
    problems.push(
      'METRICS_TOKEN: required with METRICS_PORT (the metrics listener never serves without one)',
    );
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT)
    problems.push('METRICS_PORT: must differ from PORT');
  // A previous secret alone would be the only one: the rotation is half done, or the names swapped.
  const pairs = [
    ['EDGE_ASSERTION_SECRET', env.EDGE_ASSERTION_SECRET, env.EDGE_ASSERTION_SECRET_PREVIOUS],
    ['CURSOR_SECRET', env.CURSOR_SECRET, env.CURSOR_SECRET_PREVIOUS],
    [
      'SIGNING_KEY_ENCRYPTION_SECRET',
      env.SIGNING_KEY_ENCRYPTION_SECRET,
      env.SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS,
    ],
  ] as const;
  for (const [name, current, previous] of pairs) {
    if (previous && !current) problems.push(`${name}_PREVIOUS: set only beside ${name}`);
    if (previous && previous === current)
      problems.push(`${name}_PREVIOUS: the same as ${name}; a rotation needs a new ${name}`);
  }
  return problems;
}

export class EnvError extends Error {
  readonly code = 'ENV_INVALID';
}

/**
 * Optional settings that a compose file passes as `NAME=${NAME}`: empty when the operator left
 * them out of .env, which means "not set", not "set to nothing". Numbers and booleans are not
 * here on purpose: an empty `PORT=` is refused (see wholeNumber) rather than guessed.
 */
const blankMeansUnset = [
  'CF_ACCESS_TEAM_DOMAIN',
  'CF_ACCESS_AUD',
  'BACKUP_STATUS_FILE',
  'CURSOR_SECRET',
  'CURSOR_SECRET_PREVIOUS',
  'METRICS_PORT',
  'METRICS_TOKEN',
  'SIGNING_KEY_ENCRYPTION_SECRET',
  'SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS',
  'EDGE_ASSERTION_SECRET_PREVIOUS',
  'ETL_FILE_ROOTS',
  'ETL_HTTP_ALLOW_HOSTS',
] as const;

/**
 * The server's rule on top of parseEnv (the CLIs serve no requests and need no edge): the origin
 * trusts nothing by default, so without EDGE_ASSERTION_SECRET it does not start, unless
 * INSECURE_NO_EDGE_ASSERTION=true says there is no edge (development).
 *
 * @example
 *   const env = parseServerEnv(); // origin/index.ts
 */
export function parseServerEnv(
  source: Record<string, string | undefined> = process.env,
): OriginEnv {
  const env = parseEnv(source);
  if (!env.EDGE_ASSERTION_SECRET && !env.INSECURE_NO_EDGE_ASSERTION)
    throw new EnvError(
      'invalid environment: EDGE_ASSERTION_SECRET: required (the origin must refuse anything that did not come through the edge); for an origin without an edge in development, set INSECURE_NO_EDGE_ASSERTION=true instead',
    );
  return env;
}

/** Parse `process.env`-like input. Throws an EnvError naming every bad variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): OriginEnv {
  const cleaned = { ...source };
  for (const name of blankMeansUnset) if (cleaned[name]?.trim() === '') delete cleaned[name];
  const result = EnvSchema.safeParse(cleaned);
  if (result.success) {
    const crossProblems = crossCheck(result.data);
    if (crossProblems.length === 0) return result.data;
    throw new EnvError(`invalid environment: ${crossProblems.join('; ')}`);
  }
  const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  throw new EnvError(`invalid environment: ${problems.join('; ')}`);
}
