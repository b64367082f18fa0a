/**
 * What the edge benchmark measures: the Workers it starts (bundle, runtime, vars, bindings) and
 * the scenarios it loads (which server, which requests, what every access-log line must say).
 * Plain data, so the Workers' specs cross to the host process as IPC messages.
 *
 * The five scenarios of the issue come first; the others isolate one part of the gateway each,
 * for the diagnosis (`--diagnose`). Variants differ only through vars and bindings: the edge code
 * is the same bundle everywhere.
 */

/** Which Worker a scenario loads; each is started once and kept for the whole run. */
const workerSpecs = {
  bare: { bundle: 'bare', runtime: 'workerd', vars: {} },
  'bare-stack': { bundle: 'bare', runtime: 'workerd', vars: { BENCH_STACK: '1' } },
  'bare-stack-expose': { bundle: 'bare', runtime: 'workerd', vars: { BENCH_STACK: 'expose' } },
  'bare-log': { bundle: 'bare', runtime: 'workerd', vars: { BENCH_LOG: '1' } },
  'bare-cache': { bundle: 'bare', runtime: 'workerd', vars: { BENCH_CACHE: '1' } },
  'bare-burst': { bundle: 'bare', runtime: 'workerd', vars: { BENCH_BURST: '1' }, burst: true },
  'bare-miniflare': { bundle: 'bare', runtime: 'miniflare', vars: {} },
  hit: { bundle: 'real', runtime: 'workerd', cache: 'long', burst: true },
  'hit-quotas': { bundle: 'real', runtime: 'workerd', cache: 'long', burst: true, quotas: true },
  'hit-no-burst': { bundle: 'real', runtime: 'workerd', cache: 'long' },
  'hit-miniflare': { bundle: 'real', runtime: 'miniflare', cache: 'long', burst: true },
  miss: { bundle: 'real', runtime: 'workerd', cache: 'none', burst: true },
  'miss-quotas': { bundle: 'real', runtime: 'workerd', cache: 'none', burst: true, quotas: true },
  // Production's distances (a user-space delay proxy, bench/edge/delay-proxy.ts): the quota store in
  // one region, 40 ms from the location answering; the origin 30 ms from it.
  'hit-far': {
    bundle: 'real',
    runtime: 'workerd',
    cache: 'long',
    burst: true,
    far: true,
  },
  'hit-quotas-far': {
    bundle: 'real',
    runtime: 'workerd',
    cache: 'long',
    burst: true,
    quotas: true,
    far: true,
  },
  'miss-far': { bundle: 'real', runtime: 'workerd', cache: 'none', burst: true, far: true },
  'miss-unverified': {
    bundle: 'real',
    runtime: 'workerd',
    cache: 'none',
    burst: true,
    origin: 'open',
  },
  'miss-stored': { bundle: 'real', runtime: 'workerd', cache: 'long', burst: true },
  'hit-no-keep-names': {
    bundle: 'real-no-keep-names',
    runtime: 'workerd',
    cache: 'long',
    burst: true,
  },
  'miss-no-keep-names': {
    bundle: 'real-no-keep-names',
    runtime: 'workerd',
    cache: 'none',
    burst: true,
  },
} satisfies Record<string, WorkerSpec>;
export type WorkerName = keyof typeof workerSpecs;
export const WORKERS: Record<WorkerName, WorkerSpec> = workerSpecs;

export type WorkerSpec = {
  /**
   * `bare`: bench/edge/bare-worker.ts. `real`: edge/index.ts with wrangler.toml's vars, built as
   * deployed. `real-no-keep-names`: the same built with `keep_names = false`.
   */
  bundle: 'bare' | 'real' | 'real-no-keep-names';
  /** `workerd`: our config, no Miniflare in the path. `miniflare`: as the tests run it. */
  runtime: 'workerd' | 'miniflare';
  /** Extra vars (the bare Worker's knobs). */
  vars?: Record<string, string>;
  /** CACHE_RULES: `long`, /v1/listings fresh for a day; `none`, `[]` (everything forwarded). */
  cache?: 'long' | 'none';
  /** A BURST_LIMITER binding with a limit never reached. */
  burst?: true;
  /** Quotas in Redis through the REST adapter (UPSTASH_REDIS_REST_URL/TOKEN set). */
  quotas?: true;
  /** Quota store `QUOTA_RTT_MS` and origin `ORIGIN_RTT_MS` away, through delay proxies. */
  far?: true;
  /** The origin it forwards to: `signed` requires the edge assertion (production), `open` not. */
  origin?: 'signed' | 'open';
};

export type Scenario = {
  label: string;
  /**
   * A Worker, or the origin itself without the edge's assertion (`direct`; `direct-far` through
   * the delay proxy, ORIGIN_RTT_MS away).
   */
  target: WorkerName | DirectTarget;
  /** Part of the issue's table, or one of the diagnosis' variants. */
  group: 'main' | 'diagnosis';
  /** A listing never asked before per request (from the rest of the table): a cache MISS each. */
  distinct?: true;
  /** `"<status> <cache> <rate_limit>"` every access-log line of the run must be (one of). */
  expect?: string | readonly string[];
  /** What it is compared with in the diagnosis: the same thing without the part it adds. */
  reference?: ScenarioName;
};

export type DirectTarget = 'direct' | 'direct-far';
export const isDirect = (target: string): target is DirectTarget =>
  target === 'direct' || target === 'direct-far';

/** Round trips injected by the delay proxies for the `far` Workers and `direct-far`. */
export const QUOTA_RTT_MS = 40;
export const ORIGIN_RTT_MS = 30;

/** In the order they run and are reported. */
export const SCENARIO_NAMES = [
  'bare',
  'hit',
  'hit-quotas',
  'miss',
  'direct',
  'hit-far',
  'hit-quotas-far',
  'miss-far',
  'direct-far',
  'bare-stack',
  'bare-stack-expose',
  'bare-log',
  'bare-burst',
  'bare-cache',
  'hit-no-burst',
  'bare-miniflare',
  'hit-miniflare',
  'miss-quotas',
  'miss-unverified',
  'miss-stored',
  'hit-no-keep-names',
  'miss-no-keep-names',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  bare: {
    label: '(a) bare Hono Worker, constant',
    target: 'bare',
    group: 'main',
  },
  hit: {
    label: '(b) HIT, quotas off',
    target: 'hit',
    group: 'main',
    reference: 'bare',
    expect: '200 HIT off',
  },
  'hit-quotas': {
    label: '(b) HIT, quotas on',
    target: 'hit-quotas',
    group: 'main',
    reference: 'hit',
    // The first request of a caller in an isolate asks the store; the rest are decided there.
    expect: ['200 HIT allowed', '200 HIT allowed-local'],
  },
  miss: {
    label: '(c) MISS, forwarded to the origin',
    target: 'miss',
    group: 'main',
    reference: 'direct',
    expect: '200 BYPASS off',
  },
  direct: {
    label: '(d) origin, called directly',
    target: 'direct',
    group: 'main',
  },
  'hit-far': {
    label: '(e) HIT, quotas off, origin 30 ms away',
    target: 'hit-far',
    group: 'main',
    reference: 'hit',
    expect: '200 HIT off',
  },
  'hit-quotas-far': {
    label: '(e) HIT, quotas on, quota store 40 ms away',
    target: 'hit-quotas-far',
    group: 'main',
    reference: 'hit-far',
    expect: ['200 HIT allowed', '200 HIT allowed-local'],
  },
  'miss-far': {
    label: '(f) MISS, origin 30 ms away',
    target: 'miss-far',
    group: 'main',
    reference: 'direct-far',
    expect: '200 BYPASS off',
  },
  'direct-far': {
    label: '(g) origin, called directly, 30 ms away',
    target: 'direct-far',
    group: 'main',
  },
  'bare-stack': {
    label: 'bare + Hono’s middleware (id, timing, headers, CORS, body limit)',
    target: 'bare-stack',
    group: 'diagnosis',
    reference: 'bare',
  },
  'bare-stack-expose': {
    label: 'the same, CORS exposing headers (as edge/index.ts)',
    target: 'bare-stack-expose',
    group: 'diagnosis',
    reference: 'bare-stack',
  },
  'bare-log': {
    label: 'bare + one access-log line',
    target: 'bare-log',
    group: 'diagnosis',
    reference: 'bare',
    expect: '200 HIT off',
  },
  'bare-burst': {
    label: 'bare + BURST_LIMITER call',
    target: 'bare-burst',
    group: 'diagnosis',
    reference: 'bare',
  },
  'bare-cache': {
    label: 'bare, answered from the Cache API',
    target: 'bare-cache',
    group: 'diagnosis',
    reference: 'bare',
  },
  'hit-no-burst': {
    label: 'HIT, quotas off, no BURST_LIMITER',
    target: 'hit-no-burst',
    group: 'diagnosis',
    reference: 'hit',
    expect: '200 HIT off',
  },
  'bare-miniflare': {
    label: 'bare, in Miniflare',
    target: 'bare-miniflare',
    group: 'diagnosis',
    reference: 'bare',
  },
  'hit-miniflare': {
    label: 'HIT, quotas off, in Miniflare',
    target: 'hit-miniflare',
    group: 'diagnosis',
    reference: 'bare-miniflare',
    expect: '200 HIT off',
  },
  'miss-quotas': {
    label: 'MISS, quotas on',
    target: 'miss-quotas',
    group: 'diagnosis',
    reference: 'miss',
    expect: '200 BYPASS allowed',
  },
  'miss-unverified': {
    label: 'MISS, origin not verifying the assertion',
    target: 'miss-unverified',
    group: 'diagnosis',
    reference: 'miss',
    expect: '200 BYPASS off',
  },
  'miss-stored': {
    label: 'MISS with a cache rule (lookup + store)',
    target: 'miss-stored',
    group: 'diagnosis',
    reference: 'miss',
    distinct: true,
    expect: '200 MISS off',
  },
  'hit-no-keep-names': {
    label: 'HIT, quotas off, built with keep_names = false',
    target: 'hit-no-keep-names',
    group: 'diagnosis',
    reference: 'hit',
    expect: '200 HIT off',
  },
  'miss-no-keep-names': {
    label: 'MISS, built with keep_names = false',
    target: 'miss-no-keep-names',
    group: 'diagnosis',
    reference: 'miss',
    expect: '200 BYPASS off',
  },
};
export const MAIN_SCENARIOS = SCENARIO_NAMES.filter((s) => SCENARIOS[s].group === 'main');
export const DIAGNOSIS_SCENARIOS = SCENARIO_NAMES.filter((s) => SCENARIOS[s].group === 'diagnosis');

/** A limit the benchmark never reaches: quotas and the burst guard run, and refuse nothing. */
export const NEVER_REACHED = 100_000_000;

/** CACHE_RULES per `WorkerSpec.cache`. */
export const CACHE_RULES = {
  long: [{ prefix: '/v1/listings', ttl: 86_400, swr: 0, sie: 0 }],
  none: [],
} as const;
