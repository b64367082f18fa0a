import type { MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { checkSettings, describeProblems } from '../../lib/settings';
import { ProblemType, problemResponse } from '../problem';

export type SettingsGateOptions = {
  /** Paths answered even when a setting is bad, so monitoring can see why (`/edge/health`). */
  exempt?: readonly string[];
};

/**
 * Fails closed on a bad setting: checks the Worker's vars once per isolate (lib/settings.ts) and,
 * while any is invalid, answers every request but the exempt paths with 503 problem+json naming
 * the vars, so `RATE_LIMIT_FAIL_MODE=Closed` or `ANONYMOUS_ACCESS=False` can never mean "open"
 * (finding 10 of issue 13). The vars' values are not repeated: only names and what they must be.
 * Everything after it reads `settingsOf(c.env)`, which is then known to be valid.
 *
 * @example
 *   app.use(settingsGate({ exempt: ['/edge/health'] }));
 */
export function settingsGate(
  options: SettingsGateOptions = {},
): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  const exempt = new Set(options.exempt ?? []);
  for (const path of exempt)
    if (!path.startsWith('/')) throw new TypeError(`settingsGate: exempt path '${path}' needs a /`);

  return async function settingsGate(c, next) {
    const check = checkSettings(c.env as object);
    if (check.ok || exempt.has(c.req.path)) return next();
    return problemResponse(c, {
      code: 'misconfigured',
      detail: `This deployment is misconfigured and refuses requests until it is fixed: ${describeProblems(check.problems)}.`,
      headers: { 'Retry-After': '60' },
    });
  };
}
