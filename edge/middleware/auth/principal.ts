/**
 * Who is calling, once the edge has checked. `edge` is the Worker itself, for the requests it
 * makes on its own account (API-key lookups, the JWKS).
 */
export type Principal = {
  /** `user:1` (the token's sub), `api_key:3`, `anonymous` or `edge`. */
  id: string;
  type: 'user' | 'api_key' | 'anonymous' | 'edge';
  scopes: readonly string[];
  plan: string;
  /** For an API key: the user who owns it. */
  owner?: string;
};

/** The scopes a caller without credentials gets when ANONYMOUS_ACCESS is on. */
export const anonymousReadScopes = ['listings:read', 'stats:read', 'tiles:read'] as const;

export function anonymousPrincipal(enabled: boolean): Principal {
  return {
    id: 'anonymous',
    type: 'anonymous',
    scopes: enabled ? anonymousReadScopes : [],
    plan: 'anonymous',
  };
}

/** The edge speaking for itself, with exactly the one scope the call needs. */
export function edgePrincipal(scope: string): Principal {
  return { id: 'edge', type: 'edge', scopes: [scope], plan: 'admin' };
}
