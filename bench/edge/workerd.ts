/**
 * A Worker bundle served by `workerd serve` itself, with a Cap'n Proto config written here: no
 * Miniflare (whose entry Worker runs in front of the user's on every request, and whose Cache API
 * is a Durable Object over SQLite), no Node process in the path. What Miniflare would provide is
 * declared directly:
 * - the Cache API goes to the stand-in of bench/edge/cache-worker.ts (`cacheApiOutbound`);
 * - the `BURST_LIMITER` rate-limit binding is Miniflare's own in-memory module, wired as the
 *   wrapped binding Miniflare declares for it;
 * - outbound fetches may reach loopback (workerd's default "internet" allows public addresses only).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { WorkerBundle } from './build.js';

const require = createRequire(import.meta.url);
const workerdBin = join(dirname(require.resolve('workerd/package.json')), 'bin/workerd');
const rateLimitModule = join(
  dirname(require.resolve('miniflare')),
  'workers/ratelimit/ratelimit.worker.js',
);
// If the process that started it dies without stopping it (SIGKILL, a crash), the kernel ends
// workerd too (Linux; as scripts/lib/redis-server.ts does for redis-server).
const DIE_WITH_PARENT = existsSync('/usr/bin/setpriv')
  ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--']
  : [];
/** The name Miniflare gives the module; workerd only loads internal modules under this scheme. */
const RATE_LIMIT_MODULE = 'cloudflare-internal:ratelimit:module';

export type WorkerdOptions = {
  /** Names the config and var files written next to the bundle (several may share a bundle). */
  name: string;
  bundle: WorkerBundle;
  compatibilityDate: string;
  /** Strings become text bindings; anything else (TOML tables) JSON bindings, as wrangler does. */
  vars: Record<string, unknown>;
  /** The BURST_LIMITER binding's limit per 10 s; absent: no binding. */
  burstLimit?: number;
  /** The cache stand-in's bundle; absent: no Cache API. */
  cache?: WorkerBundle;
  /** workerd's stdout (the Worker's console.log lines); discarded when absent. */
  onStdout?: (stream: Readable) => void;
  /** Open the DevTools inspector on a free port of 127.0.0.1 (for CPU profiles). */
  inspector?: boolean;
};

export type RawWorkerd = {
  url: string;
  port: number;
  pid: number;
  /** The inspector's port, when asked for. */
  inspectorPort?: number;
  stop(): Promise<void>;
};

/** A capnp string literal: JSON's escapes are a subset of capnp's. */
const capnp = (text: string) => JSON.stringify(text);

/**
 * Serve a bundle on a free port of 127.0.0.1; resolves once workerd listens.
 *
 * @example
 *   const w = await serveWithWorkerd({ name: 'bare', bundle, compatibilityDate, vars: { BODY: '{}' } });
 *   await fetch(`${w.url}/`);
 *   await w.stop();
 */
export async function serveWithWorkerd(options: WorkerdOptions): Promise<RawWorkerd> {
  const root = options.bundle.modulesRoot;
  const entry = basename(options.bundle.scriptPath);
  const bindings: string[] = [];
  for (const [i, [name, value]] of Object.entries(options.vars).entries()) {
    // Embedded from a file: the value is used byte for byte, whatever it contains.
    const file = `${options.name}-var-${i}.txt`;
    const text = typeof value === 'string';
    await writeFile(join(root, file), text ? value : JSON.stringify(value));
    bindings.push(`(name = ${capnp(name)}, ${text ? 'text' : 'json'} = embed ${capnp(file)})`);
  }
  const services = [
    '(name = "main", worker = .worker)',
    // Loopback included: the origin and the quota store listen on 127.0.0.1.
    '(name = "internet", network = (allow = ["public", "private", "local"]))',
  ];
  const extensions: string[] = [];
  if (options.burstLimit !== undefined) {
    await copyFile(rateLimitModule, join(root, 'bench-ratelimit.js'));
    extensions.push(
      `(modules = [ (name = ${capnp(RATE_LIMIT_MODULE)}, esModule = embed "bench-ratelimit.js", internal = true) ])`,
    );
    const inner = [
      '(name = "namespaceId", json = "\\"BURST_LIMITER\\"")',
      `(name = "limit", json = ${capnp(String(options.burstLimit))})`,
      '(name = "period", json = "10")',
    ];
    bindings.push(
      `(name = "BURST_LIMITER", wrapped = (moduleName = ${capnp(RATE_LIMIT_MODULE)}, innerBindings = [ ${inner.join(', ')} ]))`,
    );
  }
  let cacheOutbound = '';
  let cacheWorker = '';
  if (options.cache) {
    await copyFile(options.cache.scriptPath, join(root, 'bench-cache.js'));
    services.push('(name = "cache", worker = .cache)');
    cacheOutbound = 'cacheApiOutbound = "cache",';
    cacheWorker = `const cache :Workerd.Worker = (
  modules = [ (name = "bench-cache.js", esModule = embed "bench-cache.js") ],
  compatibilityDate = ${capnp(options.compatibilityDate)},
);`;
  }
  const configPath = join(root, `${options.name}.capnp`);
  await writeFile(
    configPath,
    `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ ${services.join(', ')} ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
  extensions = [ ${extensions.join(', ')} ],
);

const worker :Workerd.Worker = (
  modules = [ (name = ${capnp(entry)}, esModule = embed ${capnp(entry)}) ],
  compatibilityDate = ${capnp(options.compatibilityDate)},
  bindings = [ ${bindings.join(', ')} ],
  globalOutbound = "internet",
  ${cacheOutbound}
);

${cacheWorker}
`,
  );
  // fd 3: workerd reports each socket's port there once it listens (Miniflare reads it too).
  const [command, ...args] = [
    ...DIE_WITH_PARENT,
    workerdBin,
    'serve',
    configPath,
    '--control-fd=3',
    ...(options.inspector ? ['--inspector-addr=127.0.0.1:0'] : []),
  ];
  const child = spawn(command as string, args, {
    stdio: ['ignore', options.onStdout ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (options.onStdout && child.stdout) options.onStdout(child.stdout);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    // After start-up, what the Worker writes to stderr (console.warn/error) is worth seeing.
    if (started) process.stderr.write(chunk);
  });
  let started = false;
  let inspectorPort: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`workerd did not listen within 30 s: ${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`workerd exited (${code}) before listening: ${stderr}`));
    });
    createInterface(child.stdio[3] as Readable).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; socket?: string; port?: number };
      // The inspector's port is reported first, when there is one.
      if (event.event === 'listen-inspector') inspectorPort = event.port;
      if (event.event === 'listen' && event.socket === 'http' && event.port) {
        clearTimeout(timer);
        started = true;
        resolve(event.port);
      }
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    ...(inspectorPort ? { inspectorPort } : {}),
    stop: () => stopProcess(child),
  };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(force);
}
