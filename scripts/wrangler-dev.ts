import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export type WranglerDevOptions = {
  ip: string;
  port: number | string;
  /** Plain vars, on the command line as `--var NAME:value`: only what anyone may read (URLs). */
  vars: Record<string, string>;
  /** Secrets: written to a file only this user can read, never on the command line. */
  secrets: Record<string, string>;
  /** More `wrangler dev` flags. */
  extraArgs?: readonly string[];
};

export type WranglerDevLaunch = {
  command: string;
  args: string[];
  /** Set on the child's environment (over the parent's). */
  env: NodeJS.ProcessEnv;
  /** Where the secrets are, until dispose(). */
  secretsFile: string;
  /** Removes the secrets file and its directory. Synchronous, so an `exit` handler can call it. */
  dispose: () => void;
};

/**
 * How `npm start` launches `wrangler dev` without a secret on its command line: any user on the
 * machine reads every process's argv (`ps`, /proc/<pid>/cmdline), so `--var SECRET:value` gave
 * the edge assertion secret and the quota store's token to all of them (issue 13, finding 11).
 *
 * The secrets go to a dotenv file made with mode 0600 in a fresh 0700 directory under the temp
 * dir, named by `--env-file` (wrangler 4 reads it as `.dev.vars`, as secret bindings). Not the
 * project's own `.dev.vars`: writing that would clobber a developer's file, and removing it would
 * lose it; theirs, when there is one, is passed first so its values still apply and ours win
 * (with `--env-file`, wrangler no longer reads `.dev.vars` by itself). Not the environment:
 * wrangler takes secrets from it only with CLOUDFLARE_INCLUDE_PROCESS_ENV, which hands the
 * Worker every variable of the process. Only a process killed with SIGKILL leaves the file
 * behind, still readable by its owner alone.
 *
 * @example
 *   const launch = prepareWranglerDev({ ip: '127.0.0.1', port: 8787, vars: { ORIGIN_URL }, secrets: { EDGE_ASSERTION_SECRET } });
 *   process.on('exit', launch.dispose);
 *   spawn(launch.command, launch.args, { env: { ...process.env, ...launch.env } });
 */
export function prepareWranglerDev(options: WranglerDevOptions): WranglerDevLaunch {
  for (const name of Object.keys(options.vars))
    if (/secret|token|password|key/i.test(name))
      throw new Error(`prepareWranglerDev: ${name} looks like a secret; pass it in \`secrets\``);
  const lines = Object.entries(options.secrets).map(([name, value]) => {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name))
      throw new Error(`prepareWranglerDev: ${name} is not a variable name`);
    // Single quotes: dotenv takes the value literally. Never the value in the message.
    if (/['\r\n]/.test(value))
      throw new Error(`prepareWranglerDev: ${name} holds a quote or a line break`);
    return `${name}='${value}'\n`;
  });
  const dir = mkdtempSync(join(tmpdir(), 'estate-edge-dev-vars-'));
  const secretsFile = join(dir, 'secrets.env');
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  try {
    // `wx`: never through a file (or a link) someone placed there; mode applies at creation.
    writeFileSync(secretsFile, lines.join(''), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    dispose();
    throw error;
  }
  const developerVars = join(root, '.dev.vars');
  return {
    command: process.execPath,
    args: [
      join(root, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--ip',
      options.ip,
      '--port',
      String(options.port),
      ...Object.entries(options.vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
      ...(existsSync(developerVars) ? ['--env-file', developerVars] : []),
      '--env-file',
      secretsFile,
      ...(options.extraArgs ?? []),
    ],
    env: {
      WRANGLER_SEND_METRICS: 'false',
      // wrangler reads --env-file only while this is not "false"; a developer's setting of it
      // must not silently drop the secrets.
      CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'true',
    },
    secretsFile,
    dispose,
  };
}
