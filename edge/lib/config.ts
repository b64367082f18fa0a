import { en } from 'zod/locales';
import * as z from 'zod/mini';

// The edge validates with zod/mini, zod's tree-shakable build: the Worker carries the checks it
// uses and nothing else (docs/benchmarks.md, "Worker size"). `import * as z` is what lets esbuild
// drop the rest; `import { z }` pulls in all of zod/mini again. zod/mini loads no locale, so every
// problem would read "Invalid input": English is loaded here, once, because the build check and
// the 503 of a bad var quote these messages ("Too small: expected number to be >=20").
z.config(en());

/**
 * Thrown for a wrangler.toml var that does not hold what its schema says. The message names the
 * var and the first problem, so `wrangler tail` or the test output tells the operator what to fix.
 * The Worker's own vars are parsed together by lib/settings.ts; configVar is for code that runs
 * without the settings gate in front (the Cron Triggers, the proxy used on its own).
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const parsed = new Map<string, unknown>();
// Structured vars arrive as the same object on every request of an isolate: found by identity
// first, the hot path does not serialise them each time.
const parsedObjects = new WeakMap<object, Map<string, unknown>>();

/**
 * Reads a structured var (a TOML table or array in wrangler.toml, or the same as a JSON string
 * from `wrangler dev --var`), checks it against `schema` once per distinct value, and memoises
 * the result at module scope: the config is the same for every request of an isolate, so the
 * hot path pays one Map lookup.
 *
 * @example
 *   const rules = configVar('CACHE_RULES', c.env.CACHE_RULES, cacheRulesSchema);
 */
export function configVar<S extends z.ZodMiniType>(
  name: string,
  raw: unknown,
  schema: S,
): z.output<S> {
  const byObject = typeof raw === 'object' && raw !== null ? parsedObjects.get(raw) : undefined;
  if (byObject?.has(name)) return byObject.get(name) as z.output<S>;
  const value = parseConfig(name, raw, schema);
  if (typeof raw === 'object' && raw !== null) {
    const entry = byObject ?? new Map<string, unknown>();
    entry.set(name, value);
    parsedObjects.set(raw, entry);
  }
  return value;
}

function parseConfig<S extends z.ZodMiniType>(name: string, raw: unknown, schema: S): z.output<S> {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw ?? null);
  const key = `${name}\u0000${text}`;
  if (parsed.has(key)) return parsed.get(key) as z.output<S>;
  let value: unknown;
  try {
    value = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch {
    throw new ConfigError(`${name} is not JSON: ${text.slice(0, 80)}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${name}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  parsed.set(key, result.data);
  return result.data;
}

/** The caller's address as Cloudflare saw it; `wrangler dev` and Miniflare set it too. */
export function clientIp(headers: Headers): string {
  return headers.get('cf-connecting-ip') ?? 'unknown';
}
