import { z } from 'zod';
import { readinessSchema } from '../health/checks';
import { logLine } from '../log';
import { callOrigin, type OriginCallEnv } from '../origin';

/** A source as far as scheduling goes; the origin owns the rest of its definition. */
export type ScheduledSource = { name: string; schedule: string | null; enabled: boolean };

// The origin's own rule for names (origin/etl/source-config.ts): they end up in paths and keys.
const sourceName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
const sourceSchema = z.object({
  name: sourceName,
  schedule: z.string().max(200).nullable().default(null),
  enabled: z.boolean().default(true),
});
const sourceListSchema = z.union([
  z.object({ items: z.array(sourceSchema) }).transform((page) => page.items),
  z.array(sourceSchema),
]);

/** More than this many scheduled sources is a misreading, not a catalogue. */
const MAX_SOURCES = 200;

export class SourcesUnavailableError extends Error {
  override name = 'SourcesUnavailableError';
}

/**
 * The sources and their cron expressions, read from the origin with `etl:read`.
 *
 * `GET /v1/etl/sources` (a list) is asked first. The origin has no such route yet (only
 * `GET /v1/etl/sources/{name}`), so on 404 the names come from readiness (its ETL check lists
 * every source with `enabled` and `scheduled`) and each scheduled one is read by name: N + 1
 * small requests every few minutes, and nothing to change here once the list route exists.
 */
export async function readSources(
  env: OriginCallEnv,
  timeoutMs: number,
): Promise<ScheduledSource[]> {
  const list = await callOrigin(env, { path: '/v1/etl/sources', scope: 'etl:read', timeoutMs });
  if (list.reached && list.status === 200) {
    const parsed = sourceListSchema.safeParse(list.json);
    if (!parsed.success)
      throw new SourcesUnavailableError('GET /v1/etl/sources: unexpected answer');
    return parsed.data.slice(0, MAX_SOURCES);
  }
  if (!list.reached || (list.status !== 404 && list.status !== 405))
    throw new SourcesUnavailableError(
      `GET /v1/etl/sources: ${list.reached ? `answered ${list.status}` : list.error}`,
    );

  const ready = await callOrigin(env, { path: '/health/ready', scope: 'health:read', timeoutMs });
  const readiness = ready.reached ? readinessSchema.safeParse(ready.json) : null;
  const sources = readiness?.success ? readiness.data.checks.etl?.sources : undefined;
  if (!sources)
    throw new SourcesUnavailableError(
      'the source list is unavailable: readiness has no ETL check (is the database up?)',
    );
  const names = sources
    .filter((s) => s.enabled && s.scheduled)
    .map((s) => s.name)
    .filter((name) => sourceName.safeParse(name).success)
    .slice(0, MAX_SOURCES);
  const found: ScheduledSource[] = [];
  for (const name of names) {
    const one = await callOrigin(env, {
      path: `/v1/etl/sources/${name}`,
      scope: 'etl:read',
      timeoutMs,
    });
    const parsed = one.reached && one.status === 200 ? sourceSchema.safeParse(one.json) : null;
    if (parsed?.success) found.push(parsed.data);
    else
      logLine('warn', 'ETL source unreadable', {
        job: 'etl',
        source: name,
        status: one.reached ? one.status : 0,
        request_id: one.requestId,
      });
  }
  return found;
}
