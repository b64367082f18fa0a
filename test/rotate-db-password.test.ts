import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, pgBin, startCluster } from './support/compose-cluster.js';
import { root } from './support/compose-file.js';

/**
 * scripts/rotate-db-password.sh against a private PostgreSQL 15 cluster configured as the db
 * service (scram-sha-256 over TCP), with a scratch role: the new password logs in, the old one
 * no longer does, a session opened before stays usable, and the password reaches no log.
 */

let cluster: Cluster;
const OLD = 'a'.repeat(40);
const NEW = 'b0'.repeat(20);

const connect = (password: string) =>
  postgres({
    host: '127.0.0.1',
    port: cluster.port,
    user: 'scratch_rotation',
    password,
    database: 'postgres',
    max: 1,
    onnotice: () => {},
  });

function rotate(args: string[], newPassword: string | undefined) {
  const psql = [
    pgBin('psql'),
    '-X',
    '-q',
    '-h',
    cluster.dir,
    '-p',
    String(cluster.port),
    '-U',
    'postgres',
    '-d',
    'postgres',
  ].join(' ');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ESTATE_PSQL: psql };
  if (newPassword !== undefined) env.NEW_PASSWORD = newPassword;
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', [join(root, 'scripts/rotate-db-password.sh'), ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  cluster = await startCluster('estate-rotate-');
  const su = postgres({ host: cluster.dir, port: cluster.port, user: 'postgres', max: 1 });
  await su.unsafe(`CREATE ROLE scratch_rotation LOGIN PASSWORD '${OLD}'`);
  await su.unsafe('CREATE ROLE scratch_nologin NOLOGIN');
  // Every statement of the superuser logged: the script must turn that off for its session.
  await su.unsafe(`ALTER ROLE postgres SET log_statement = 'all'`);
  await su.end();
});
afterAll(() => cluster?.stop());

describe('scripts/rotate-db-password.sh', () => {
  it('changes the password on the running server: new logins need it, open sessions go on', async () => {
    const before = connect(OLD);
    await before`SELECT 1`;
    const result = await rotate(['scratch_rotation'], NEW);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('scratch_rotation has its new password');
    // The session opened with the old password is still usable.
    expect((await before`SELECT 1 AS one`)[0]?.one).toBe(1);
    await before.end();
    const fresh = connect(NEW);
    await fresh`SELECT 1`;
    await fresh.end();
    const stale = connect(OLD);
    await expect(stale`SELECT 1`).rejects.toThrow(/password authentication failed/);
    await stale.end();
    // Neither the server's log nor the script's output carries it.
    const log = readFileSync(join(cluster.dir, 'log'), 'utf8');
    expect(log).not.toContain(NEW);
    expect(result.stdout).not.toContain(NEW);
  });

  it('refuses a missing, short or URL-unsafe password and a bad role name, changing nothing', async () => {
    for (const [args, password, message] of [
      [['scratch_rotation'], undefined, 'NEW_PASSWORD is empty'],
      [['scratch_rotation'], 'short1', 'letters and digits only'],
      [['scratch_rotation'], `${'c'.repeat(40)}@x`, 'letters and digits only'],
      [['Robert"; DROP'], NEW, 'not a role name'],
      [[], NEW, 'usage'],
    ] as const) {
      const result = await rotate([...args], password);
      expect(result.code, message).toBe(2);
      expect(result.stderr).toContain(message);
    }
    const still = connect(NEW);
    await still`SELECT 1`;
    await still.end();
  });

  it('fails, naming the role, for a role that does not exist or cannot log in, without echoing the password', async () => {
    for (const role of ['nobody_here', 'scratch_nologin']) {
      const result = await rotate([role], 'd'.repeat(40));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`no login role named ${role}`);
      expect(result.stderr).not.toContain('d'.repeat(40));
    }
  });
});
