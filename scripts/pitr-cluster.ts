import { spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A throwaway PostgreSQL 15 cluster archiving its WAL with pgBackRest exactly as the compose db
 * service does: origin/postgres/postgresql.conf as its whole configuration and
 * origin/postgres/pgbackrest.conf as pgBackRest's, with only paths, port and memory changed.
 * For test/pitr.test.ts and scripts/pitr-measure.ts (the RPO and RTO numbers in docs/backups.md).
 *
 * @example
 *   const cluster = await startPitrCluster();
 *   cluster.pgbackrest(['stanza-create']);
 *   cluster.pgbackrest(['backup', '--type=full']);
 *   cluster.sql('CREATE TABLE t (id int)');
 *   cluster.cleanup();
 */
export type PitrCluster = {
  dir: string;
  data: string;
  port: number;
  /** The environment every pgBackRest and server process gets: its config file, the binaries. */
  env: Record<string, string>;
  /** Run SQL over the cluster's socket; the unaligned, tuples-only output. */
  sql: (sql: string, database?: string) => string;
  /** `pgbackrest --stanza=estate <args>` as the cluster's owner. */
  pgbackrest: (args: string[]) => string;
  /** Run a command as the cluster's owner with the cluster's environment. */
  run: (command: string, args: string[], extraEnv?: Record<string, string>) => string;
  start: () => void;
  /** Wait until recovery is over and the server accepts writes (after a restore). */
  waitUntilPrimary: (timeoutMs?: number) => void;
  stop: (mode?: 'fast' | 'immediate') => void;
  /** The disaster: stop at once and delete the data directory. */
  destroyData: () => void;
  /** Stop if running, remove everything. */
  cleanup: () => void;
};

export const STANZA = 'estate';
export const root = fileURLToPath(new URL('..', import.meta.url));
const PG_BIN = '/usr/lib/postgresql/15/bin';
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The settings of a postgresql.conf, last one wins, quotes removed. */
export function postgresSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z_.]+)\s*=\s*('(?:[^']|'')*'|[^#\s]+)/.exec(line);
    if (m?.[1] && m[2]) settings.set(m[1], m[2].replace(/^'(.*)'$/s, '$1').replace(/''/g, "'"));
  }
  return settings;
}

/**
 * origin/postgres/pgbackrest.conf with some options' values replaced (each must be in the file:
 * a renamed option fails here rather than silently keeping the production path) and others added
 * to [global].
 */
export function pgbackrestConfig(
  text: string,
  replace: Record<string, string>,
  addGlobal: Record<string, string>,
): string {
  let out = text;
  for (const [key, value] of Object.entries(replace)) {
    const line = new RegExp(`^${key}=.*$`, 'm');
    if (!line.test(out)) throw new Error(`pgbackrest.conf has no ${key}`);
    out = out.replace(line, `${key}=${value}`);
  }
  const added = Object.entries(addGlobal)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  return out.replace(/^\[global\]$/m, `[global]\n${added}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The server refuses to run as root: when we are root, everything runs as `postgres`. */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

export type PitrClusterOptions = {
  prefix?: string;
  /** Settings for the server beyond the shipped file (e.g. a shorter archive_timeout). */
  serverSettings?: Record<string, string>;
};

export async function startPitrCluster(options: PitrClusterOptions = {}): Promise<PitrCluster> {
  const dir = mkdtempSync(join(tmpdir(), options.prefix ?? 'estate-pitr-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const ids = owner();
  const own = (path: string) => {
    if (ids) chownSync(path, ids.uid, ids.gid);
  };
  own(dir);
  for (const sub of ['repo', 'lock', 'conf.d']) {
    mkdirSync(join(dir, sub), { mode: 0o750 });
    own(join(dir, sub));
  }

  const serverConfig = join(dir, 'postgresql.conf');
  writeFileSync(serverConfig, read('origin/postgres/postgresql.conf'));
  own(serverConfig);
  const backrestConfig = join(dir, 'pgbackrest.conf');
  writeFileSync(
    backrestConfig,
    pgbackrestConfig(
      read('origin/postgres/pgbackrest.conf'),
      {
        'repo1-path': join(dir, 'repo'),
        'pg1-path': data,
        'pg1-socket-path': dir,
        'pg1-port': String(port),
      },
      // Its own locks: two clusters on one machine must not wait for each other.
      { 'lock-path': join(dir, 'lock') },
    ),
  );
  own(backrestConfig);

  const env: Record<string, string> = {
    // archive_command and restore_command name no --config: pgBackRest finds it here, as the
    // container's server finds /etc/pgbackrest/pgbackrest.conf.
    PGBACKREST_CONFIG: backrestConfig,
    // No conf.d next to the temporary config: the machine's own must not leak in.
    PGBACKREST_CONFIG_INCLUDE_PATH: join(dir, 'conf.d'),
    PATH: `${existsSync(PG_BIN) ? `${PG_BIN}:` : ''}${process.env.PATH ?? '/usr/bin:/bin'}`,
    LANG: 'C',
  };
  const run = (command: string, args: string[], extraEnv: Record<string, string> = {}) => {
    const vars = Object.entries({ ...env, ...extraEnv }).map(([k, v]) => `${k}=${v}`);
    const [cmd, argv] = ids
      ? ['runuser', ['-u', 'postgres', '--', 'env', ...vars, command, ...args]]
      : ['env', [...vars, command, ...args]];
    const result = spawnSync(cmd, argv, { encoding: 'utf8', cwd: dir, maxBuffer: 64 << 20 });
    if (result.status !== 0) {
      throw new Error(
        `${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`,
      );
    }
    return result.stdout;
  };

  const settings = {
    config_file: serverConfig,
    listen_addresses: "''",
    port: String(port),
    unix_socket_directories: dir,
    // The machine running tests is not the 4 GB db container.
    shared_buffers: '128MB',
    ...options.serverSettings,
  };
  const serverOptions = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  let running = false;
  const start = () => {
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-t',
      '120',
      '-o',
      serverOptions,
      'start',
    ]);
    running = true;
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    if (running) run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    running = false;
  };

  run('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth-local=trust',
    '--data-checksums',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  start();
  return {
    dir,
    data,
    port,
    env,
    run,
    sql: (sql, database = 'postgres') =>
      run('psql', [
        '-X',
        '-q',
        '-At',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        dir,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        database,
        '-c',
        sql,
      ]).trim(),
    pgbackrest: (args) => run('pgbackrest', [`--stanza=${STANZA}`, ...args]),
    start,
    waitUntilPrimary: (timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (;;) {
        const inRecovery = run('psql', [
          '-X',
          '-At',
          '-h',
          dir,
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-c',
          'SELECT pg_is_in_recovery()',
        ]).trim();
        if (inRecovery === 'f') return;
        if (Date.now() > deadline) throw new Error(`still in recovery after ${timeoutMs} ms`);
        Atomics.wait(pause, 0, 0, 100);
      }
    },
    stop,
    destroyData: () => {
      stop('immediate');
      rmSync(data, { recursive: true, force: true });
    },
    cleanup: () => {
      try {
        stop('immediate');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
