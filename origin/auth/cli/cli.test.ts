import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { verifyPassword } from '../password.js';
import { runKeysCli } from './keys.js';
import { type CliIo, UsageError } from './run.js';
import { runUserCli } from './user.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

function io(env: Record<string, string | undefined> = {}, prompt = 'prompted password!') {
  const lines: string[] = [];
  const prompts: string[] = [];
  const value: CliIo = {
    db: t.db,
    env,
    out: (line) => lines.push(line),
    promptSecret: async (q) => {
      prompts.push(q);
      return prompt;
    },
  };
  return { io: value, lines, prompts };
}

describe('npm run user', () => {
  it('creates the first admin with the password from ESTATE_USER_PASSWORD, hashed', async () => {
    const { io: cli, lines, prompts } = io({ ESTATE_USER_PASSWORD: 'env password 123' });
    expect(
      await runUserCli(['create', '--email', 'Boss@Example.com', '--role', 'admin'], cli),
    ).toBe(0);
    expect(prompts).toEqual([]);
    expect(lines[0]).toMatch(/created user \d+ boss@example.com \(role admin, plan admin\)/);
    const [row] = await t.db.rows<{ password_hash: string }>(
      sql`SELECT password_hash FROM users WHERE email = 'boss@example.com'`,
    );
    expect(await verifyPassword('env password 123', row?.password_hash ?? '')).toBe(true);
  });

  it('asks for the password when the variable is unset, and refuses --password and short ones', async () => {
    const { io: cli, prompts } = io();
    expect(await runUserCli(['create', '--email', 'a@example.com', '--role', 'user'], cli)).toBe(0);
    expect(prompts).toEqual(['password for a@example.com: ']);
    await expect(
      runUserCli(['create', '--email', 'b@example.com', '--role', 'user', '--password', 'x'], cli),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(
      runUserCli(
        ['create', '--email', 'c@example.com', '--role', 'user'],
        io({ ESTATE_USER_PASSWORD: 'short' }).io,
      ),
    ).rejects.toThrow(/at least 12/);
    await expect(
      runUserCli(['create', '--email', 'A@EXAMPLE.com', '--role', 'user'], cli),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      runUserCli(['create', '--email', 'd@example.com', '--role', 'root'], cli),
    ).rejects.toThrow(/--role/);
  });

  it('lists, changes a role (audited with before and after) and disables', async () => {
    const { io: cli, lines } = io();
    expect(
      await runUserCli(
        ['set-role', '--email', 'a@example.com', '--role', 'engineer', '--plan', 'pro'],
        cli,
      ),
    ).toBe(0);
    expect(await runUserCli(['disable', '--email', 'a@example.com'], cli)).toBe(0);
    expect(await runUserCli(['list'], cli)).toBe(0);
    expect(lines.find((l) => l.includes('a@example.com\tengineer\tpro\tdisabled'))).toBeDefined();
    const [audit] = await t.db.rows<{ actor: string; details: unknown }>(
      sql`SELECT actor, details FROM audit_log WHERE action = 'user.set_role'`,
    );
    expect(audit?.actor).toMatch(/^cli:/);
    expect(audit?.details).toEqual({
      from: { role: 'user', plan: 'standard' },
      to: { role: 'engineer', plan: 'pro' },
    });
    await expect(
      runUserCli(['disable', '--email', 'nobody@example.com'], cli),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(runUserCli(['frobnicate'], cli)).rejects.toBeInstanceOf(UsageError);
  });
});

describe('npm run keys', () => {
  it('rotates, lists and retires expired keys, auditing each change', async () => {
    const { io: cli, lines } = io({});
    expect(await runKeysCli(['rotate'], cli)).toBe(0);
    expect(await runKeysCli(['rotate'], cli)).toBe(0);
    expect(lines.some((l) => l.startsWith('retiring '))).toBe(true);
    lines.length = 0;
    expect(await runKeysCli(['list'], cli)).toBe(0);
    expect(lines.map((l) => l.split('\t')[1])).toEqual(['active', 'retiring']);
    await t.db.rows(
      sql`UPDATE signing_keys SET verify_until = now() - interval '1 second' WHERE status = 'retiring'`,
    );
    lines.length = 0;
    expect(await runKeysCli(['retire-expired'], cli)).toBe(0);
    expect(lines[0]).toMatch(/^retired /);
    const actions = await t.db.rows<{ action: string }>(
      sql`SELECT action FROM audit_log WHERE action LIKE 'signing_key.%' ORDER BY id`,
    );
    expect(actions.map((a) => a.action)).toEqual([
      'signing_key.rotate',
      'signing_key.rotate',
      'signing_key.retire',
    ]);
  });
});
