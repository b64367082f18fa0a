import { and, desc, eq, gte, lt, type SQL } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { type AuditOutcome, auditLog } from '../db/schema/audit-log.js';

/** Where an action came from: who, and the request that carried it. */
export type AuditContext = {
  actor: string | null;
  ip?: string | null | undefined;
  requestId?: string | null | undefined;
};

export type AuditEntry = AuditContext & {
  action: string;
  target?: string | null | undefined;
  outcome: AuditOutcome;
  details?: Record<string, unknown>;
};

/** Append one entry. Never updates: the table refuses it (migration 0003). */
export async function appendAudit(db: Database, entry: AuditEntry): Promise<void> {
  await db.orm.insert(auditLog).values({
    actor: entry.actor,
    action: entry.action,
    target: entry.target ?? null,
    ip: entry.ip ?? null,
    requestId: entry.requestId ?? null,
    outcome: entry.outcome,
    details: entry.details ?? {},
  });
}

export type ListAuditParams = {
  actor?: string | undefined;
  action?: string | undefined;
  since?: Date | undefined;
  beforeId?: number | undefined;
  limit: number;
};

export type AuditRecord = typeof auditLog.$inferSelect;

/** Newest first, keyset-paginated on id (stable under concurrent appends, unlike OFFSET). */
export async function listAudit(
  db: Database,
  params: ListAuditParams,
): Promise<{ items: AuditRecord[]; nextBeforeId: number | null }> {
  const where: SQL[] = [];
  if (params.actor !== undefined) where.push(eq(auditLog.actor, params.actor));
  if (params.action !== undefined) where.push(eq(auditLog.action, params.action));
  if (params.since !== undefined) where.push(gte(auditLog.at, params.since));
  if (params.beforeId !== undefined) where.push(lt(auditLog.id, params.beforeId));
  const rows = await db.orm
    .select()
    .from(auditLog)
    .where(and(...where))
    .orderBy(desc(auditLog.id))
    .limit(params.limit + 1);
  const items = rows.slice(0, params.limit);
  const last = items.at(-1);
  return { items, nextBeforeId: rows.length > params.limit && last ? last.id : null };
}
