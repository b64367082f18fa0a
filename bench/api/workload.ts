/**
 * What the API benchmark asks for: per endpoint, a fixed, seeded list of requests spread over
 * the synthetic metros (never one URL over and over: caches and hot pages would flatter it),
 * each as a URL for the origin and as the database call its handler makes, with the same
 * parameters. Plain data, so it crosses to the child processes as an IPC message.
 */
import type { Database } from '../../origin/db/database.js';
import { type SearchParams, searchListings } from '../../origin/routes/listings/search.js';
import { areaExists, listingStats, type StatsParams } from '../../origin/routes/stats/query.js';
import { type ListingsTileParams, listingsTile } from '../../origin/routes/tiles/tile.js';
import { gaussian, METROS, prng } from '../../scripts/lib/synthetic.js';

/** The metro centres of scripts/lib/synthetic.ts: [name, lon, lat, spread]. */
export const METRO_CENTRES: [name: string, lon: number, lat: number, spread: number][] = METROS.map(
  ([name, , lon, lat, spread]) => [name, lon, lat, spread],
);

export const ENDPOINTS = ['bbox', 'near', 'stats', 'tile-z12', 'tile-z14'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export const ENDPOINT_LABELS: Record<Endpoint, string> = {
  bbox: 'bbox search, 50 results',
  near: 'near search, by distance',
  stats: 'stats, ZIP-sized area',
  'tile-z12': 'tile z12',
  'tile-z14': 'tile z14',
};

/** The database work of one request, exactly as its route handler does it. */
export type DirectCall =
  | { kind: 'search'; params: SearchParams }
  | { kind: 'stats'; params: StatsParams }
  | { kind: 'tile'; params: ListingsTileParams };

export type Request = { path: string; call: DirectCall };

export type Workload = Record<Endpoint, Request[]>;

/** What a call returned, reduced to what the benchmark reports about the workload's shape. */
export type CallShape = { items: number; bytes?: number };

/**
 * Run one request's database work: what the handler would do, minus HTTP (validation, JSON,
 * cursors). The stats handler checks the area exists first, so that query is part of it.
 */
export async function executeDirect(db: Database, call: DirectCall): Promise<CallShape> {
  switch (call.kind) {
    case 'search': {
      const page = await searchListings(db, call.params);
      return { items: page.items.length };
    }
    case 'stats': {
      if (
        call.params.where.kind === 'area' &&
        !(await areaExists(db, { id: call.params.where.id }))
      )
        throw new Error(`area ${call.params.where.id} does not exist`);
      const { groups } = await listingStats(db, call.params);
      return { items: groups.reduce((sum, g) => sum + g.count, 0) };
    }
    case 'tile': {
      const tile = await listingsTile(db, call.params);
      return { items: tile.features, bytes: tile.bytes.byteLength };
    }
  }
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** Web Mercator (XYZ) tile holding lon,lat at zoom z. */
export function tileOf(lon: number, lat: number, z: number): { z: number; x: number; y: number } {
  const n = 2 ** z;
  const rad = (lat * Math.PI) / 180;
  const x = Math.floor(((lon + 180) / 360) * n);
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  return { z, x: Math.min(n - 1, x), y: Math.min(n - 1, y) };
}

export type WorkloadOptions = {
  /** Distinct requests per endpoint. */
  size: number;
  /** Area ids to ask stats for (see `zipSizedAreas`). */
  areaIds: number[];
  seed?: number;
};

/** A map viewport on a phone at about z15: 0.02° × 0.015°, about 1.5 km × 1.7 km at 47°N. */
export const BBOX_DEGREES = { lon: 0.02, lat: 0.015 } as const;
/** The near search's circle. */
export const NEAR_RADIUS_M = 1500;

/**
 * The request lists. Points fall around the metro centres, σ half the listings' own spread, so
 * most bboxes, circles and tiles hold listings (as the places people look at do), and some at
 * the edges hold few.
 */
export function buildWorkload(options: WorkloadOptions): Workload {
  const random = prng(options.seed ?? 20_240_611);
  const point = (i: number) => {
    const [, lon0, lat0, spread] = METRO_CENTRES[i % METRO_CENTRES.length] as [
      string,
      number,
      number,
      number,
    ];
    return {
      lon: round6(lon0 + gaussian(random) * spread * 0.5),
      lat: round6(lat0 + gaussian(random) * spread * 0.35),
    };
  };
  const list = <T>(make: (i: number) => T) =>
    Array.from({ length: options.size }, (_, i) => make(i));
  const tile = (i: number, z: number): Request => {
    const { lon, lat } = point(i);
    const t = tileOf(lon, lat, z);
    return {
      path: `/v1/tiles/listings/${t.z}/${t.x}/${t.y}.mvt`,
      call: { kind: 'tile', params: t },
    };
  };
  return {
    bbox: list((i) => {
      const { lon, lat } = point(i);
      const bbox: [number, number, number, number] = [
        round6(lon - BBOX_DEGREES.lon / 2),
        round6(lat - BBOX_DEGREES.lat / 2),
        round6(lon + BBOX_DEGREES.lon / 2),
        round6(lat + BBOX_DEGREES.lat / 2),
      ];
      return {
        path: `/v1/listings?bbox=${bbox.join(',')}&limit=50`,
        // The handler's default order for a where without near: newest first.
        call: {
          kind: 'search',
          params: { where: { kind: 'bbox', bbox }, filters: {}, sort: 'newest', limit: 50 },
        },
      };
    }),
    near: list((i) => {
      const { lon, lat } = point(i);
      return {
        path: `/v1/listings?near=${lon},${lat}&radius=${NEAR_RADIUS_M}&sort=distance&limit=50`,
        call: {
          kind: 'search',
          params: {
            where: { kind: 'near', lon, lat, radius: NEAR_RADIUS_M },
            filters: {},
            sort: 'distance',
            limit: 50,
          },
        },
      };
    }),
    stats: list((i) => {
      const id = options.areaIds[i % options.areaIds.length] as number;
      return {
        path: `/v1/stats?area=${id}&group=type`,
        call: { kind: 'stats', params: { where: { kind: 'area', id }, group: 'type' } },
      };
    }),
    'tile-z12': list((i) => tile(i, 12)),
    'tile-z14': list((i) => tile(i, 14)),
  };
}

/** Radius of the benchmark's ZIP-sized areas: 2.5 km, so 5 km across (~20 km²). */
export const AREA_RADIUS_M = 2500;

/**
 * A GeoJSON FeatureCollection of ZIP-sized areas (64-gons 5 km across): per metro, one on the
 * centre and two half a spread away, for `loadAreasFromGeoJSON`.
 */
export function zipSizedAreas() {
  const ring = (lon: number, lat: number) => {
    const dLat = AREA_RADIUS_M / 110_574;
    const dLon = AREA_RADIUS_M / (111_320 * Math.cos((lat * Math.PI) / 180));
    const points = Array.from({ length: 64 }, (_, k) => {
      const angle = (2 * Math.PI * k) / 64;
      return [round6(lon + dLon * Math.cos(angle)), round6(lat + dLat * Math.sin(angle))];
    });
    return [...points, points[0] as number[]];
  };
  const features = METRO_CENTRES.flatMap(([name, lon, lat, spread]) =>
    [
      [0, 0],
      [0.5, 0],
      [-0.3, 0.3],
    ].map(([fx, fy], k) => ({
      type: 'Feature' as const,
      properties: { name: `${name} ${k + 1}` },
      geometry: {
        type: 'Polygon' as const,
        coordinates: [ring(lon + (fx as number) * spread, lat + (fy as number) * spread)],
      },
    })),
  );
  return { type: 'FeatureCollection' as const, features };
}
