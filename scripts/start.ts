/**
 * `npm start`: the whole platform on this machine. The origin first (it migrates, loads the sample
 * on a fresh install, then listens), then the edge Worker in `wrangler dev` pointed at it. Ctrl-C
 * stops both. The origin alone is `npm run start:origin`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const originPort = process.env.PORT ?? '3000';
const edgePort = process.env.EDGE_PORT ?? '8787';
const children: ChildProcess[] = [];
// The origin only trusts requests the Worker signed: a fresh shared secret per run, handed to both
// through the environment and a `wrangler dev` var, never written down.
const edgeAssertionSecret =
  process.env.EDGE_ASSERTION_SECRET ?? randomBytes(32).toString('base64url');

function run(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[start] ${name} exited (${signal ?? code}); stopping`);
      stop(code ?? 1);
    }
  });
  return child;
}

let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  // The origin drains on SIGTERM; wrangler dev exits on SIGINT (it ignores SIGTERM). Whatever is
  // still alive after the grace period is killed, so nothing outlives `npm start`.
  for (const child of children) child.kill(child === children[0] ? 'SIGTERM' : 'SIGINT');
  setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    process.exit(code);
  }, 3000);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const origin = run('origin', process.execPath, ['--import', 'tsx', 'origin/index.ts'], {
  PORT: originPort,
  EDGE_ASSERTION_SECRET: edgeAssertionSecret,
});
let edgeStarted = false;
origin.stdout?.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!edgeStarted && chunk.toString().includes('origin listening on')) {
    edgeStarted = true;
    const edge = run(
      'edge',
      process.execPath,
      [
        'node_modules/wrangler/bin/wrangler.js',
        'dev',
        '--ip',
        '127.0.0.1',
        '--port',
        edgePort,
        '--var',
        `ORIGIN_URL:http://127.0.0.1:${originPort}`,
        '--var',
        `EDGE_ASSERTION_SECRET:${edgeAssertionSecret}`,
        '--show-interactive-dev-session=false',
      ],
      { WRANGLER_SEND_METRICS: 'false' },
    );
    edge.stdout?.on('data', (out: Buffer) => {
      const text = out.toString();
      process.stdout.write(text.replace(/^(?=.)/gm, '[edge] '));
      if (/Ready on/.test(text)) {
        console.log(
          `\nestate-edge is up:\n  edge   http://127.0.0.1:${edgePort}  (try /v1/listings?bbox=-122.4,47.5,-122.2,47.7&limit=5)\n  origin http://127.0.0.1:${originPort}\n`,
        );
      }
    });
  }
});
