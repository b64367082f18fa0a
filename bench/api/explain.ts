/**
 * Which indexes the benchmark's queries use: each database call is run once through a Database
 * that EXPLAIN ANALYZEs every statement before running it for real, and the plans are searched
 * for index scans and for sequential scans of `listings` (which at 1M rows would mean a query
 * that does not scale with the area asked for).
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../origin/db/database.js';
import { type DirectCall, executeDirect } from './workload.js';

type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
};
type Explained = { Plan: PlanNode; 'Execution Time': number };

export type PlanFindings = {
  /** `index (node type)`, e.g. `listings_geom_gist (Bitmap Index Scan)`, sorted, unique. */
  indexes: string[];
  /** Relations read by a sequential scan. */
  seqScans: string[];
  /** Statements per call (a stats request is two: the area check and the aggregate). */
  statements: number;
  /** Server-side execution time of one call alone, summed over its statements; median over the samples. */
  executionMs: number;
};

/** `db`, but every `rows()` is first EXPLAIN ANALYZEd into `plans`, then run for its result. */
function explaining(db: Database, plans: Explained[]): Database {
  return {
    driver: db.driver,
    orm: db.orm,
    async rows<T extends Record<string, unknown>>(query: SQL) {
      const [row] = await db.rows<{ 'QUERY PLAN': Explained[] }>(
        sql`EXPLAIN (ANALYZE, FORMAT JSON) ${query}`,
      );
      const plan = row?.['QUERY PLAN'][0];
      if (plan) plans.push(plan);
      return db.rows<T>(query);
    },
    copyFrom: (table, columns, lines) => db.copyFrom(table, columns, lines),
    withLock: (key, fn, options) => db.withLock(key, fn, options),
    transaction: (fn) => db.transaction((tx) => fn(explaining(tx, plans))),
    close: () => db.close(),
  };
}

function walk(node: PlanNode, visit: (n: PlanNode) => void): void {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
}

/** Run each of `calls` once, explained, and gather what their plans read. */
export async function explainCalls(db: Database, calls: DirectCall[]): Promise<PlanFindings> {
  const indexes = new Set<string>();
  const seqScans = new Set<string>();
  const times: number[] = [];
  let statements = 0;
  for (const call of calls) {
    const plans: Explained[] = [];
    await executeDirect(explaining(db, plans), call);
    statements = plans.length;
    times.push(plans.reduce((sum, p) => sum + p['Execution Time'], 0));
    for (const plan of plans)
      walk(plan.Plan, (n) => {
        if (n['Index Name']) indexes.add(`${n['Index Name']} (${n['Node Type']})`);
        if (n['Node Type'] === 'Seq Scan' && n['Relation Name']) seqScans.add(n['Relation Name']);
      });
  }
  times.sort((a, b) => a - b);
  return {
    indexes: [...indexes].sort(),
    seqScans: [...seqScans].sort(),
    statements,
    executionMs: times[Math.floor(times.length / 2)] ?? Number.NaN,
  };
}
