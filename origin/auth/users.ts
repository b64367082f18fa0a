import { asc, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { type Plan, type Role, users } from '../db/schema/users.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { type AuditContext, appendAudit } from './audit.js';
import { passwords } from './password.js';

export type UserRecord = typeof users.$inferSelect;
/** A user as shown to operators and clients: never the password hash. */
export type PublicUser = Omit<UserRecord, 'passwordHash'>;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function publicUser({ passwordHash: _, ...rest }: UserRecord): PublicUser {
  return rest;
}

export type CreateUserParams = {
  email: string;
  password: string;
  role: Role;
  plan?: Plan | undefined;
  audit: AuditContext;
};

export async function createUser(db: Database, params: CreateUserParams): Promise<PublicUser> {
  const email = normalizeEmail(params.email);
  const passwordHash = await passwords.hash(params.password);
  const plan = params.plan ?? (params.role === 'admin' ? 'admin' : 'standard');
  const [row] = await db.orm
    .insert(users)
    .values({ email, passwordHash, role: params.role, plan })
    .onConflictDoNothing()
    .returning();
  if (!row) throw new ConflictError(`a user with email ${email} already exists`);
  await appendAudit(db, {
    ...params.audit,
    action: 'user.create',
    target: `user:${row.id}`,
    outcome: 'success',
    details: { email, role: row.role, plan: row.plan },
  });
  return publicUser(row);
}

/** The user with this email, whatever its case. */
export async function findUserByEmail(
  db: Database,
  params: { email: string },
): Promise<UserRecord | undefined> {
  const [row] = await db.orm
    .select()
    .from(users)
    .where(eq(sql`lower(${users.email})`, normalizeEmail(params.email)));
  return row;
}

export async function getUser(db: Database, params: { id: number }): Promise<UserRecord> {
  const [row] = await db.orm.select().from(users).where(eq(users.id, params.id));
  if (!row) throw new NotFoundError(`no user with id ${params.id}`);
  return row;
}

export async function listUsers(db: Database): Promise<PublicUser[]> {
  const rows = await db.orm.select().from(users).orderBy(asc(users.id));
  return rows.map(publicUser);
}

export type SetRoleParams = {
  email: string;
  role: Role;
  plan?: Plan | undefined;
  audit: AuditContext;
};

/**
 * Change a user's role (and plan); audited with the old and new values. Demoted from admin
 * without a plan given, an `admin` plan falls to `standard` (createUser's default): the admin plan
 * goes with the admin role, else a demoted admin's keys keep the admin quotas. Their API keys
 * follow at the next lookup, and the edge within its bound (the credentials epoch, moved by a
 * trigger: migration 0007, docs/edge-auth.md).
 */
export async function setUserRole(db: Database, params: SetRoleParams): Promise<PublicUser> {
  return db.transaction(async (tx) => {
    const before = await findUserByEmail(tx, params);
    if (!before) throw new NotFoundError(`no user with email ${normalizeEmail(params.email)}`);
    const plan =
      params.plan ?? (params.role !== 'admin' && before.plan === 'admin' ? 'standard' : undefined);
    const [row] = await tx.orm
      .update(users)
      .set({ role: params.role, ...(plan ? { plan } : {}) })
      .where(eq(users.id, before.id))
      .returning();
    if (!row) throw new NotFoundError(`no user with id ${before.id}`);
    await appendAudit(tx, {
      ...params.audit,
      action: 'user.set_role',
      target: `user:${row.id}`,
      outcome: 'success',
      details: {
        from: { role: before.role, plan: before.plan },
        to: { role: row.role, plan: row.plan },
      },
    });
    return publicUser(row);
  });
}

export type DisableUserParams = { email: string; audit: AuditContext };

/**
 * Disable a user: no new logins or refreshes; their refresh families are revoked; every API key of
 * theirs is refused from the next lookup (and at the edge within its bound: the credentials
 * epoch, docs/edge-auth.md).
 */
export async function disableUser(db: Database, params: DisableUserParams): Promise<PublicUser> {
  return db.transaction(async (tx) => {
    const before = await findUserByEmail(tx, params);
    if (!before) throw new NotFoundError(`no user with email ${normalizeEmail(params.email)}`);
    const [row] = await tx.orm
      .update(users)
      .set({ disabled: true })
      .where(eq(users.id, before.id))
      .returning();
    if (!row) throw new NotFoundError(`no user with id ${before.id}`);
    await tx.rows(
      sql`UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = ${row.id} AND revoked_at IS NULL`,
    );
    await appendAudit(tx, {
      ...params.audit,
      action: 'user.disable',
      target: `user:${row.id}`,
      outcome: 'success',
      details: { email: row.email },
    });
    return publicUser(row);
  });
}
