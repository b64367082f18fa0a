import * as z from 'zod/mini';
import { callOrigin, type OriginCallEnv } from '../origin';

/** A source as far as scheduling goes; the origin owns the rest of its definition. */
export type ScheduledSource = { name: string; schedule: string | null; enabled: boolean };

// The origin's own rule for names (origin/etl/source-config.ts): they end up in paths and keys.
const sourceName = z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/));
const sourceSchema = z.object({
  name: sourceName,
  schedule: z._default(z.nullable(z.string().check(z.maxLength(200))), null),
  enabled: z._default(z.boolean(), true),
});
const sourceListSchema = z.union([
  z.pipe(
    z.object({ items: z.array(sourceSchema) }),
    z.transform((page) => page.items),
  ),
  z.array(sourceSchema),
]);

/** More than this many scheduled sources is a misreading, not a catalogue. */
const MAX_SOURCES = 200;

export class SourcesUnavailableError extends Error {
  override name = 'SourcesUnavailableError';
}

/** The sources and their cron expressions: `GET /v1/etl/sources` at the origin, with `etl:read`. */
export async function readSources(
  env: OriginCallEnv,
  timeoutMs: number,
): Promise<ScheduledSource[]> {
  const list = await callOrigin(env, { path: '/v1/etl/sources', scope: 'etl:read', timeoutMs });
  if (!list.reached || list.status !== 200)
    throw new SourcesUnavailableError(
      `GET /v1/etl/sources: ${list.reached ? `answered ${list.status}` : list.error}`,
    );
  const parsed = sourceListSchema.safeParse(list.json);
  if (!parsed.success) throw new SourcesUnavailableError('GET /v1/etl/sources: unexpected answer');
  return parsed.data.slice(0, MAX_SOURCES);
}
