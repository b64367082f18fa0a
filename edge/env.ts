import type { RequestIdVariables } from 'hono/request-id';

/**
 * Everything the Worker receives in `env`.
 *
 * Vars come from wrangler.toml through `Cloudflare.Env`, generated into
 * edge/worker-configuration.d.ts by `wrangler types` (rerun it after editing wrangler.toml).
 * Secrets are not in wrangler.toml, so they are declared here, one documented member each,
 * set with `npx wrangler secret put <NAME> --env staging|production` and, for `wrangler dev`,
 * in .dev.vars. There are none yet.
 */
export interface Env extends Cloudflare.Env {}

/** The Hono environment of the edge app. */
export type AppEnv = {
  Bindings: Env;
  Variables: RequestIdVariables;
};
