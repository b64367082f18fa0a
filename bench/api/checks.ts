/**
 * The API benchmark's checks before measuring: the workload's shape (what each request returns,
 * run once directly, which also warms the caches the same way for both sides), and the origin
 * answering like the direct call it is compared with.
 */
import type { Database } from '../../origin/db/database.js';
import { median } from '../lib/stats.js';
import { type CallShape, type Endpoint, executeDirect, type Workload } from './workload.js';

export type Shape = { calls: number; medianItems: number; fullPages: number; medianBytes?: number };

/** Run every request's database work once: the workload's shape, and a warm cache for both sides. */
export async function shapeOf(db: Database, workload: Workload, endpoints: Endpoint[]) {
  const shapes = {} as Record<Endpoint, Shape>;
  for (const e of endpoints) {
    const results: CallShape[] = [];
    for (const r of workload[e]) results.push(await executeDirect(db, r.call));
    const bytes = results.flatMap((r) => (r.bytes === undefined ? [] : [r.bytes]));
    shapes[e] = {
      calls: results.length,
      medianItems: median(results.map((r) => r.items)),
      fullPages: results.filter((r) => r.items >= 50).length / results.length,
      ...(bytes.length > 0 ? { medianBytes: median(bytes) } : {}),
    };
  }
  return shapes;
}

/** The origin must answer each endpoint's first request with what the direct call returns. */
export async function checkAgainstDirect(
  db: Database,
  port: number,
  workload: Workload,
  e: Endpoint,
) {
  const request = workload[e][0];
  if (!request) throw new Error(`no requests for ${e}`);
  const response = await fetch(`http://127.0.0.1:${port}${request.path}`);
  const body = new Uint8Array(await response.arrayBuffer());
  if (response.status !== 200)
    throw new Error(
      `GET ${request.path}: ${response.status} ${new TextDecoder().decode(body).slice(0, 300)}`,
    );
  const direct = await executeDirect(db, request.call);
  let got: number;
  if (request.call.kind === 'tile') got = body.byteLength;
  else {
    const json = JSON.parse(new TextDecoder().decode(body)) as {
      items?: unknown[];
      groups?: { count: number }[];
    };
    got = json.items?.length ?? json.groups?.reduce((s, g) => s + g.count, 0) ?? -1;
  }
  const want = request.call.kind === 'tile' ? (direct.bytes ?? 0) : direct.items;
  if (got !== want)
    throw new Error(`GET ${request.path} and its direct call disagree: ${got} against ${want}`);
}
