/**
 * The first step of `npm run build:edge`: every environment's vars in wrangler.toml (the top level,
 * `env.staging`, `env.production`) through the schema the Worker itself parses them with
 * (edge/lib/settings.ts), so `RATE_LIMIT_FAIL_MODE = "Closed"` fails the build instead of a
 * deployed Worker answering 503. Also checks that RATE_LIMITS.burst repeats the BURST_LIMITER
 * binding's figures (the binding does not expose them, and the 429s state them).
 *
 *   tsx scripts/check-worker-config.ts [--config wrangler.toml]
 *
 * Exits 1 with one line per problem, naming the environment and the var.
 */
import { parseArgs } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { parseSettings } from '../edge/lib/settings.js';

const { values } = parseArgs({ options: { config: { type: 'string', default: 'wrangler.toml' } } });
const configPath = values.config;
const environments = ['', 'staging', 'production'] as const;

type Binding = { name: string; simple?: { limit: number; period?: number } };

function problemsOf(env: (typeof environments)[number]): string[] {
  // Its declared type comes from a package wrangler bundles without publishing: the fields read
  // are spelled out.
  const config: { vars: Record<string, unknown>; ratelimits: Binding[] } = unstable_readConfig(
    { config: configPath, ...(env ? { env } : {}) },
    { hideWarnings: true },
  );
  const check = parseSettings(config.vars);
  if (!check.ok)
    return check.problems.map(({ variable, problem }) => {
      const value = config.vars[variable];
      const shown = typeof value === 'string' ? ` (got "${value.slice(0, 60)}")` : '';
      return `${variable} ${problem}${shown}`;
    });
  const binding = config.ratelimits.find((r) => r.name === 'BURST_LIMITER');
  const { limit, period } = check.settings.RATE_LIMITS.burst;
  if (!binding?.simple) return ['no [[ratelimits]] binding named BURST_LIMITER'];
  if (binding.simple.limit !== limit || (binding.simple.period ?? 60) !== period)
    return [
      `RATE_LIMITS.burst (${limit} per ${period} s) does not repeat the BURST_LIMITER binding (${binding.simple.limit} per ${binding.simple.period ?? 60} s)`,
    ];
  return [];
}

let failed = false;
for (const env of environments) {
  const name = env || 'top level';
  let problems: string[];
  try {
    problems = problemsOf(env);
  } catch (error) {
    problems = [`cannot be read: ${error instanceof Error ? error.message : String(error)}`];
  }
  if (problems.length === 0) {
    console.log(`[check-worker-config] ${configPath} ${name}: ok`);
    continue;
  }
  failed = true;
  for (const problem of problems)
    console.error(`[check-worker-config] ${configPath} ${name}: ${problem}`);
}
if (failed) {
  console.error('[check-worker-config] fix these vars before deploying (docs/edge-gateway.md)');
  process.exit(1);
}
