import { sql } from 'drizzle-orm';
import { bumpDataVersion } from '../db/data-version.js';
import type { Database } from '../db/database.js';
import { ConflictError, InvalidParameterError } from '../errors.js';
import {
  type AreaFeature,
  type FeatureProblem,
  NotAFeatureCollectionError,
  validateFeatureCollection,
  vertexCount,
} from './geojson.js';
import { intArray, textArray } from './sql-arrays.js';

/** A kind names a family of areas (`zip`, `neighbourhood`, `zip-derived`); it goes into slugs. */
export const KIND_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;
const MAX_NAME = 200;
const MAX_SLUG = 100;

/**
 * A file with bad features. Loads are all-or-nothing: nothing is stored, and `problems` lists
 * every bad feature (its index in the file and why), so one fix-and-retry is enough.
 */
export class AreaValidationError extends InvalidParameterError {
  constructor(readonly problems: FeatureProblem[]) {
    const shown = problems
      .slice(0, 5)
      .map((p) => `#${p.index}: ${p.reason}`)
      .join('; ');
    super(
      'features',
      `${problems.length} bad feature(s), nothing stored: ${shown}${problems.length > 5 ? '; …' : ''}`,
    );
  }
}

/** URL-safe, lowercase, ASCII: `Capitol Hill` → `capitol-hill`, `Zürich` → `zurich`. */
export function slugify(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_SLUG)
    .replace(/-+$/, '');
}

export type LoadAreasOptions = {
  kind: string;
  /** The feature property holding the area's display name (default `name`). */
  nameProperty?: string | undefined;
  /** The feature property holding a stable slug; default: `<kind>-<slugified name>`. */
  slugProperty?: string | undefined;
  /**
   * Replace this kind's areas with the file's: areas whose slug is in the file are updated in
   * place (their ids stay, so links keep working), the kind's other areas are deleted. Without
   * it, a slug that already exists is a conflict and nothing is stored.
   */
  replace?: boolean | undefined;
};

export type LoadAreasResult = {
  ids: number[];
  /** Features whose geometry was invalid (self-intersecting...) and was repaired by ST_MakeValid. */
  repaired: number[];
  /** Areas of this kind deleted because `replace` was given and the file no longer has them. */
  deleted: number;
};

type Row = { index: number; slug: string; name: string; geometry: unknown; properties: unknown };

function textProperty(properties: Record<string, unknown>, key: string): string | undefined {
  const value = properties[key];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  return undefined;
}

/** Names and slugs for each feature, or a problem for each feature that has none usable. */
function nameFeatures(
  features: AreaFeature[],
  options: LoadAreasOptions,
): { rows: Row[]; problems: FeatureProblem[] } {
  const nameProperty = options.nameProperty ?? 'name';
  const problems: FeatureProblem[] = [];
  const rows: Row[] = [];
  const seen = new Map<string, number>();
  for (const f of features) {
    const name = textProperty(f.properties, nameProperty);
    if (!name) {
      problems.push({ index: f.index, reason: `property '${nameProperty}' is missing or empty` });
      continue;
    }
    if (name.length > MAX_NAME) {
      problems.push({ index: f.index, reason: `name is over ${MAX_NAME} characters` });
      continue;
    }
    let slugSource = `${options.kind}-${name}`;
    if (options.slugProperty) {
      const given = textProperty(f.properties, options.slugProperty);
      if (!given) {
        problems.push({
          index: f.index,
          reason: `property '${options.slugProperty}' is missing or empty`,
        });
        continue;
      }
      slugSource = given;
    }
    const slug = slugify(slugSource);
    // A name in a script slugify drops entirely (e.g. all CJK): fall back to its position.
    const finalSlug =
      slug === '' || slug === slugify(options.kind) ? `${options.kind}-${f.index}` : slug;
    const before = seen.get(finalSlug);
    if (before !== undefined) {
      problems.push({
        index: f.index,
        reason: `slug '${finalSlug}' repeats feature #${before}'s (names or slugs must be unique)`,
      });
      continue;
    }
    seen.set(finalSlug, f.index);
    rows.push({
      index: f.index,
      slug: finalSlug,
      name,
      geometry: f.geometry,
      properties: f.properties,
    });
  }
  return { rows, problems };
}

/** Keeps one statement's JSON parameter to a few MB whatever the file. */
const VERTICES_PER_BATCH = 200_000;

function batches(rows: Row[]): Row[][] {
  const out: Row[][] = [];
  let current: Row[] = [];
  let size = 0;
  for (const row of rows) {
    const n = vertexCount(row.geometry as AreaFeature['geometry']);
    if (current.length > 0 && size + n > VERTICES_PER_BATCH) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(row);
    size += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Store areas from a parsed GeoJSON FeatureCollection of Polygon / MultiPolygon features.
 *
 * All-or-nothing, in one transaction: a file with any bad feature (wrong type, ring not closed,
 * coordinates out of range, over 100k vertices, no name, a geometry that is empty once made
 * valid) stores nothing and throws an AreaValidationError listing every bad feature.
 * Invalid-but-repairable geometry (a bow-tie) is repaired with ST_MakeValid, keeping only its
 * polygons; Polygons are stored as MultiPolygons (ST_Multi), the column's type.
 *
 * @example
 *   await loadAreasFromGeoJSON(db, JSON.parse(text), { kind: 'zip', nameProperty: 'ZCTA5CE10' });
 */
export async function loadAreasFromGeoJSON(
  db: Database,
  featureCollection: unknown,
  options: LoadAreasOptions,
): Promise<LoadAreasResult> {
  if (!KIND_PATTERN.test(options.kind)) {
    throw new InvalidParameterError(
      'kind',
      'must be 1 to 40 lowercase letters, digits or dashes, starting with a letter or digit',
    );
  }
  let validated: ReturnType<typeof validateFeatureCollection>;
  try {
    validated = validateFeatureCollection(featureCollection);
  } catch (error) {
    if (error instanceof NotAFeatureCollectionError)
      throw new InvalidParameterError('features', error.message);
    throw error;
  }
  const named = nameFeatures(validated.features, options);
  const problems = [...validated.problems, ...named.problems];
  if (problems.length > 0) throw new AreaValidationError(sortProblems(problems));
  if (named.rows.length === 0)
    throw new InvalidParameterError('features', 'the collection has no features');

  return db.transaction(async (tx) => {
    const slugs = named.rows.map((r) => r.slug);
    const clashes = await tx.rows<{ slug: string; kind: string }>(sql`
      SELECT slug, kind FROM areas WHERE slug = ANY(${textArray(slugs)})
      ${options.replace ? sql`AND kind <> ${options.kind}` : sql``}
      ORDER BY slug LIMIT 10`);
    if (clashes.length > 0) {
      const list = clashes.map((c) => `'${c.slug}' (${c.kind})`).join(', ');
      throw new ConflictError(
        options.replace
          ? `slugs already used by areas of another kind: ${list}`
          : `areas already exist with slugs ${list}; pass replace to update the kind's areas`,
      );
    }
    const ids: number[] = [];
    const repaired: number[] = [];
    const empty: FeatureProblem[] = [];
    const raced: number[] = [];
    for (const batch of batches(named.rows)) {
      const result = await insertBatch(tx, batch, options.kind, options.replace === true);
      for (const r of result) {
        if (r.empty)
          empty.push({
            index: r.index,
            reason: 'the geometry has no area once made valid (degenerate rings?)',
          });
        else if (r.id === null) raced.push(r.index);
        else ids.push(r.id);
        if (r.repaired) repaired.push(r.index);
      }
    }
    // Throwing rolls the whole load back: all-or-nothing even for problems only PostGIS sees.
    if (empty.length > 0) throw new AreaValidationError(empty);
    // A concurrent load took a slug between the check above and the insert.
    if (raced.length > 0)
      throw new ConflictError(
        `features ${raced
          .slice(0, 10)
          .map((i) => `#${i}`)
          .join(', ')}: their slugs were taken meanwhile`,
      );
    let deleted = 0;
    if (options.replace) {
      const gone = await tx.rows<{ id: number }>(sql`
        DELETE FROM areas WHERE kind = ${options.kind} AND id <> ALL(${intArray(ids)}) RETURNING id`);
      deleted = gone.length;
    }
    await bumpDataVersion(tx, `areas load (${options.kind})`);
    return { ids, repaired, deleted };
  });
}

function sortProblems(problems: FeatureProblem[]): FeatureProblem[] {
  return problems.sort((a, b) => a.index - b.index);
}

type Inserted = { index: number; id: number | null; empty: boolean; repaired: boolean };

/**
 * One statement per batch: the features travel as one JSON parameter (bound, never spliced).
 * ST_Force2D drops any altitude; ST_MakeValid then ST_CollectionExtract(…, 3) keeps only the
 * polygons of a repaired geometry (a repair can also yield lines and points); ST_Multi promotes
 * a Polygon to the column's MultiPolygon. Empty results are not inserted and are reported.
 */
async function insertBatch(
  tx: Database,
  batch: Row[],
  kind: string,
  replace: boolean,
): Promise<Inserted[]> {
  const payload = JSON.stringify(
    batch.map((r) => ({ i: r.index, s: r.slug, n: r.name, g: r.geometry, p: r.properties })),
  );
  return tx.rows<Inserted>(sql`
    WITH input AS (
      SELECT (f->>'i')::int AS ord, f->>'s' AS slug, f->>'n' AS name, f->'p' AS properties,
             ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(f->'g'), 4326)) AS raw
      FROM jsonb_array_elements(${payload}::jsonb) AS f
    ), made AS (
      SELECT ord, slug, name, properties, NOT ST_IsValid(raw) AS repaired,
             ST_Multi(ST_CollectionExtract(ST_MakeValid(raw), 3)) AS geom
      FROM input
    ), stored AS (
      INSERT INTO areas (slug, name, kind, geom, properties)
      SELECT slug, name, ${kind}, geom, properties FROM made WHERE NOT ST_IsEmpty(geom)
      ON CONFLICT (slug) ${
        replace
          ? // Only ever update an area of the same kind: another kind's area is never overwritten.
            sql`DO UPDATE SET name = EXCLUDED.name, geom = EXCLUDED.geom, properties = EXCLUDED.properties
                WHERE areas.kind = EXCLUDED.kind`
          : sql`DO NOTHING`
      }
      RETURNING id, slug
    )
    SELECT m.ord AS "index", s.id, ST_IsEmpty(m.geom) AS empty, m.repaired
    FROM made m LEFT JOIN stored s ON s.slug = m.slug
    ORDER BY m.ord`);
}
