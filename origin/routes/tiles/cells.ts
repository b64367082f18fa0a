import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import type { TileAddress } from './params.js';

/**
 * Precomputed listing cells for the low-zoom tiles (migration 0009). Aggregating a zoom-0 tile
 * live reads every listing (1.5 s per million on this machine); from listing_cells it reads at
 * most 64 × 64 rows by primary key.
 *
 * - **Exact at level 18** (zoom 12): count, median price and mean position computed from the
 *   listings in one set-based pass (4.7 s for a million listings on this machine).
 * - **Coarser levels** (zoom 11 down to 0) from the level below: counts and mean positions exact
 *   (they add up), the median price the count-weighted median of the finer cells' medians, an
 *   approximation of the true median that stays between its cells' medians. docs/api.md says so.
 *
 * Freshness: any write to listings marks the cells stale (a statement trigger); stale cells are
 * never served (tiles are aggregated live instead), and the first tile request that finds them
 * stale starts a refresh in the background. The refresh holds a SHARE lock on listings (writers
 * wait, readers do not) so what it computes is exactly what it marks fresh, and an advisory lock
 * so one replica refreshes at a time.
 */

/** Levels are zoom + log2(CLUSTER_GRID): a tile's 64 × 64 grid is the zoom's level grid. */
export const LEVEL_OFFSET = 6;
/** The level computed from the listings (zoom 12); every coarser one is derived from it. */
export const BASE_LEVEL = 18;
/** Half the Web Mercator world's width, in metres. */
const HALF_WORLD = 20037508.342789244;
const WORLD = 2 * HALF_WORLD;
/** pg_try_advisory_xact_lock key: "cells" in ASCII. */
const REFRESH_LOCK = 0x63656c6c73;

export async function cellsAreFresh(db: Database): Promise<boolean> {
  const [row] = await db.rows<{ fresh: boolean }>(
    sql`SELECT fresh FROM listing_cells_state WHERE singleton`,
  );
  return row?.fresh === true;
}

/**
 * Recompute listing_cells from listings, unless another session is at it or they are fresh
 * already. Returns whether this call refreshed them.
 */
export async function refreshListingCells(db: Database): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.rows<{ ok: boolean }>(
      sql`SELECT pg_try_advisory_xact_lock(${REFRESH_LOCK}) AS ok`,
    );
    if (!lock?.ok) return false;
    await tx.rows(sql`LOCK TABLE listings IN SHARE MODE`);
    if (await cellsAreFresh(tx)) return false;
    await tx.rows(sql`DELETE FROM listing_cells`);
    const size = WORLD / 2 ** BASE_LEVEL;
    await tx.rows(sql`
      INSERT INTO listing_cells (level, gx, gy, count, median_price, mx, my)
      SELECT ${BASE_LEVEL}, floor(p.wx / ${size})::int, floor(p.wy / ${size})::int, count(*)::int,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY p.price), avg(p.wx), avg(p.wy)
      FROM (
        SELECT ST_X(l.geom_3857) + ${HALF_WORLD} AS wx, ${HALF_WORLD} - ST_Y(l.geom_3857) AS wy,
               COALESCE(l.close_price, l.list_price)::float8 AS price
        FROM listings l
        WHERE l.geom_3857 IS NOT NULL
          AND ST_X(l.geom_3857) >= ${-HALF_WORLD} AND ST_X(l.geom_3857) < ${HALF_WORLD}
          AND ST_Y(l.geom_3857) > ${-HALF_WORLD} AND ST_Y(l.geom_3857) <= ${HALF_WORLD}
      ) p
      GROUP BY 2, 3`);
    for (let level = BASE_LEVEL - 1; level >= LEVEL_OFFSET; level -= 1) {
      await tx.rows(sql`
        INSERT INTO listing_cells (level, gx, gy, count, median_price, mx, my)
        SELECT ${level}, w.px, w.py, max(w.total)::int,
               min(w.median_price) FILTER (WHERE w.priced_cum * 2 >= w.priced_total),
               sum(w.mx * w.count) / sum(w.count), sum(w.my * w.count) / sum(w.count)
        FROM (
          SELECT c.gx / 2 AS px, c.gy / 2 AS py, c.count, c.median_price, c.mx, c.my,
                 sum(c.count) OVER (PARTITION BY c.gx / 2, c.gy / 2) AS total,
                 sum(c.count) FILTER (WHERE c.median_price IS NOT NULL)
                   OVER (PARTITION BY c.gx / 2, c.gy / 2) AS priced_total,
                 sum(c.count) FILTER (WHERE c.median_price IS NOT NULL)
                   OVER (PARTITION BY c.gx / 2, c.gy / 2 ORDER BY c.median_price
                         ROWS UNBOUNDED PRECEDING) AS priced_cum
          FROM listing_cells c WHERE c.level = ${level + 1}
        ) w
        GROUP BY w.px, w.py`);
    }
    await tx.rows(
      sql`UPDATE listing_cells_state SET fresh = true, refreshed_at = now() WHERE singleton`,
    );
    return true;
  });
}

/**
 * The stored cells of one tile, as tileCellsSql (tile.ts) computes them live: id, count,
 * median_price, geom (EPSG:3857). For zoom ≤ BASE_LEVEL − LEVEL_OFFSET (12) and no filters:
 * the cell tiles of zoom ≤ TILE_CLUSTER_MAX_ZOOM, and the tiles above it too dense for points.
 */
export function storedCellsSql(t: TileAddress): SQL {
  const level = t.z + LEVEL_OFFSET;
  const side = 2 ** LEVEL_OFFSET;
  return sql`
    SELECT c.gy::bigint * ${2 ** level}::bigint + c.gx AS id, c.count, c.median_price,
           ST_SetSRID(ST_MakePoint(c.mx - ${HALF_WORLD}, ${HALF_WORLD} - c.my), 3857) AS geom
    FROM listing_cells c
    WHERE c.level = ${level}
      AND c.gy BETWEEN ${t.y * side} AND ${t.y * side + side - 1}
      AND c.gx BETWEEN ${t.x * side} AND ${t.x * side + side - 1}`;
}

let refreshing: Promise<unknown> | undefined;

/**
 * Start a refresh unless this process has one running; never rejects (a failed refresh leaves
 * the cells stale, so tiles stay live, and the next stale tile request tries again).
 */
export function refreshInBackground(db: Database, logger?: Logger): void {
  if (refreshing) return;
  const started = performance.now();
  refreshing = refreshListingCells(db)
    .then((did) => {
      if (did)
        logger?.info({ ms: Math.round(performance.now() - started) }, 'listing cells refreshed');
    })
    .catch((error: unknown) =>
      logger?.warn({ error: (error as Error).message }, 'listing cells refresh failed'),
    )
    .finally(() => {
      refreshing = undefined;
    });
}

/** For tests: the background refresh under way, if any. */
export const backgroundRefresh = () => refreshing;
