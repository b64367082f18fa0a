/**
 * The operator's user command.
 *
 *   npm run user -- create --email a@b.c --role admin [--plan pro]
 *   npm run user -- list
 *   npm run user -- set-role --email a@b.c --role analyst [--plan pro]
 *   npm run user -- disable --email a@b.c
 *
 * The password comes from ESTATE_USER_PASSWORD or a prompt that does not echo; never from a flag,
 * which would land in the shell history and in `ps`. Exit code: 0 ok, 1 refused, 2 usage.
 */
import { fileURLToPath } from 'node:url';
import { type Plan, plans, type Role, roles } from '../../db/schema/users.js';
import { createUser, disableUser, listUsers, setUserRole } from '../users.js';
import { type CliIo, cliAudit, parseCliArgs, UsageError } from './run.js';

export const userUsage = [
  'usage: npm run user -- create --email <email> --role <admin|analyst|engineer|user> [--plan <plan>]',
  '       npm run user -- list',
  '       npm run user -- set-role --email <email> --role <role> [--plan <plan>]',
  '       npm run user -- disable --email <email>',
  'The password of `create` is read from ESTATE_USER_PASSWORD, or asked for without echo.',
].join('\n');

const MIN_PASSWORD = 12;

function role(value: string | undefined): Role {
  if (!value || !(roles as readonly string[]).includes(value))
    throw new UsageError(`--role must be one of ${roles.join(', ')}`);
  return value as Role;
}

function plan(value: string | undefined): Plan | undefined {
  if (value === undefined) return undefined;
  if (!(plans as readonly string[]).includes(value))
    throw new UsageError(`--plan must be one of ${plans.join(', ')}`);
  return value as Plan;
}

function email(value: string | undefined): string {
  if (!value || !/^[^\s@]+@[^\s@]+$/.test(value) || value.length > 320)
    throw new UsageError('--email must be an email address');
  return value;
}

/** Run one user command; returns the exit code. */
export async function runUserCli(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, {
    email: { type: 'string' },
    role: { type: 'string' },
    plan: { type: 'string' },
    password: { type: 'string' },
  });
  if (values.password !== undefined)
    throw new UsageError(
      '--password is refused: it would stay in the shell history; use ESTATE_USER_PASSWORD or the prompt',
    );
  const [command] = positionals;
  const audit = cliAudit();
  if (command === 'create') {
    const address = email(values.email as string | undefined);
    const r = role(values.role as string | undefined);
    const p = plan(values.plan as string | undefined);
    const password =
      io.env.ESTATE_USER_PASSWORD ?? (await io.promptSecret(`password for ${address}: `));
    if (password.length < MIN_PASSWORD)
      throw new UsageError(`the password must have at least ${MIN_PASSWORD} characters`);
    const user = await createUser(io.db, { email: address, password, role: r, plan: p, audit });
    io.out(`created user ${user.id} ${user.email} (role ${user.role}, plan ${user.plan})`);
    return 0;
  }
  if (command === 'list') {
    for (const u of await listUsers(io.db))
      io.out(
        `${u.id}\t${u.email}\t${u.role}\t${u.plan}\t${u.disabled ? 'disabled' : 'active'}\t${u.createdAt.toISOString()}`,
      );
    return 0;
  }
  if (command === 'set-role') {
    const user = await setUserRole(io.db, {
      email: email(values.email as string | undefined),
      role: role(values.role as string | undefined),
      plan: plan(values.plan as string | undefined),
      audit,
    });
    io.out(`user ${user.id} ${user.email} is now ${user.role} (plan ${user.plan})`);
    return 0;
  }
  if (command === 'disable') {
    const user = await disableUser(io.db, {
      email: email(values.email as string | undefined),
      audit,
    });
    io.out(`user ${user.id} ${user.email} is disabled; their sessions are revoked`);
    return 0;
  }
  throw new UsageError(command ? `unknown command '${command}'` : '');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { main } = await import('./main.js');
  await main('user', userUsage, runUserCli);
}
