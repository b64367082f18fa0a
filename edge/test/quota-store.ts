import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { startDelayProxy } from '../../scripts/lib/delay-proxy';
import { startRedisRestProcess } from '../../scripts/lib/redis-rest-process';
import { startRedisServer } from '../../scripts/lib/redis-server';

/**
 * Vitest globalSetup for the edge project: a private real Redis (its own redis-server on a free
 * port) behind the Upstash-compatible REST adapter the Worker's quotas talk to, plus a second
 * adapter whose Redis is gone (for the fail-mode tests), and the live one again 40 ms away
 * behind a delay proxy (production's distance to the quota store). Nothing is mocked: @upstash/ratelimit's
 * Lua scripts run in that Redis.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedisServer();
  const token = randomBytes(24).toString('base64url');
  const live = await startRedisRestProcess({ redisUrl: redis.url, token });
  // Port 1 on loopback: nothing listens, connections are refused at once.
  const dead = await startRedisRestProcess({ redisUrl: 'redis://127.0.0.1:1', token });
  const far = await startDelayProxy(
    { host: '127.0.0.1', port: Number(new URL(live.url).port) },
    40,
  );
  project.provide('quotaStoreUrl', live.url);
  project.provide('farQuotaStoreUrl', far.url);
  project.provide('deadQuotaStoreUrl', dead.url);
  project.provide('quotaStoreToken', token);
  return async () => {
    await far.close();
    await live.stop();
    await dead.stop();
    await redis.stop();
  };
}
