import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { spawnTied } from './spawn-tied.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export type RedisRestProcess = { url: string; stop(): Promise<void> };

/**
 * `npm run redis-rest` as a child process on a free port, exactly as a developer runs it. A child
 * rather than an import: the edge project's globalSetup is loaded with workerd's resolve
 * conditions, under which ioredis resolves to a build without its Node internals.
 *
 * @example
 *   const rest = await startRedisRestProcess({ redisUrl: redis.url, token });
 */
export async function startRedisRestProcess(options: {
  redisUrl: string;
  token: string;
}): Promise<RedisRestProcess> {
  // Dies with the test process even when vitest SIGKILLs its worker.
  const child: ChildProcess = spawnTied(
    process.execPath,
    ['--import', 'tsx', 'scripts/redis-rest.ts'],
    {
      cwd: root,
      env: {
        ...process.env,
        REDIS_URL: options.redisUrl,
        UPSTASH_REDIS_REST_TOKEN: options.token,
        REDIS_REST_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-rest did not start: ${output}`)),
      20_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found.replace(/\/$/, ''));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-rest exited (${code}): ${output}`));
    });
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
