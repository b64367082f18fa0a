import type { AccessCredentials } from '../../lib/upstash';
import type { MonitorStore } from './interface';
import { noopMonitorStore } from './noop';
import { upstashMonitorStore } from './upstash';

export type { MonitorStore, StoreWrite } from './interface';

export type MonitorStoreEnv = AccessCredentials & {
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
};

/**
 * The store the jobs and the status page use: the quotas' Redis when UPSTASH_REDIS_REST_URL and
 * its token are set, else the no-op one.
 *
 * @example
 *   const store = monitorStore(env, { prefix: config.prefix, timeoutMs: 3_000 });
 */
export function monitorStore(
  env: MonitorStoreEnv,
  options: { prefix: string; timeoutMs: number },
): MonitorStore {
  const { UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token } = env;
  if (!url || !token) return noopMonitorStore;
  return upstashMonitorStore({ url, token, ...options, access: env });
}
