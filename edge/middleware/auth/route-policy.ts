/**
 * The route table lives in contract/routes.ts, shared with the origin (which enforces the same
 * rules again, origin/http/route-guard.ts); re-exported for the edge's middleware.
 */
export {
  type RoutePolicy,
  type RouteRule,
  routePolicy,
  routeRuleFor,
  routeRules,
} from '../../../contract/routes';
