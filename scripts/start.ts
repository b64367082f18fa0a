/**
 * `npm start`: the whole platform on this machine. The origin first (it migrates, loads the sample
 * on a fresh install, then listens), the Upstash-compatible REST endpoint in front of the local
 * Redis when one answers (the Worker's quotas live there), then the edge Worker in `wrangler dev`
 * pointed at both. Ctrl-C stops everything. The origin alone is `npm run start:origin`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Cron } from 'croner';
import { unstable_readConfig } from 'wrangler';
import { type RedisRest, startRedisRest } from './redis-rest/server.js';
import { prepareWranglerDev, type WranglerDevLaunch } from './wrangler-dev.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const originPort = process.env.PORT ?? '3000';
const edgePort = process.env.EDGE_PORT ?? '8787';
const children: ChildProcess[] = [];
/** `wrangler dev`'s launch, holding the secrets file until exit. */
let edgeLaunch: WranglerDevLaunch | undefined;
// The origin only trusts requests the Worker signed: a fresh shared secret per run, handed to the
// origin through its environment and to `wrangler dev` in a file only this user can read
// (scripts/wrangler-dev.ts), removed on exit. Never on a command line: `ps` shows those to all.
const edgeAssertionSecret =
  process.env.EDGE_ASSERTION_SECRET ?? randomBytes(32).toString('base64url');

/**
 * On Linux, `setpriv --pdeathsig KILL` makes the kernel kill a child whose parent died, even by
 * SIGKILL, when no handler of ours can run (scripts/lib/spawn-tied.ts does the same for tests).
 */
const DIE_WITH_PARENT = existsSync('/usr/bin/setpriv')
  ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--']
  : [];

/** How long the children get to stop before they are killed: the origin drains for up to 10 s
 * (SHUTDOWN_TIMEOUT_MS) in production, but a local run has nothing worth waiting for, and a
 * supervisor restarting `npm start` must find the ports free within its own 10 s. */
const STOP_BUDGET_MS = 7000;

function run(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  const [first, ...rest] = [...DIE_WITH_PARENT, command, ...args] as [string, ...string[]];
  const child = spawn(first, rest, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group, so a stop reaches what it starts too (tsx's esbuild, wrangler's
    // workerd), and a Ctrl-C at the terminal reaches it only through stop(), once.
    detached: true,
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    // Whatever it left in its group (a workerd whose wrangler died) goes with it.
    signalGroup(child, 'SIGKILL');
    if (!stopping) {
      console.error(`[start] ${name} exited (${signal ?? code}); stopping`);
      stop(code ?? 1);
    }
  });
  return child;
}

/** Signal a child's whole process group; one that is gone already is fine. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has no process left.
  }
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

let stopping = false;
/**
 * Stop everything this started and exit once all of it is gone: SIGTERM, SIGINT or a child that
 * died. The origin drains on SIGTERM; wrangler dev exits on SIGINT (it ignores SIGTERM) and stops
 * its workerd. Whatever is still alive after STOP_BUDGET_MS is killed with its process group, so
 * nothing outlives `npm start` and its ports are free when it has exited.
 */
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children) signalGroup(child, child === children[0] ? 'SIGTERM' : 'SIGINT');
  const closing = [redisRest?.close().catch(() => {}), ...children.map(exited)];
  const deadline = setTimeout(() => {
    console.error('[start] still stopping; killing what is left');
    for (const child of children) signalGroup(child, 'SIGKILL');
  }, STOP_BUDGET_MS);
  void Promise.all(closing).then(() => {
    clearTimeout(deadline);
    edgeLaunch?.dispose();
    process.exit(code);
  });
}
process.on('exit', () => {
  edgeLaunch?.dispose();
  for (const child of children) signalGroup(child, 'SIGKILL');
});
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
// The terminal went away (ssh dropped): the same as Ctrl-C.
process.on('SIGHUP', () => stop(0));

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const quota: { vars: Record<string, string>; secrets: Record<string, string> } = {
  vars: {},
  secrets: {},
};
let redisRest: RedisRest | undefined;
if (await redisAnswers(redisUrl)) {
  const token = randomBytes(24).toString('base64url');
  redisRest = await startRedisRest({
    redisUrl,
    token,
    port: Number(process.env.REDIS_REST_PORT ?? 8079),
    log: (line) => console.error(`[redis-rest] ${line}`),
  });
  quota.vars.UPSTASH_REDIS_REST_URL = redisRest.url;
  quota.secrets.UPSTASH_REDIS_REST_TOKEN = token;
  console.log(`[start] quotas on: Redis at ${redisUrl} through ${redisRest.url}`);
} else {
  console.log(
    `[start] quotas off: no Redis answers at ${redisUrl} (set REDIS_URL to use one). The Worker serves without quotas (RATE_LIMIT_FAIL_MODE=open); the burst guard still holds.`,
  );
}

const origin = run('origin', process.execPath, ['--import', 'tsx', 'origin/index.ts'], {
  PORT: originPort,
  EDGE_ASSERTION_SECRET: edgeAssertionSecret,
});
let edgeStarted = false;
let cronsStarted = false;
origin.stdout?.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!stopping && !edgeStarted && chunk.toString().includes('origin listening on')) {
    edgeStarted = true;
    edgeLaunch = prepareWranglerDev({
      ip: '127.0.0.1',
      port: edgePort,
      vars: { ORIGIN_URL: `http://127.0.0.1:${originPort}`, ...quota.vars },
      secrets: { EDGE_ASSERTION_SECRET: edgeAssertionSecret, ...quota.secrets },
      extraArgs: [
        '--show-interactive-dev-session=false',
        // `wrangler dev` never fires Cron Triggers by itself; this exposes /__scheduled so the
        // crons below can.
        '--test-scheduled',
      ],
    });
    const edge = run('edge', edgeLaunch.command, edgeLaunch.args, edgeLaunch.env);
    edge.stdout?.on('data', (out: Buffer) => {
      const text = out.toString();
      process.stdout.write(text.replace(/^(?=.)/gm, '[edge] '));
      if (/Ready on/.test(text) && !cronsStarted) {
        cronsStarted = true;
        fireCronsLocally(`http://127.0.0.1:${edgePort}`);
        console.log(
          `\nestate-edge is up: open the edge, it is the address clients use\n  edge   http://127.0.0.1:${edgePort}  (map viewer at /, try /v1/listings?bbox=-122.4,47.5,-122.2,47.7&limit=5)\n  origin http://127.0.0.1:${originPort}  (refuses requests that did not come through the edge)\n  quotas ${redisRest ? `on (${redisRest.url})` : 'off (no Redis)'}\n`,
        );
      }
    });
  }
});

/** A PING answered with PONG within a second: a Redis we can use (not just an open port). */
function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    // A Redis with a password answers -NOAUTH: it is there, but the adapter needs REDIS_URL's password.
    socket.once('data', (data) => done(/^\+PONG|^-NOAUTH/.test(data.toString())));
  });
}

/**
 * The Worker's Cron Triggers, fired on their schedule against `wrangler dev` (which exposes
 * `/__scheduled?cron=` with --test-scheduled), so a local run records health history and starts
 * scheduled ETL as production does. Times are UTC, like Cloudflare's.
 */
function fireCronsLocally(edgeUrl: string): void {
  const crons: string[] =
    unstable_readConfig({ config: `${root}wrangler.toml` }).triggers.crons ?? [];
  for (const expression of crons) {
    new Cron(expression, { timezone: 'UTC', protect: true }, async () => {
      try {
        const res = await fetch(`${edgeUrl}/__scheduled?cron=${encodeURIComponent(expression)}`);
        await res.body?.cancel();
        if (!res.ok) console.error(`[cron] ${expression}: the Worker answered ${res.status}`);
      } catch (error) {
        console.error(`[cron] ${expression}: ${(error as Error).message}`);
      }
    });
  }
  console.log(
    crons.length > 0
      ? `[start] firing the Worker's crons locally: ${crons.join(', ')}`
      : '[start] no Cron Triggers in wrangler.toml',
  );
}
