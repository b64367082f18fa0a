/**
 * Synthetic listings with realistic shapes: points clustered around metro centres, log-normal
 * prices, statuses in market proportions. Deterministic for a seed, so a re-run with `changed`
 * reproduces the same feed with that fraction of rows edited (price or status).
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { SourceInput } from '../../origin/etl/source-config.js';

/** mulberry32: a tiny, fast, seedable PRNG (Math.random cannot be seeded). */
export function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Metro centres: name, state, lon, lat, spread (σ of longitude in degrees; latitude's is 0.7 of it). */
export const METROS: [string, string, number, number, number][] = [
  ['Seattle', 'WA', -122.33, 47.61, 0.25],
  ['Portland', 'OR', -122.68, 45.52, 0.2],
  ['Denver', 'CO', -104.99, 39.74, 0.25],
  ['Austin', 'TX', -97.74, 30.27, 0.3],
  ['Atlanta', 'GA', -84.39, 33.75, 0.35],
  ['Boston', 'MA', -71.06, 42.36, 0.2],
  ['Phoenix', 'AZ', -112.07, 33.45, 0.35],
  ['Chicago', 'IL', -87.63, 41.88, 0.3],
];
const STATUSES: [string, number][] = [
  ['Closed', 0.55],
  ['Active', 0.2],
  ['Pending', 0.08],
  ['Active Under Contract', 0.05],
  ['Expired', 0.05],
  ['Withdrawn', 0.04],
  ['Canceled', 0.02],
  ['Coming Soon', 0.01],
];
const TYPES = [
  'Residential',
  'Residential',
  'Residential',
  'Condominium',
  'Townhouse',
  'Land',
  'Multi-Family',
];
const STREETS = [
  'Main St',
  'Oak Ave',
  'Pine St',
  'Maple Dr',
  'Cedar Ln',
  'Elm St',
  '2nd Ave',
  'Lake Rd',
];

export const SYNTHETIC_HEADER = [
  'ListingKey',
  'StandardStatus',
  'PropertyType',
  'ListPrice',
  'ClosePrice',
  'BedroomsTotal',
  'BathroomsTotal',
  'LivingArea',
  'LotSizeArea',
  'YearBuilt',
  'UnparsedAddress',
  'City',
  'StateOrProvince',
  'PostalCode',
  'ListingContractDate',
  'CloseDate',
  'Latitude',
  'Longitude',
];

/** A standard normal deviate (Box–Muller). */
export function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
}

function pick<T>(random: () => number, weighted: [T, number][]): T {
  let r = random();
  for (const [value, weight] of weighted) {
    r -= weight;
    if (r <= 0) return value;
  }
  return (weighted[0] as [T, number])[0];
}

/** One CSV line for listing `i`. `changed` in [0, 1]: that fraction of rows gets a new price or status. */
export function syntheticRow(i: number, changed = 0): string {
  const random = prng(i * 2654435761 + 17);
  const [city, state, lon0, lat0, spread] = METROS[i % METROS.length] as (typeof METROS)[number];
  const lon = (lon0 + gaussian(random) * spread).toFixed(6);
  const lat = (lat0 + gaussian(random) * spread * 0.7).toFixed(6);
  const type = TYPES[Math.floor(random() * TYPES.length)] as string;
  let status = pick(random, STATUSES);
  const living = Math.round(Math.exp(7.5 + gaussian(random) * 0.4));
  let listPrice = Math.round(Math.exp(12.9 + gaussian(random) * 0.5) / 1000) * 1000;
  const beds = Math.max(0, Math.min(8, Math.round(living / 600 + gaussian(random))));
  const baths = Math.max(1, Math.round((beds * 0.7 + random()) * 4) / 4);
  const year = 1900 + Math.floor(random() * 125);
  const listed = new Date(Date.UTC(2019, 0, 1) + Math.floor(random() * 2000) * 86_400_000);
  const step = changed > 0 ? Math.round(1 / changed) : 0;
  if (step > 0 && i % step === 0) {
    // Alternate among the changed rows (not on i itself: every multiple of 10 is even).
    if ((i / step) % 2 === 0) listPrice = Math.round(listPrice * 0.95);
    else status = status === 'Active' ? 'Pending' : 'Active';
  }
  const closed =
    status === 'Closed'
      ? new Date(listed.getTime() + (10 + Math.floor(random() * 90)) * 86_400_000)
      : undefined;
  const closePrice = closed ? Math.round(listPrice * (0.93 + random() * 0.12)) : '';
  const zip = String(10000 + ((i * 7919) % 89999)).padStart(5, '0');
  return [
    `SYN${i}`,
    status,
    type,
    listPrice,
    closePrice,
    beds,
    baths,
    living,
    Math.round(living * (1.5 + random() * 6)),
    year,
    `${1 + (i % 9999)} ${STREETS[i % STREETS.length]}`,
    city,
    state,
    zip,
    listed.toISOString().slice(0, 10),
    closed ? closed.toISOString().slice(0, 10) : '',
    lat,
    lon,
  ].join(',');
}

/** Write `rows` synthetic listings as CSV to `path`. */
export async function writeSyntheticCsv(path: string, rows: number, changed = 0): Promise<void> {
  const out = createWriteStream(path);
  out.write(`${SYNTHETIC_HEADER.join(',')}\n`);
  let chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    chunk.push(syntheticRow(i, changed));
    if (chunk.length === 5000) {
      if (!out.write(`${chunk.join('\n')}\n`)) await once(out, 'drain');
      chunk = [];
    }
  }
  if (chunk.length > 0) out.write(`${chunk.join('\n')}\n`);
  out.end();
  await once(out, 'finish');
}

/** The source definition that reads these files. */
export function syntheticSource(location: string): SourceInput {
  return {
    name: 'synthetic',
    format: 'csv',
    location,
    mapping: {
      key: { fields: ['ListingKey'] },
      fields: {
        standard_status: 'StandardStatus',
        property_type: 'PropertyType',
        list_price: 'ListPrice',
        close_price: 'ClosePrice',
        bedrooms_total: 'BedroomsTotal',
        bathrooms_total: 'BathroomsTotal',
        living_area: 'LivingArea',
        lot_size_area: 'LotSizeArea',
        year_built: 'YearBuilt',
        unparsed_address: 'UnparsedAddress',
        city: 'City',
        state_or_province: 'StateOrProvince',
        postal_code: 'PostalCode',
        listing_contract_date: 'ListingContractDate',
        close_date: 'CloseDate',
        latitude: 'Latitude',
        longitude: 'Longitude',
      },
      dateFormats: ['YYYY-MM-DD'],
      keepExtra: false,
    },
  };
}
