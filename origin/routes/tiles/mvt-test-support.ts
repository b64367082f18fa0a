import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';

/**
 * Test support for the tile tests: an independent, plain-JS account of where a listing falls in
 * a tile (spherical Web Mercator, as in the MVT spec), and the decoding of a tile's bytes.
 */

export type DecodedFeature = {
  id: number;
  x: number;
  y: number;
  properties: Record<string, unknown>;
};

/** A point's position in tile (z, x, y) in pixels of a 4096 extent; may fall outside 0..4096. */
export function tilePixel(
  lon: number,
  lat: number,
  z: number,
  x: number,
  y: number,
): [number, number] {
  const n = 2 ** z;
  const worldX = (lon + 180) / 360;
  const rad = (lat * Math.PI) / 180;
  const worldY = (1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2;
  return [(worldX * n - x) * 4096, (worldY * n - y) * 4096];
}

/** Whether a point is in the tile or its 64-pixel buffer. */
export function inBufferedTile(lon: number, lat: number, z: number, x: number, y: number): boolean {
  const [px, py] = tilePixel(lon, lat, z, x, y);
  return px >= -64 && px <= 4160 && py >= -64 && py <= 4160;
}

/** The tile containing a point at a zoom. */
export function tileOf(lon: number, lat: number, z: number): { z: number; x: number; y: number } {
  const [px, py] = tilePixel(lon, lat, z, 0, 0);
  return { z, x: Math.floor(px / 4096), y: Math.floor(py / 4096) };
}

/** Whether a point is in the tile itself, as a cell tile counts it (left and top edges in). */
export function inTile(lon: number, lat: number, z: number, x: number, y: number): boolean {
  const [px, py] = tilePixel(lon, lat, z, x, y);
  return px >= 0 && px < 4096 && py >= 0 && py < 4096;
}

/**
 * The id of the cell (of a 64 × 64 grid per tile) a point of tile (z, x, y) falls in, as the
 * `listing_clusters` layer numbers them: row × columns of the zoom's grid + column.
 */
export function cellIdOf(lon: number, lat: number, z: number, x: number, y: number): number {
  const grid = 64;
  const [px, py] = tilePixel(lon, lat, z, x, y);
  const cx = Math.min(grid - 1, Math.floor((px * grid) / 4096));
  const cy = Math.min(grid - 1, Math.floor((py * grid) / 4096));
  return (y * grid + cy) * 2 ** z * grid + x * grid + cx;
}

/** Every feature of layer `listings`, with its point in tile pixels. */
export function decodeListings(bytes: Uint8Array): { extent: number; features: DecodedFeature[] } {
  return decodeLayer(bytes, 'listings');
}

/** Every feature of a layer (`listings`, `listing_clusters`), with its point in tile pixels. */
export function decodeLayer(
  bytes: Uint8Array,
  name: string,
): { extent: number; features: DecodedFeature[] } {
  const tile = new VectorTile(new PbfReader(bytes));
  const layer = tile.layers[name];
  if (!layer) return { extent: 4096, features: [] };
  const features: DecodedFeature[] = [];
  for (let i = 0; i < layer.length; i++) {
    const f = layer.feature(i);
    const point = f.loadGeometry()[0]?.[0] ?? { x: Number.NaN, y: Number.NaN };
    features.push({ id: Number(f.id), x: point.x, y: point.y, properties: { ...f.properties } });
  }
  return { extent: layer.extent, features };
}
