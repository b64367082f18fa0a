import { createRoute, z } from '@hono/zod-openapi';
import { verifyingPublicKeys } from '../../auth/signing-keys.js';
import { createRouter } from '../../http/router.js';

const jwksRoute = createRoute({
  method: 'get',
  path: '/jwks.json',
  tags: ['Auth'],
  summary: 'The public keys that verify access tokens (JWKS, RFC 7517)',
  description:
    'The active key and any retiring ones. Cached for 60 s; a verifier that meets an ' +
    'unknown `kid` refetches (rate-limited), and a new key signs only after `keys rotate`, so ' +
    'a verifier holding the old set keeps verifying the old tokens meanwhile.',
  responses: {
    200: {
      description: 'The key set',
      content: {
        'application/json': {
          schema: z
            .object({
              keys: z.array(
                z
                  .object({
                    kty: z.string(),
                    crv: z.string(),
                    x: z.string(),
                    y: z.string(),
                    kid: z.string(),
                    alg: z.string(),
                    use: z.string(),
                  })
                  .openapi('Jwk'),
              ),
            })
            .openapi('Jwks'),
        },
      },
    },
  },
});

/** /.well-known: open by design (public keys are public). */
export const wellKnownRoutes = createRouter().openapi(jwksRoute, async (c) => {
  const keys = await verifyingPublicKeys(c.get('deps').db);
  c.header('Cache-Control', 'public, max-age=60');
  return c.json(
    {
      keys: keys.map((k) => ({
        kty: String(k.kty),
        crv: String(k.crv),
        x: String(k.x),
        y: String(k.y),
        kid: String(k.kid),
        alg: String(k.alg),
        use: String(k.use),
      })),
    },
    200,
  );
});
