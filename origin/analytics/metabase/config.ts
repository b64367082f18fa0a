import { z } from 'zod';
import type { ProvisionConfig } from './provision.js';

/** The connection's name in Metabase: re-runs find it by this name. */
export const ANALYTICS_CONNECTION_NAME = 'estate-edge analytics';

const port = z
  .string()
  .regex(/^\s*\d+\s*$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1).max(65535));

/**
 * The setup script's environment (docs/analytics.md). Secrets: METABASE_ADMIN_PASSWORD and
 * ANALYTICS_DB_PASSWORD; they are never printed, and an error about them names the variable only.
 */
const MetabaseEnvSchema = z.object({
  METABASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  METABASE_ADMIN_EMAIL: z.email({ error: 'must be an email address' }),
  METABASE_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters'),
  METABASE_SITE_NAME: z.string().min(1).max(100).default('estate-edge'),
  /** Seconds to wait for Metabase to finish starting (a fresh one takes a minute or two). */
  METABASE_WAIT_SECONDS: z
    .string()
    .regex(/^\s*\d+\s*$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(0).max(3600))
    .default(120),
  /** Re-send the connection's details (and password) even when nothing visible changed. */
  METABASE_UPDATE_DATABASE: z.stringbool().default(false),
  /** PostgreSQL as Metabase reaches it. */
  ANALYTICS_DB_HOST: z.string().min(1),
  ANALYTICS_DB_PORT: port.default(5432),
  ANALYTICS_DB_NAME: z.string().min(1),
  /** The read-only role of scripts/db-roles.sql. */
  ANALYTICS_DB_USER: z.string().min(1).default('estate_analytics'),
  ANALYTICS_DB_PASSWORD: z.string().min(1),
  ANALYTICS_DB_SSL: z.stringbool().default(false),
});

export class MetabaseConfigError extends Error {
  readonly code = 'METABASE_CONFIG';
}

export type MetabaseSetupConfig = ProvisionConfig & { url: string };

/** Parse the environment, or throw a MetabaseConfigError naming every bad variable (never its value). */
export function parseMetabaseEnv(env: NodeJS.ProcessEnv): MetabaseSetupConfig {
  // Empty values (`FOO=` in an env file) mean unset, so defaults apply and required ones say so.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = MetabaseEnvSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `${name} ${present[name] === undefined ? 'is required' : issue.message}`;
    });
    throw new MetabaseConfigError(problems.join('; '));
  }
  const e = parsed.data;
  return {
    url: e.METABASE_URL,
    siteName: e.METABASE_SITE_NAME,
    admin: { email: e.METABASE_ADMIN_EMAIL, password: e.METABASE_ADMIN_PASSWORD },
    database: {
      name: ANALYTICS_CONNECTION_NAME,
      host: e.ANALYTICS_DB_HOST,
      port: e.ANALYTICS_DB_PORT,
      dbname: e.ANALYTICS_DB_NAME,
      user: e.ANALYTICS_DB_USER,
      password: e.ANALYTICS_DB_PASSWORD,
      ssl: e.ANALYTICS_DB_SSL,
    },
    waitMs: e.METABASE_WAIT_SECONDS * 1000,
    updateDatabase: e.METABASE_UPDATE_DATABASE,
  };
}
