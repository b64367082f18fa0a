/**
 * Everything the edge benchmark loads, started and checked before anything is timed: the origin
 * twice (requiring the edge's assertion, behind the Workers; and not, called directly), the quota
 * store (a private redis-server behind the Upstash REST adapter), the host of the Workers and each
 * Worker on its own workerd. Then `measure`: one scenario at one concurrency, with the cores each
 * process used and the Worker's access log checked against what the scenario must produce.
 */
import { randomBytes } from 'node:crypto';
import {
  type RedisRestProcess,
  startRedisRestProcess,
} from '../../scripts/lib/redis-rest-process.js';
import { type RedisServer, startRedisServer } from '../../scripts/lib/redis-server.js';
import { type Child, startChild } from '../lib/children.js';
import { cpuMeter } from '../lib/cpu.js';
import type { WorkerBundle, WranglerConfig } from './build.js';
import type { EdgeLoadJob, EdgeLoadResult } from './load.js';
import type { Measurement } from './report.js';
import {
  isDirect,
  ORIGIN_RTT_MS,
  QUOTA_RTT_MS,
  SCENARIOS,
  type ScenarioName,
  WORKERS,
  type WorkerName,
  type WorkerSpec,
} from './scenarios.js';
import {
  CLIENT_HEADERS,
  checkAnswer,
  type Endpoints,
  get,
  warmCache,
  workerVars,
} from './setup.js';
import { listenerOf, parentOf } from './sockets.js';
import type { LogCounts, StartedWorker, StartWorkerJob } from './worker-host.js';

export type StageInput = {
  databaseUrl: string;
  toml: WranglerConfig;
  bundles: Record<WorkerSpec['bundle'] | 'cache', WorkerBundle>;
  workerNames: WorkerName[];
  /** Listing paths to go round, and the rest of the table for `distinct` scenarios. */
  paths: string[];
  pool: string[];
  /** Start the delay proxies (a `far` Worker or `direct-far` is selected). */
  farNeeded: boolean;
  /** Scenarios whose Worker takes a new listing per request. */
  distinctWorkers: ReadonlySet<WorkerName>;
  log: (message: string) => void;
};

export type RunningWorker = StartedWorker & { pid: number };

export type Stage = {
  endpoints: Endpoints;
  /** The bare Worker's answer: a listing of the median size. */
  body: string;
  /** Each of `paths` as the origin answers it. */
  expected: ReadonlyMap<string, string>;
  workers: Record<WorkerName, RunningWorker>;
  /** Start one more Worker (the profiled copies). */
  startWorker(
    name: WorkerName,
    as: string,
    extra?: { inspector?: boolean },
  ): Promise<RunningWorker>;
  /** Stop one of the Workers `startWorker` started. */
  stopWorker(name: string): Promise<void>;
  /** Forget a Worker's access-log counts so far (after warming a copy of it). */
  clearLog(name: string): Promise<void>;
  /** The next listing path of the pool no request has asked for yet. */
  poolCursor: number;
  /** `worker`: another copy of the scenario's Worker (a profiled one) instead of its own. */
  measure(
    scenario: ScenarioName,
    connections: number,
    job: MeasureJob,
    worker?: RunningWorker & { name: string },
  ): Promise<Measurement>;
  stop(): Promise<void>;
};

export type MeasureJob = { warmupSeconds: number; durationSeconds: number };

/** The burst guard's limit per 10 s: never reached, so it counts every request and refuses none. */
const BURST_LIMIT = 1_000_000_000;

export async function startStage(input: StageInput): Promise<Stage> {
  const { toml, bundles, paths, pool, log } = input;
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  let redisRest: RedisRestProcess | undefined;
  const stop = async () => {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redisRest?.stop().catch(() => {});
    await redis?.stop().catch(() => {});
  };
  try {
    const secret = randomBytes(48).toString('base64url');
    const signed = startChild('origin (signed)', 'bench/lib/origin-server.ts', {
      DATABASE_URL: input.databaseUrl,
      EDGE_ASSERTION_SECRET: secret,
    });
    const open = startChild('origin (direct)', 'bench/lib/origin-server.ts', {
      DATABASE_URL: input.databaseUrl,
      EDGE_ASSERTION_SECRET: '',
    });
    children.push(signed, open);
    const portOf = async (child: Child) => ((await child.ready) as { port: number }).port;
    const endpoints: Endpoints = {
      signedOrigin: `http://127.0.0.1:${await portOf(signed)}`,
      openOrigin: `http://127.0.0.1:${await portOf(open)}`,
      edgeAssertionSecret: secret,
      quotaPrefix: `estate-edge:bench:${randomBytes(4).toString('hex')}`,
    };
    const expected = new Map<string, string>();
    for (const path of paths) {
      const answer = await get(endpoints.openOrigin, path);
      if (answer.status !== 200) throw new Error(`GET ${path} on the origin: ${answer.status}`);
      expected.set(path, answer.body);
    }
    const refused = await get(endpoints.signedOrigin, paths[0] as string);
    if (refused.status !== 401)
      throw new Error(`the signed origin answered ${refused.status} without an assertion`);
    const sizes = [...expected.values()].sort((a, b) => a.length - b.length);
    const body = sizes[Math.floor(sizes.length / 2)] as string;

    if (input.workerNames.some((w) => WORKERS[w].quotas)) {
      redis = await startRedisServer();
      const token = randomBytes(24).toString('base64url');
      redisRest = await startRedisRestProcess({ redisUrl: redis.url, token });
      endpoints.quotaStore = { url: redisRest.url, token };
    }
    // --- production's distances: delay proxies in front of the origins and the quota store
    if (input.farNeeded) {
      const proxy = (name: string, target: string, rttMs: number) => {
        const child = startChild(name, 'bench/edge/delay-proxy.ts', {
          DELAY_TARGET: new URL(target).host,
          DELAY_RTT_MS: String(rttMs),
        });
        children.push(child);
        return child.ready.then((r) => `http://127.0.0.1:${(r as { port: number }).port}`);
      };
      endpoints.far = {
        signedOrigin: await proxy('origin 30 ms away', endpoints.signedOrigin, ORIGIN_RTT_MS),
        openOrigin: await proxy('origin 30 ms away (direct)', endpoints.openOrigin, ORIGIN_RTT_MS),
        ...(endpoints.quotaStore
          ? {
              quotaStoreUrl: await proxy(
                'quota store 40 ms away',
                endpoints.quotaStore.url,
                QUOTA_RTT_MS,
              ),
            }
          : {}),
      };
      log(
        `delay proxies: origin ${ORIGIN_RTT_MS} ms, quota store ${QUOTA_RTT_MS} ms round trip (bench/edge/delay-proxy.ts)`,
      );
    }
    const redisPid = redis ? listenerOf(redis.port)?.pid : undefined;
    const restPid = redisRest ? listenerOf(Number(new URL(redisRest.url).port))?.pid : undefined;

    // --- the Workers, each a workerd of its own, checked to listen on workerd's own socket
    const host = startChild('Worker host', 'bench/edge/worker-host.ts');
    children.push(host);
    await host.ready;
    const startWorker = async (
      name: WorkerName,
      as: string,
      extra: { inspector?: boolean } = {},
    ) => {
      const spec = WORKERS[name];
      const started = await host.ask<StartedWorker>(
        {
          op: 'start',
          name: as,
          runtime: spec.runtime,
          bundle: bundles[spec.bundle],
          compatibilityDate: toml.compatibilityDate,
          bindings: workerVars(spec, toml.vars, endpoints, body),
          ...(spec.burst ? { burstLimit: BURST_LIMIT } : {}),
          cache: bundles.cache,
          ...extra,
        } satisfies StartWorkerJob,
        60_000,
      );
      const listener = listenerOf(started.port);
      if (listener?.command !== 'workerd' || parentOf(listener.pid) !== host.process.pid)
        throw new Error(
          `${as}: ${started.url} is served by ${listener ? `${listener.command} (pid ${listener.pid})` : 'nobody'}, not by a workerd of the host`,
        );
      return { ...started, pid: listener.pid };
    };
    const workers = {} as Record<WorkerName, RunningWorker>;
    for (const name of input.workerNames) workers[name] = await startWorker(name, name);
    log(
      `${input.workerNames.length} Worker(s), each on the socket of its own workerd (checked in /proc: the listener is workerd, a child of the host; no Node in the path)`,
    );

    // --- every Worker answers what it should before it is timed
    let poolCursor = 0;
    for (const name of input.workerNames) {
      const spec = WORKERS[name];
      const { url } = workers[name];
      const first = paths[0] as string;
      if (spec.bundle === 'bare') await checkAnswer(url, '/', { body });
      else if (input.distinctWorkers.has(name)) {
        const path = pool[poolCursor++] as string;
        const origin = await get(endpoints.openOrigin, path);
        await checkAnswer(url, path, { body: origin.body, xCache: 'MISS' });
      } else if (spec.cache === 'long') await warmCache(url, paths, expected);
      else
        await checkAnswer(url, first, {
          body: expected.get(first) as string,
          xCache: 'BYPASS',
          ...(spec.quotas ? { rateLimited: true } : {}),
        });
      if (spec.quotas && spec.cache === 'long')
        await checkAnswer(url, first, {
          body: expected.get(first) as string,
          xCache: 'HIT',
          rateLimited: true,
        });
      await host.ask<LogCounts>({ op: 'counts', name }, 5000);
    }
    log('answers checked: the edge gives the origin’s bytes, HITs are warm, quotas are counted');

    const load = startChild('load generator', 'bench/edge/load.ts');
    children.push(load);

    const stage: Stage = {
      endpoints,
      body,
      expected,
      workers,
      startWorker,
      async stopWorker(name) {
        await host.ask<null>({ op: 'stop', name }, 30_000);
      },
      async clearLog(name) {
        await host.ask<LogCounts>({ op: 'counts', name }, 5000);
      },
      poolCursor,
      async measure(s, connections, job, worker) {
        const scenario = SCENARIOS[s];
        const target = scenario.target;
        const spec = isDirect(target) ? undefined : WORKERS[target];
        const served = isDirect(target)
          ? undefined
          : (worker ?? { ...workers[target], name: target });
        const directUrl =
          target === 'direct-far' ? (endpoints.far?.openOrigin ?? '') : endpoints.openOrigin;
        const behind =
          spec && spec.bundle !== 'bare' ? (spec.origin === 'open' ? open : signed) : undefined;
        const meter = cpuMeter({
          server: served ? served.pid : open.process.pid,
          host: served ? host.process.pid : undefined,
          origin: behind?.process.pid,
          loadGenerator: load.process.pid,
          quotaStore: spec?.quotas ? restPid : undefined,
          redis: spec?.quotas ? redisPid : undefined,
        });
        const result = await load.ask<EdgeLoadResult>(
          {
            baseUrl: served ? served.url : directUrl,
            paths:
              spec?.bundle === 'bare'
                ? ['/']
                : scenario.distinct
                  ? pool.slice(stage.poolCursor)
                  : paths,
            connections,
            warmupSeconds: job.warmupSeconds,
            durationSeconds: job.durationSeconds,
            headers: CLIENT_HEADERS,
            ...(scenario.distinct ? { distinct: true } : {}),
          } satisfies EdgeLoadJob,
          (job.warmupSeconds + job.durationSeconds) * 1000 + 60_000,
        );
        // Beyond the pool, listings come round again as HITs: the access-log check says so.
        if (scenario.distinct) stage.poolCursor += result.sent;
        const cpu = Object.fromEntries(
          Object.entries(meter()).filter(([, v]) => Number.isFinite(v)),
        );
        if (!served) return { load: result, cpu, unexpected: 0 };
        const logCounts = await host.ask<LogCounts>({ op: 'counts', name: served.name }, 5000);
        let unexpected = 0;
        const expected = [scenario.expect ?? []].flat();
        if (expected.length > 0)
          for (const [key, count] of Object.entries(logCounts))
            if (!expected.includes(key)) unexpected += count;
        return { load: result, cpu, unexpected, logCounts };
      },
      stop,
    };
    return stage;
  } catch (error) {
    await stop();
    throw error;
  }
}
