import { Redis, type RedisConfigCloudflare } from '@upstash/redis/cloudflare';

/** The secrets that put a request through Cloudflare Access (edge/env.ts). */
export type AccessCredentials = { CF_ACCESS_CLIENT_ID?: string; CF_ACCESS_CLIENT_SECRET?: string };

/**
 * An `@upstash/redis` client that also sends the Cloudflare Access service token when one is
 * configured: a self-hosted SRH behind the tunnel sits behind Access like the origin
 * (tunnel/README.md), and Access refuses requests without it.
 *
 * The Cloudflare build of the client takes no extra headers (its constructor sets only
 * Authorization), so they are added to its HTTP client's header map after construction. That
 * map is what every request is sent with; edge/middleware/rate-limit/index.test.ts checks the headers arrive.
 */
export function upstashRedis(config: RedisConfigCloudflare, access: AccessCredentials = {}): Redis {
  // Auto-pipelining (on by default) batches the commands of concurrent requests into one fetch
  // made by whichever request came first; in workerd a request must not wait on another's I/O,
  // and under load the quota checks then hang until their timeout (seen in bench:edge).
  const redis = new Redis({ enableAutoPipelining: false, ...config });
  if (access.CF_ACCESS_CLIENT_ID && access.CF_ACCESS_CLIENT_SECRET) {
    const client = (redis as unknown as { client?: { headers?: Record<string, string> } }).client;
    if (!client?.headers) throw new Error('@upstash/redis changed: cannot add the Access headers');
    client.headers['CF-Access-Client-Id'] = access.CF_ACCESS_CLIENT_ID;
    client.headers['CF-Access-Client-Secret'] = access.CF_ACCESS_CLIENT_SECRET;
  }
  return redis;
}
