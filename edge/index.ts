import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv, Env } from './env';
import { authenticate } from './middleware/auth';
import { originCredentials } from './middleware/origin-assertion';
import { originProxy } from './middleware/origin-proxy';
import { problemErrorHandler } from './middleware/problem';

const app = new Hono<AppEnv>();

// --- Every request
// Client-sent ids are kept when they are short and plain (Hono checks the charset) so a caller
// can follow one request through its own logs, the edge's and the origin's.
app.use(requestId({ limitLength: 128 }));
app.use(
  secureHeaders({
    // The platform serves JSON only: no document may load anything or be framed.
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    xFrameOptions: 'DENY',
  }),
);

// --- Answered by the edge
app.get('/health', (c) => {
  c.header('Cache-Control', 'no-store');
  return c.json({ status: 'ok' });
});

// --- Everything else goes to the origin, as someone (docs/edge-auth.md)
// Verifies the token or API key and the route's scope, and puts the principal on the context.
app.use(authenticate());
// Signs that principal into the X-Edge-Assertion the origin requires.
app.all(
  '*',
  originProxy<AppEnv>({
    originHeaders: (c) =>
      originCredentials(c.env, {
        principal: c.get('principal'),
        requestId: c.get('requestId'),
        clientIp: c.req.header('CF-Connecting-IP') ?? null,
      }),
  }),
);

app.onError(problemErrorHandler());

/** Cron triggers are configured in a later issue; until then this only records that it ran. */
const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller) => {
  console.log(
    JSON.stringify({
      level: 'info',
      msg: 'scheduled',
      cron: controller.cron,
      at: controller.scheduledTime,
    }),
  );
};

export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
