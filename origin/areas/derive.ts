import { sql } from 'drizzle-orm';
import { bumpDataVersion } from '../db/data-version.js';
import type { Database } from '../db/database.js';
import { intArray } from './sql-arrays.js';

/** The kind of areas derived from listings: its name says they are not official outlines. */
export const DERIVED_ZIP_KIND = 'zip-derived';

export type DeriveZipAreasOptions = {
  /** Postal codes with fewer listings get no area: a hull of 2 points is a line, not a ZIP. */
  minListings?: number;
  /** Metres added around each hull, so listings on its edge are inside and hulls look like areas. */
  bufferMetres?: number;
  /**
   * A postal code whose listings spread over more than this (km²) is bad data (a mistyped ZIP
   * across the state, or synthetic data): it is skipped rather than drawn across the map.
   */
  maxAreaKm2?: number;
  /**
   * Listings farther than this from their code's median point are left out as outliers (a
   * mistyped ZIP, a feed mixing metros): even a rural ZIP is rarely 80 km across.
   */
  maxRadiusMetres?: number;
};

export type DeriveZipAreasResult = {
  /** Areas created or updated (ids are kept for postal codes seen before). */
  areas: number;
  /** Postal codes skipped: too few listings or spread too wide. */
  skipped: { postalCode: string; listings: number; reason: string }[];
  /** Derived areas deleted because their postal code has no usable listings any more. */
  deleted: number;
};

/**
 * Approximate ZIP areas from the listings' own points, for an install with no official ZIP
 * outlines (there is no internet to download them): for each postal code, the concave hull of
 * its listings' points (ST_ConcaveHull, 0.8 of the way from concave to convex: follows the
 * settlement's shape without the spikes of a tight hull), buffered by a little. Stored as kind
 * `zip-derived`, named `ZIP 98103 (derived from listings)`, with `approximate: true` in its
 * properties. They are approximations: neighbouring ones may overlap, and land with no listings
 * (parks, water) is outside every one. Load real outlines with `npm run areas -- load` instead
 * when you have them.
 *
 * Re-running replaces the derived set in place (same slug, same id), in one transaction.
 *
 * @example
 *   await deriveZipAreas(db); // { areas: 70, skipped: [], deleted: 0 }
 */
export async function deriveZipAreas(
  db: Database,
  options: DeriveZipAreasOptions = {},
): Promise<DeriveZipAreasResult> {
  const minListings = options.minListings ?? 5;
  const bufferMetres = options.bufferMetres ?? 150;
  const maxAreaKm2 = options.maxAreaKm2 ?? 2_000;
  const maxRadiusMetres = options.maxRadiusMetres ?? 40_000;
  return db.transaction(async (tx) => {
    const rows = await tx.rows<{
      postal_code: string;
      listings: number;
      area_km2: number | null;
      id: number | null;
    }>(sql`
      WITH codes AS (
        -- Only plausible postal codes (they end up in slugs and names), spelled one way.
        SELECT regexp_replace(upper(trim(postal_code)), '[ -]+', '-', 'g') AS postal_code, geom
        FROM listings
        WHERE geom IS NOT NULL AND postal_code ~ '^\\s*[A-Za-z0-9][A-Za-z0-9 -]{1,9}\\s*$'
      ), centres AS (
        -- The median point of each code: robust to the odd mistyped ZIP on the other side of
        -- the state, which would otherwise stretch the hull across it.
        SELECT postal_code,
               ST_SetSRID(ST_MakePoint(percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_X(geom)),
                                       percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Y(geom))), 4326) AS centre
        FROM codes GROUP BY postal_code
      ), kept AS (
        SELECT c.postal_code, c.geom,
               ST_DWithin(c.geom::geography, m.centre::geography, ${maxRadiusMetres}::float8) AS near
        FROM codes c JOIN centres m USING (postal_code)
      ), counted AS (
        SELECT postal_code, count(*) FILTER (WHERE near)::int AS listings,
               count(*) FILTER (WHERE NOT near)::int AS outliers
        FROM kept GROUP BY postal_code
      ), hulls AS (
        SELECT k.postal_code, n.listings, n.outliers,
               ST_Buffer(ST_ConcaveHull(ST_Collect(k.geom), 0.8)::geography, ${bufferMetres}::float8)::geometry AS geom
        FROM kept k JOIN counted n USING (postal_code)
        WHERE k.near AND n.listings >= ${minListings}::int
        GROUP BY k.postal_code, n.listings, n.outliers
      ), sized AS (
        SELECT postal_code, listings, outliers, ST_Multi(ST_CollectionExtract(ST_MakeValid(geom), 3)) AS geom,
               ST_Area(geom::geography) / 1e6 AS area_km2
        FROM hulls
      ), stored AS (
        INSERT INTO areas (slug, name, kind, geom, properties)
        SELECT 'zip-derived-' || lower(postal_code),
               'ZIP ' || postal_code || ' (derived from listings)',
               ${DERIVED_ZIP_KIND}, geom,
               jsonb_build_object(
                 'postal_code', postal_code, 'listings', listings, 'outliers_left_out', outliers,
                 'approximate', true,
                 'method', 'concave hull of the listings'' points, buffered ' || ${bufferMetres}::text || ' m',
                 'derived_at', now())
        FROM sized WHERE area_km2 <= ${maxAreaKm2}::float8 AND NOT ST_IsEmpty(geom)
        ON CONFLICT (slug) DO UPDATE
          SET name = EXCLUDED.name, geom = EXCLUDED.geom, properties = EXCLUDED.properties
          WHERE areas.kind = EXCLUDED.kind
        RETURNING id, properties->>'postal_code' AS postal_code
      )
      SELECT s.postal_code, s.listings, s.area_km2, st.id
      FROM sized s LEFT JOIN stored st USING (postal_code)
      UNION ALL
      SELECT postal_code, listings, NULL, NULL FROM counted WHERE listings < ${minListings}::int
      ORDER BY postal_code`);
    const ids = rows.filter((r) => r.id !== null).map((r) => r.id as number);
    const skipped = rows
      .filter((r) => r.id === null)
      .map((r) => ({
        postalCode: r.postal_code,
        listings: r.listings,
        reason:
          r.area_km2 === null
            ? `fewer than ${minListings} listings within ${maxRadiusMetres / 1000} km of their median point`
            : r.area_km2 > maxAreaKm2
              ? `listings spread over ${Math.round(r.area_km2)} km² (over ${maxAreaKm2}): bad or synthetic data`
              : 'its slug belongs to an area of another kind',
      }));
    const gone = await tx.rows<{ id: number }>(sql`
      DELETE FROM areas WHERE kind = ${DERIVED_ZIP_KIND} AND id <> ALL(${intArray(ids)}) RETURNING id`);
    if (ids.length + gone.length > 0) await bumpDataVersion(tx, 'derived ZIP areas');
    return { areas: ids.length, skipped, deleted: gone.length };
  });
}
