import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Database } from './db/database.js';
import { problem, problemErrorHandler } from './http/problem.js';
import type { Logger } from './logger.js';
import { healthRoutes } from './routes/health/index.js';
import { listingRoutes } from './routes/listings/index.js';

export type AppDeps = { db: Database; logger: Logger };

/** The origin API, wired explicitly. */
export function createApp({ db, logger }: AppDeps) {
  const app = new Hono();

  // --- cross-cutting
  app.use(requestId({ limitLength: 128 }));
  app.use(secureHeaders());
  app.use(
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => problem(c, 413, 'Payload Too Large', 'the body is over 1 MiB'),
    }),
  );
  app.use(async function accessLog(c, next) {
    const started = performance.now();
    await next();
    logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });

  // --- health (open on the private network: it reveals no data)
  app.route('/health', healthRoutes(db));

  // --- v1
  app.route('/v1/listings', listingRoutes(db));

  app.notFound((c) =>
    problem(
      c,
      404,
      'Not Found',
      `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`,
    ),
  );
  app.onError(problemErrorHandler(logger));
  return app;
}
