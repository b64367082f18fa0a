import type { Context } from 'hono';
import { hasScope } from '../../../contract/scopes.js';
import { EDGE_ASSERTION_HEADER, edgePrincipalOf } from '../../http/edge-assertion.js';

/**
 * Whether this caller may read readiness in full: which feeds exist and how late they are, the
 * backup's state and file, free disk, the database's errors. Everyone else gets the status word.
 *
 * - **No edge assertion at all: a probe on the private network** (the load balancer, compose's
 *   healthcheck, an operator on the host). The origin has no public address: its one way in from
 *   outside is the tunnel, behind Cloudflare Access, which admits the edge Worker only
 *   (tunnel/README.md), and the Worker signs an assertion into every request it forwards. So a
 *   request without one did not come through the edge.
 * - **An assertion that verifies, for a principal holding `ops:read`**: an admin through the
 *   edge, or the edge's own health check (edge/scheduled/health, `edgePrincipal('ops:read')`).
 * - **Any other assertion** (anonymous, a user or key without `ops:read`, one that does not
 *   verify): status only. A forged one is thus worth nothing, and stripping it is impossible
 *   through the edge, which replaces whatever a client sends in its place.
 */
export function mayReadReadinessDetails(c: Context): boolean {
  if (c.req.header(EDGE_ASSERTION_HEADER) === undefined) return true;
  const principal = edgePrincipalOf(c);
  return principal !== null && hasScope(principal.scopes, 'ops:read');
}
