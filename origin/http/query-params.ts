import type { MiddlewareHandler } from 'hono';
import { repeatedQueryParameter, repeatedQueryParameterDetail } from '../../contract/query.js';
import { problem } from './problem.js';

/**
 * Refuses, with 400 problem+json, a query that gives one parameter more than once, on every
 * route: the rule the edge applies before its cache (contract/query.ts), checked again here so a
 * request that did not meet the edge's cache (an uncached route, a route cached later, another
 * proxy in front) cannot make `c.req.query()` pick the first value where something else read
 * another. No route takes a repeated parameter: lists are comma-separated.
 *
 * @example
 *   app.use(singleQueryParameters());
 */
export function singleQueryParameters(): MiddlewareHandler {
  return async function singleQueryParameters(c, next) {
    const repeated = repeatedQueryParameter(new URL(c.req.url).searchParams);
    if (repeated !== undefined)
      return problem(c, 'invalid_request', repeatedQueryParameterDetail(repeated));
    await next();
  };
}
