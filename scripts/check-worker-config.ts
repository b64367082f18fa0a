/**
 * The first step of `npm run build:edge`: every environment's vars in wrangler.toml (the top level,
 * `env.staging`, `env.production`) through the schema the Worker itself parses them with
 * (edge/lib/settings.ts), so `RATE_LIMIT_FAIL_MODE = "Closed"` fails the build instead of a
 * deployed Worker answering 503. Also checks that RATE_LIMITS.burst repeats the BURST_LIMITER
 * binding's figures (the binding does not expose them, and the 429s state them), and that each
 * deployable environment lands where its cache works (issue 14, finding 4): a route with
 * `custom_domain`, `workers_dev` and `preview_urls` off, and `secrets.required` listing every secret
 * its vars make necessary (edge/lib/secrets.ts), so `wrangler deploy` refuses a Worker without them.
 *
 *   tsx scripts/check-worker-config.ts [--config wrangler.toml]
 *   tsx scripts/check-worker-config.ts --deploy --env staging|production [--dry-run]
 *
 * `--deploy` is `npm run deploy`: the checks above, then for the one environment named the values
 * that are still placeholders (an example.com route, ORIGIN_URL or CORS origin) refuse the deploy,
 * naming the key; then `wrangler deploy --env <name>` runs (`--dry-run` stops before it). Without
 * `--env` it refuses: a bare deploy would make a third Worker from the top level.
 *
 * Exits 1 with one line per problem, naming the environment and the key.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { requiredSecrets } from '../edge/lib/secrets.js';
import { parseSettings } from '../edge/lib/settings.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'wrangler.toml' },
    deploy: { type: 'boolean', default: false },
    env: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
});
const configPath = values.config;
const environments = ['', 'staging', 'production'] as const;
type Environment = (typeof environments)[number];
/** The environments that are deployed; the top level is `wrangler dev`'s and the tests'. */
const deployable = ['staging', 'production'] as const;

type Binding = { name: string; simple?: { limit: number; period?: number } };
type Route = string | { pattern: string; custom_domain?: boolean; zone_name?: string };
// Its declared type comes from a package wrangler bundles without publishing: the fields read are
// spelled out.
type WorkerConfig = {
  vars: Record<string, unknown>;
  ratelimits: Binding[];
  routes?: Route[];
  route?: Route;
  workers_dev?: boolean;
  preview_urls?: boolean;
  secrets?: { required?: string[] };
  triggers: { crons?: string[] };
};

function read(env: Environment): WorkerConfig {
  return unstable_readConfig(
    { config: configPath, ...(env ? { env } : {}) },
    { hideWarnings: true },
  ) as WorkerConfig;
}

function routesOf(config: WorkerConfig): Route[] {
  return [...(config.routes ?? []), ...(config.route ? [config.route] : [])];
}

const patternOf = (route: Route) => (typeof route === 'string' ? route : route.pattern);

/** RFC 2606 / 6761 names: documentation placeholders that can never be a real deployment. */
export function isPlaceholderHost(host: string): boolean {
  return /(^|\.)(example\.(com|net|org)|example|invalid|test|localhost)$/i.test(host);
}

function problemsOf(env: Environment): string[] {
  const config = read(env);
  const check = parseSettings(config.vars);
  if (!check.ok)
    return check.problems.map(({ variable, problem }) => {
      const value = config.vars[variable];
      const shown = typeof value === 'string' ? ` (got "${value.slice(0, 60)}")` : '';
      return `${variable} ${problem}${shown}`;
    });
  const problems: string[] = [];
  const binding = config.ratelimits.find((r) => r.name === 'BURST_LIMITER');
  const { limit, period } = check.settings.RATE_LIMITS.burst;
  if (!binding?.simple) problems.push('no [[ratelimits]] binding named BURST_LIMITER');
  else if (binding.simple.limit !== limit || (binding.simple.period ?? 60) !== period)
    problems.push(
      `RATE_LIMITS.burst (${limit} per ${period} s) does not repeat the BURST_LIMITER binding (${binding.simple.limit} per ${binding.simple.period ?? 60} s)`,
    );

  // Where the Worker lands. workers_dev defaults to true when there is no route: spelled out.
  if (config.workers_dev !== false)
    problems.push(
      'workers_dev must be false: a workers.dev address bypasses the cache and stays public',
    );
  if (config.preview_urls !== false)
    problems.push('preview_urls must be false: preview URLs are public workers.dev addresses');
  const routes = routesOf(config);
  if (env === '') {
    if (routes.length > 0)
      problems.push('routes: the top level is for `wrangler dev` and must not be routed');
    return problems;
  }
  if (routes.length === 0)
    problems.push(
      'routes: none, so the Worker answers nowhere (add a custom domain, docs/operations.md)',
    );
  for (const [i, route] of routes.entries())
    if (typeof route === 'string' || route.custom_domain !== true)
      problems.push(
        `routes[${i}] (${patternOf(route)}) must be { pattern = "<host>", custom_domain = true }`,
      );
  const listed = new Set(config.secrets?.required ?? []);
  const missing = requiredSecrets(check.settings).filter((name) => !listed.has(name));
  if (missing.length > 0)
    problems.push(
      `secrets.required must list ${missing.join(', ')} (the vars need them: edge/lib/secrets.ts), so a deploy without them is refused`,
    );
  return problems;
}

/** What is still a placeholder in an environment about to be deployed. */
function placeholdersOf(env: Environment): string[] {
  const config = read(env);
  const problems: string[] = [];
  for (const [i, route] of routesOf(config).entries())
    if (isPlaceholderHost(patternOf(route).split('/')[0] ?? ''))
      problems.push(
        `routes[${i}].pattern is the placeholder "${patternOf(route)}": set your API's hostname in [env.${env}] routes`,
      );
  const hostOf = (value: unknown) => {
    try {
      return new URL(String(value)).hostname;
    } catch {
      return '';
    }
  };
  if (isPlaceholderHost(hostOf(config.vars.ORIGIN_URL)))
    problems.push(
      `ORIGIN_URL is the placeholder "${String(config.vars.ORIGIN_URL)}": set the tunnel's public hostname`,
    );
  const cors = Array.isArray(config.vars.CORS_ORIGINS) ? config.vars.CORS_ORIGINS : [];
  for (const origin of cors)
    if (isPlaceholderHost(hostOf(origin)))
      problems.push(
        `CORS_ORIGINS holds the placeholder "${String(origin)}": list your sites' origins, or []`,
      );
  return problems;
}

function report(name: string, problems: string[]): boolean {
  if (problems.length === 0) {
    console.log(`[check-worker-config] ${configPath} ${name}: ok`);
    return true;
  }
  for (const problem of problems)
    console.error(`[check-worker-config] ${configPath} ${name}: ${problem}`);
  return false;
}

let ok = true;
for (const env of environments) {
  let problems: string[];
  try {
    problems = problemsOf(env);
  } catch (error) {
    problems = [`cannot be read: ${error instanceof Error ? error.message : String(error)}`];
  }
  ok = report(env || 'top level', problems) && ok;
}
if (!ok) {
  console.error('[check-worker-config] fix these before deploying (docs/edge-gateway.md)');
  process.exit(1);
}

if (values.deploy) {
  const env = values.env as (typeof deployable)[number] | undefined;
  if (!env || !deployable.includes(env)) {
    console.error(
      `[check-worker-config] deploy: name the environment, \`npm run deploy -- --env staging\` or \`--env production\`${env ? ` (got "${env}")` : ''}: a deploy without --env would create a third Worker from the top level (docs/operations.md)`,
    );
    process.exit(1);
  }
  if (!report(`${env} (deploy)`, placeholdersOf(env))) {
    console.error(
      '[check-worker-config] deploy refused: replace the placeholders first (docs/operations.md, "4. The Worker")',
    );
    process.exit(1);
  }
  if (values['dry-run']) process.exit(0);
  const wrangler = spawnSync('npx', ['wrangler', 'deploy', '--config', configPath, '--env', env], {
    stdio: 'inherit',
  });
  process.exit(wrangler.status ?? 1);
}
