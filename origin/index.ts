/**
 * The origin: parse the environment, open the database (migrating it), load the sample on a fresh
 * install, serve the API, and on SIGTERM/SIGINT stop accepting, drain, and close the database
 * within SHUTDOWN_TIMEOUT_MS.
 */
import { createApp } from './app.js';
import { identityConfigFrom } from './auth/config.js';
import { SigningKeyError } from './auth/errors.js';
import { checkSigningKeysAtStartup } from './auth/signing-key-encryption.js';
import { openFromEnv, seedIfEmpty } from './bootstrap.js';
import { parseServerEnv } from './env.js';
import { createMetrics } from './http/metrics.js';
import { createMetricsApp } from './http/metrics-listener.js';
import { serveApp } from './http/node-server.js';
import { createLogger } from './logger.js';

let env: ReturnType<typeof parseServerEnv>;
try {
  env = parseServerEnv();
} catch (error) {
  console.error(`origin: ${(error as Error).message}`);
  process.exit(2);
}
const logger = createLogger(env.LOG_LEVEL);
if (!env.EDGE_ASSERTION_SECRET) {
  // Only with INSECURE_NO_EDGE_ASSERTION=true (origin/env.ts refuses to start otherwise).
  logger.warn(
    'INSECURE_NO_EDGE_ASSERTION=true: the origin accepts requests that did not come through the edge and authenticates bearer tokens itself (development only)',
  );
}
const db = await openFromEnv(env, logger);
if (env.SEED_ON_START) await seedIfEmpty(db, logger);
const identity = identityConfigFrom(env);
// A signing key these secrets cannot open would fail every sign-in: refuse to start instead,
// naming the variable (a rotation of SIGNING_KEY_ENCRYPTION_SECRET without its _PREVIOUS).
try {
  await checkSigningKeysAtStartup(
    db,
    {
      encryptionSecret: identity.signingKeyEncryptionSecret,
      previousEncryptionSecret: identity.signingKeyEncryptionPreviousSecret,
    },
    logger,
  );
} catch (error) {
  if (!(error instanceof SigningKeyError)) throw error;
  console.error(`origin: ${error.message}`);
  await db.close();
  process.exit(2);
}

const metrics = createMetrics();
const app = createApp({
  db,
  logger,
  metrics,
  cursorSecret: env.CURSOR_SECRET,
  cursorPreviousSecret: env.CURSOR_SECRET_PREVIOUS,
  identity,
  edgeAssertionSecret: env.EDGE_ASSERTION_SECRET,
  edgeAssertionPreviousSecret: env.EDGE_ASSERTION_SECRET_PREVIOUS,
  anonymousAccess: env.ANONYMOUS_ACCESS,
  tileClusterMaxZoom: env.TILE_CLUSTER_MAX_ZOOM,
  cfAccess:
    env.CF_ACCESS_TEAM_DOMAIN && env.CF_ACCESS_AUD
      ? { teamDomain: env.CF_ACCESS_TEAM_DOMAIN, audience: env.CF_ACCESS_AUD }
      : undefined,
  ops: { dataDir: env.DATA_DIR, backupStatusFile: env.BACKUP_STATUS_FILE },
});
// Oversized or malformed requests get problem+json, not Node's bare status line.
const server = serveApp(app.fetch, { hostname: env.HOST, port: env.PORT }, (info) => {
  logger.info({ url: `http://${info.address}:${info.port}` }, 'origin listening');
  // Printed plainly too: `npm start` is how newcomers meet the project.
  console.log(`estate-edge origin listening on http://${info.address}:${info.port}`);
});

// Prometheus's listener (METRICS_PORT), beside the API's; env.ts refuses a port without a token.
const metricsServer =
  env.METRICS_PORT !== undefined && env.METRICS_TOKEN
    ? serveApp(
        createMetricsApp({ db, metrics, token: env.METRICS_TOKEN }).fetch,
        { hostname: env.HOST, port: env.METRICS_PORT },
        (info) =>
          logger.info({ url: `http://${info.address}:${info.port}/metrics` }, 'metrics listening'),
      )
    : undefined;

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, budgetMs: env.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.warn('shutdown budget exceeded; exiting with requests still open');
    process.exit(1);
  }, env.SHUTDOWN_TIMEOUT_MS);
  deadline.unref();
  metricsServer?.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await db.close();
  clearTimeout(deadline);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
