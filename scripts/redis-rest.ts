/**
 * `npm run redis-rest`: an Upstash-compatible REST endpoint in front of a local Redis, so the edge
 * Worker's `@upstash/redis` and `@upstash/ratelimit` work on this machine. Point the Worker at it
 * with `UPSTASH_REDIS_REST_URL=<printed URL>` and the same `UPSTASH_REDIS_REST_TOKEN`.
 *
 *   REDIS_URL                 the Redis behind it        (default redis://127.0.0.1:6379)
 *   UPSTASH_REDIS_REST_TOKEN  the bearer token clients must send (required)
 *   REDIS_REST_HOST           where it listens           (default 127.0.0.1)
 *   REDIS_REST_PORT           its port, 0 for any free   (default 8079)
 */
import { startRedisRest } from './redis-rest/server.js';

const token = process.env.UPSTASH_REDIS_REST_TOKEN;
if (!token) {
  console.error(
    'redis-rest: set UPSTASH_REDIS_REST_TOKEN to the token clients must send, e.g.\n' +
      '  UPSTASH_REDIS_REST_TOKEN=dev-token npm run redis-rest',
  );
  process.exit(2);
}
const portText = process.env.REDIS_REST_PORT ?? '8079';
const port = Number(portText);
if (!/^\d+$/.test(portText) || port > 65_535) {
  console.error(`redis-rest: REDIS_REST_PORT must be a port number, got '${portText}'`);
  process.exit(2);
}
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
if (!URL.canParse(redisUrl) || !/^rediss?:$/.test(new URL(redisUrl).protocol)) {
  console.error('redis-rest: REDIS_URL must look like redis://[user:password@]host:port[/db]');
  process.exit(2);
}

const rest = await startRedisRest({
  redisUrl,
  token,
  host: process.env.REDIS_REST_HOST ?? '127.0.0.1',
  port,
  log: (line) => console.error(line),
}).catch((error: Error) => {
  console.error(`redis-rest: cannot listen on port ${port}: ${error.message}`);
  process.exit(1);
});
// The Redis password, if the URL has one, stays out of the terminal.
console.log(`redis-rest listening on ${rest.url} (Redis at ${redactPassword(redisUrl)})`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await rest.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

function redactPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
