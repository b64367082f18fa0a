import { readFile } from 'node:fs/promises';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { etlSources } from '../db/schema/index.js';
import { SourceNotFoundError } from './errors.js';
import {
  mappingSchema,
  type SourceConfig,
  type SourceInput,
  sourceSchema,
} from './source-config.js';

export type Source = SourceConfig & { id: number };

/** Validate and store a source definition (insert, or replace the one with the same name). */
export async function upsertSource(db: Database, input: SourceInput): Promise<Source> {
  const config = sourceSchema.parse(input);
  const [row] = await db.orm
    .insert(etlSources)
    .values(config)
    .onConflictDoUpdate({
      target: etlSources.name,
      set: {
        format: config.format,
        location: config.location,
        mapping: config.mapping,
        schedule: config.schedule,
        enabled: config.enabled,
        updatedAt: sql`now()`,
      },
    })
    .returning({ id: etlSources.id });
  return { ...config, id: (row as { id: number }).id };
}

export type GetSourceParams = { name: string };

export async function getSource(db: Database, { name }: GetSourceParams): Promise<Source> {
  const [row] = await db.orm.select().from(etlSources).where(eq(etlSources.name, name)).limit(1);
  if (!row) throw new SourceNotFoundError(`no source named '${name}'`);
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    location: row.location,
    schedule: row.schedule,
    enabled: row.enabled,
    mapping: mappingSchema.parse(row.mapping),
  };
}

export async function listSources(db: Database): Promise<Source[]> {
  const rows = await db.orm
    .select({ name: etlSources.name })
    .from(etlSources)
    .orderBy(etlSources.name);
  return Promise.all(rows.map((r) => getSource(db, r)));
}

/** Declare sources from a JSON file (an array of source definitions); returns their names. */
export async function loadSourcesFile(db: Database, path: string): Promise<string[]> {
  const parsed = sourceSchema.array().parse(JSON.parse(await readFile(path, 'utf8')));
  for (const source of parsed) await upsertSource(db, source);
  return parsed.map((s) => s.name);
}
