import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { read, root } from './compose-file.js';

/**
 * A private PostgreSQL 15 + PostGIS cluster configured as the compose `db` service is: the tuned
 * origin/postgres/postgresql.conf as the whole configuration, scram-sha-256 over TCP, and
 * origin/postgres/initdb/20-estate.sh run as the image's entrypoint runs it. Private because the
 * init script creates server-wide roles with fixed names (estate_owner, estate_app, ...), which a
 * shared test server must not get (test/analytics-role.test.ts explains why).
 */
export type Cluster = {
  dir: string;
  port: number;
  /** Stop the server at once and remove its files. */
  stop: () => void;
};

const PG_BIN = existsSync('/usr/lib/postgresql/15/bin') ? '/usr/lib/postgresql/15/bin' : '';
export const pgBin = (name: string) => (PG_BIN ? join(PG_BIN, name) : name);

/** The server refuses to run as root: when the tests do, the cluster belongs to `postgres`. */
function asClusterOwner(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0
    ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
    : [command, args];
}

function run(command: string, args: string[]) {
  const [cmd, argv] = asClusterOwner(command, args);
  const result = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${command} failed (${result.status}): ${result.stderr || result.error}`);
  }
  return result.stdout;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** initdb and start a cluster with the db service's configuration, on a free loopback port. */
export async function startCluster(prefix = 'estate-initdb-'): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  // The config is copied next to the cluster: the server reads it as its own user.
  const config = join(dir, 'postgresql.conf');
  writeFileSync(config, read('origin/postgres/postgresql.conf'));
  if (process.getuid?.() === 0) chownSync(config, statSync(dir).uid, statSync(dir).gid);
  run(pgBin('initdb'), [
    '-D',
    join(dir, 'data'),
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  // The tuned file as the whole configuration, as in compose; only where to listen and the
  // memory are overridden: the machine running tests is not the 4 GB db container.
  const options = [
    `-c config_file=${config}`,
    '-c listen_addresses=127.0.0.1',
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    '-c shared_buffers=128MB',
  ].join(' ');
  run(pgBin('pg_ctl'), [
    '-D',
    join(dir, 'data'),
    '-w',
    '-l',
    join(dir, 'log'),
    '-o',
    options,
    'start',
  ]);
  return {
    dir,
    port,
    stop: () => {
      try {
        run(pgBin('pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export type InitResult = { code: number | null; stderr: string; stdout: string };

/**
 * Run postgres/initdb/20-estate.sh as the image would, against the cluster: each password in a
 * file named by `<NAME>_FILE`, as compose's secrets deliver them.
 */
export function runInitScript(
  cluster: Pick<Cluster, 'dir' | 'port'>,
  passwords: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<InitResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: cluster.dir,
    PGPORT: String(cluster.port),
    POSTGRES_USER: 'postgres',
    ESTATE_DB_ROLES_SQL: join(root, 'scripts/db-roles.sql'),
  };
  for (const [name, value] of Object.entries(passwords)) {
    const file = join(cluster.dir, `${name}.secret`);
    writeFileSync(file, value, { mode: 0o600 });
    env[`${name}_FILE`] = file;
  }
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, 'origin/postgres/initdb/20-estate.sh')], {
      env: { ...env, ...extra },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stderr, stdout }));
  });
}
