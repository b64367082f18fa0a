import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { inject } from 'vitest';
import worker from '../index';
import { fromOwnAddress } from './edge-client';
import type { ScenarioBehaviour, ScenarioCounts } from './recorder-contract';

export type Scenario = {
  /** ORIGIN_URL for the Worker: the recording origin's `/scenario/<id>`. */
  originUrl: string;
  set: (behaviour: ScenarioBehaviour) => Promise<void>;
  counts: () => Promise<ScenarioCounts>;
  /**
   * One request through the real Worker with this scenario as its origin, waiting for the
   * Worker's background work (cache writes, refreshes) before returning.
   */
  /** `vars` override the Worker's vars and secrets (JSON vars as objects, like wrangler.toml tables). */
  fetch: (
    path: string,
    init?: RequestInit,
    vars?: Record<string, unknown>,
    base?: string,
  ) => Promise<Response>;
  /** `fetch`, also saying how long the Worker took to answer (its background work not counted). */
  timedFetch: (
    path: string,
    init?: RequestInit,
    vars?: Record<string, unknown>,
  ) => Promise<{ res: Response; answeredMs: number }>;
};

/** A fresh stand-in origin steered by the test (edge/test/recording-origin.ts). */
export async function scenario(behaviour: ScenarioBehaviour = {}): Promise<Scenario> {
  const id = crypto.randomUUID();
  const control = `${inject('originUrl')}/__scenario/${id}`;
  const set = async (b: ScenarioBehaviour) => {
    const res = await fetch(control, { method: 'POST', body: JSON.stringify(b) });
    await res.body?.cancel();
  };
  await set(behaviour);
  const originUrl = `${inject('originUrl')}/scenario/${id}`;
  return {
    originUrl,
    set,
    counts: async () => (await (await fetch(control)).json()) as ScenarioCounts,
    fetch: async (path, init, vars, base = 'https://edge.test') =>
      (await through(path, init, vars, base)).res,
    timedFetch: (path, init, vars) => through(path, init, vars),
  };

  async function through(
    path: string,
    init: RequestInit | undefined,
    vars: Record<string, unknown> | undefined,
    base = 'https://edge.test',
  ) {
    const ctx = createExecutionContext();
    const started = performance.now();
    const res = await worker.fetch(
      new Request(`${base}${path}`, fromOwnAddress(init)),
      { ...env, ORIGIN_URL: originUrl, ...vars } as Env,
      ctx,
    );
    // The body first: background work may wait on a tee of it (a cache write).
    const body = await res.arrayBuffer();
    const answeredMs = performance.now() - started;
    await waitOnExecutionContext(ctx);
    return {
      res: new Response(res.status === 304 || res.status === 204 ? null : body, res),
      answeredMs,
    };
  }
}
