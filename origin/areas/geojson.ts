import { z } from 'zod';

/**
 * Validation of an area file (a GeoJSON FeatureCollection of Polygon / MultiPolygon features)
 * before any of it reaches the database. The structure is checked with zod; the coordinates
 * with a hand-written walk, because a zod schema nested four deep costs an object per vertex on
 * a 100k-vertex ZIP outline and its messages cannot say "ring 2 of polygon 1 is not closed".
 */

/** A generous real ZIP outline has a few thousand vertices; 100k is a hostile or unsimplified file. */
export const MAX_VERTICES_PER_FEATURE = 100_000;
/** All US ZCTAs are ~33k features; more than this in one load is a mistake or an attack. */
export const MAX_FEATURES = 50_000;
/** The CLI refuses bigger files before reading them (the HTTP endpoint stops at 1 MiB). */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;

export type Polygonal =
  | { type: 'Polygon'; coordinates: number[][][] }
  | { type: 'MultiPolygon'; coordinates: number[][][][] };

export type AreaFeature = {
  /** The feature's position in the file, for reports. */
  index: number;
  geometry: Polygonal;
  properties: Record<string, unknown>;
};

export type FeatureProblem = { index: number; reason: string };

const featureShape = z.object({
  type: z.literal('Feature'),
  geometry: z.object({
    type: z.enum(['Polygon', 'MultiPolygon'], {
      error: (issue) =>
        `geometry type must be Polygon or MultiPolygon, got ${describe(issue.input)}`,
    }),
    coordinates: z.array(z.unknown(), { error: 'coordinates must be an array' }),
  }),
  properties: z.record(z.string(), z.unknown()).nullable().optional(),
});

const collectionShape = z.object({
  type: z.literal('FeatureCollection', { error: 'must be a GeoJSON FeatureCollection' }),
  features: z
    .array(z.unknown(), { error: 'features must be an array' })
    .max(MAX_FEATURES, { error: `at most ${MAX_FEATURES} features per load` }),
});

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.slice(0, 40)}'`;
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/** Thrown for a whole file that is not a FeatureCollection at all (no per-feature report possible). */
export class NotAFeatureCollectionError extends Error {}

/**
 * Check a parsed GeoJSON document. Returns the good features and a problem per bad feature, so
 * the caller can report every bad feature at once instead of the first.
 */
export function validateFeatureCollection(input: unknown): {
  features: AreaFeature[];
  problems: FeatureProblem[];
} {
  const collection = collectionShape.safeParse(input);
  if (!collection.success) {
    const issue = collection.error.issues[0];
    throw new NotAFeatureCollectionError(issue?.message ?? 'not a FeatureCollection');
  }
  const features: AreaFeature[] = [];
  const problems: FeatureProblem[] = [];
  collection.data.features.forEach((raw, index) => {
    const parsed = featureShape.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const at = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      problems.push({ index, reason: `${at}${issue?.message ?? 'not a Feature'}` });
      return;
    }
    const geometry = parsed.data.geometry as Polygonal;
    const reason = checkCoordinates(geometry);
    if (reason) {
      problems.push({ index, reason });
      return;
    }
    features.push({ index, geometry, properties: parsed.data.properties ?? {} });
  });
  return { features, problems };
}

/** The first thing wrong with a polygonal geometry's coordinates, or undefined. */
export function checkCoordinates(geometry: Polygonal): string | undefined {
  const polygons = (
    geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates
  ) as unknown[];
  if (polygons.length === 0) return 'the geometry has no polygons';
  let vertices = 0;
  for (let p = 0; p < polygons.length; p++) {
    const rings = polygons[p];
    const where = geometry.type === 'Polygon' ? '' : ` of polygon ${p}`;
    if (!Array.isArray(rings) || rings.length === 0)
      return `polygon ${p} must be a non-empty array of rings`;
    for (let r = 0; r < rings.length; r++) {
      const ring = rings[r] as unknown;
      if (!Array.isArray(ring)) return `ring ${r}${where} must be an array of positions`;
      if (ring.length < 4)
        return `ring ${r}${where} has ${ring.length} positions; a closed ring needs at least 4`;
      vertices += ring.length;
      if (vertices > MAX_VERTICES_PER_FEATURE)
        return `more than ${MAX_VERTICES_PER_FEATURE} vertices; simplify the file first`;
      for (let v = 0; v < ring.length; v++) {
        const position = ring[v] as unknown;
        if (
          !Array.isArray(position) ||
          position.length < 2 ||
          position.length > 3 ||
          !position.every((n) => typeof n === 'number' && Number.isFinite(n))
        )
          return `position ${v} of ring ${r}${where} must be [lon, lat] numbers`;
        const [lon, lat] = position as [number, number];
        if (lon < -180 || lon > 180 || lat < -90 || lat > 90)
          return `position ${v} of ring ${r}${where} (${lon}, ${lat}) is outside -180..180, -90..90 (are lon and lat swapped, or is it not WGS84?)`;
      }
      const first = ring[0] as number[];
      const last = ring[ring.length - 1] as number[];
      if (first[0] !== last[0] || first[1] !== last[1])
        return `ring ${r}${where} is not closed (its first and last positions differ)`;
    }
  }
  return undefined;
}

/** Vertices in a validated geometry (to batch inserts by size). */
export function vertexCount(geometry: Polygonal): number {
  const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  let n = 0;
  for (const rings of polygons) for (const ring of rings) n += ring.length;
  return n;
}
