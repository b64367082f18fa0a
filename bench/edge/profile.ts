/**
 * Where a Worker's JavaScript time goes, from a V8 CPU profile taken through workerd's DevTools
 * inspector while the Worker is under load. Attribution is by source module: wrangler's bundle
 * (esbuild, not minified) opens each module with a `// <path>` comment, so a sampled line maps to
 * `node_modules/hono/dist/context.js` or `edge/middleware/edge-cache/index.ts` without a source
 * map. Time in workerd's own code (Response, Headers, fetch, the Cache API, console.log) is charged
 * to the module whose code called it; `(program)` is workerd outside any JavaScript (its HTTP
 * server and client, I/O).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import type { WorkerBundle } from './build.js';

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

/** The part of `ws` (a dependency of miniflare) used here; it ships no types of its own. */
type WebSocketLike = {
  on(event: 'message', listener: (data: Buffer) => void): void;
  once(event: 'open' | 'error' | 'close', listener: (arg?: unknown) => void): void;
  send(data: string): void;
  close(): void;
};
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string) => WebSocketLike;

export type ProfileShare = { where: string; ms: number; share: number };
export type WorkerProfile = {
  /** Sampled time the isolate was not idle. */
  busyMs: number;
  byModule: ProfileShare[];
  byFunction: ProfileShare[];
};

/** DevTools protocol over one WebSocket: numbered calls, answers matched by id. */
async function connect(url: string) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  return {
    call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve) => {
        waiting.set(id, (result) => resolve(result as T));
        socket.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => socket.close(),
  };
}

/**
 * esbuild names modules relative to where wrangler ran (`../../work/main/node_modules/...` for a
 * config outside the repository): keep what reads the same everywhere.
 */
function readable(path: string): string {
  const packages = path.lastIndexOf('node_modules/');
  if (packages >= 0) return path.slice(packages);
  return /(?:^|\/)((?:edge|bench|origin)\/.+)$/.exec(path)?.[1] ?? path;
}

/** Line (0-based) → the module it belongs to, from the bundle's `// <path>` comments. */
async function moduleIndex(bundle: WorkerBundle): Promise<(line: number) => string> {
  const lines = (await readFile(bundle.scriptPath, 'utf8')).split('\n');
  const starts: [number, string][] = [];
  for (const [i, line] of lines.entries()) {
    const path = /^\/\/ (\S+\.[cm]?[jt]sx?)$/.exec(line)?.[1];
    if (path) starts.push([i, readable(path)]);
  }
  return (line) => {
    let found = '(bundle preamble)';
    for (const [start, path] of starts) {
      if (start > line) break;
      found = path;
    }
    return found;
  };
}

/**
 * Profile the Worker behind `inspectorPort` while `work` runs; `samplingUs` between samples.
 *
 * @example
 *   const { result, profile } = await profileDuring(port, bundle, () => load.ask(job, 60_000));
 */
export async function profileDuring<T>(
  inspectorPort: number,
  bundle: WorkerBundle,
  work: () => Promise<T>,
  samplingUs = 200,
): Promise<{ result: T; profile: WorkerProfile }> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const target = targets[0]?.webSocketDebuggerUrl;
  if (!target) throw new Error(`no inspector target on port ${inspectorPort}`);
  const devtools = await connect(target);
  try {
    await devtools.call('Profiler.enable');
    await devtools.call('Profiler.setSamplingInterval', { interval: samplingUs });
    await devtools.call('Profiler.start');
    const result = await work();
    const { profile } = await devtools.call<{ profile: CpuProfile }>('Profiler.stop');
    return { result, profile: summarizeProfile(profile, await moduleIndex(bundle), bundle) };
  } finally {
    devtools.close();
  }
}

function summarizeProfile(
  profile: CpuProfile,
  moduleOf: (line: number) => string,
  bundle: WorkerBundle,
): WorkerProfile {
  const entry = basename(bundle.scriptPath);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parents.set(child, node.id);
  const inBundle = (frame: CallFrame) => frame.url.endsWith(entry);
  /** The nearest frame, itself included, that is code of the bundle. */
  const bundleFrame = (id: number): CallFrame | undefined => {
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const frame = nodes.get(at)?.callFrame;
      if (frame && inBundle(frame)) return frame;
    }
    return undefined;
  };
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busyUs = 0;
  for (const [i, id] of profile.samples.entries()) {
    const frame = nodes.get(id)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    if (!frame || frame.functionName === '(idle)') continue;
    busyUs += us;
    // Time in workerd's own code (Response, Headers, fetch, console.log...) is charged to the
    // module that called it: what a change to that module could save.
    const owner = bundleFrame(id);
    const module = owner
      ? moduleOf(owner.lineNumber)
      : frame.functionName.startsWith('(')
        ? frame.functionName
        : '(runtime, no bundle code on the stack)';
    const name = frame.functionName || '(anonymous)';
    const fn = inBundle(frame)
      ? `${name} ${module}`
      : `${name} [runtime] ← ${owner ? `${owner.functionName || '(anonymous)'} ${module}` : 'no bundle code'}`;
    byModule.set(module, (byModule.get(module) ?? 0) + us);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const shares = (m: Map<string, number>) =>
    [...m.entries()]
      .map(([where, us]) => ({ where, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }))
      .sort((a, b) => b.ms - a.ms);
  return { busyMs: busyUs / 1000, byModule: shares(byModule), byFunction: shares(byFunction) };
}
