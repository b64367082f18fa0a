import type { SourceInput } from '../../../origin/etl/source-config.js';
import {
  type FeedFormat,
  GENERIC,
  HEADER,
  type Mutation,
  SPECIFIC,
  utf8,
} from './etl-mutations.js';
import { between, pick, type Random } from './values.js';

export type { FeedFormat };

/** A malformed feed: its bytes and what was done to a good one to make it. */
export type MalformedFile = { format: FeedFormat; mutation: string; bytes: Buffer };

/**
 * The fuzz sources: one per format, mapping the same eight fields (as test/support/etl.ts's
 * feedSource does for CSV), with bounds so swapped coordinates are caught too.
 */
export function fuzzSources(): SourceInput[] {
  const fields = {
    standard_status: { from: 'status', values: { A: 'Active', P: 'Pending', S: 'Closed' } },
    list_price: 'price',
    bedrooms_total: 'beds',
    unparsed_address: 'address',
    listing_contract_date: 'listed',
  };
  const bounds: [number, number, number, number] = [-123, 46, -121, 48.5];
  return [
    {
      name: 'fuzz-csv',
      format: 'csv',
      location: 'unused.csv',
      mapping: {
        key: { fields: ['mls_id'] },
        fields: { ...fields, latitude: 'lat', longitude: 'lon' },
        bounds,
      },
    },
    {
      name: 'fuzz-ndjson',
      format: 'ndjson',
      location: 'unused.ndjson',
      mapping: {
        key: { fields: ['mls_id'] },
        fields: { ...fields, latitude: 'geo.lat', longitude: 'geo.lon' },
        bounds,
      },
    },
    {
      name: 'fuzz-geojson',
      format: 'geojson',
      location: 'unused.geojson',
      mapping: {
        key: { fields: ['$id'] },
        fields: { ...fields, latitude: '$lat', longitude: '$lon' },
        bounds,
      },
    },
  ];
}

type Row = {
  id: string;
  status: string;
  price: number;
  beds: number;
  address: string;
  listed: string;
  lat: number;
  lon: number;
};

function goodRows(random: Random, count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `F${between(random, 1, 200)}`.concat(i % 7 === 0 ? '' : `-${i}`),
    status: pick(random, ['A', 'P', 'S']),
    price: between(random, 100, 3_000) * 1_000,
    beds: between(random, 0, 6),
    address: `${between(random, 1, 9_999)} ${pick(random, ['Pine St', 'Oak Ave', '1st Ave "North"', 'Elm, Unit 2'])}`,
    listed: `20${between(random, 10, 24)}-${String(between(random, 1, 12)).padStart(2, '0')}-${String(between(random, 1, 28)).padStart(2, '0')}`,
    lat: Number((47.2 + random() * 0.6).toFixed(6)),
    lon: Number((-122.5 + random() * 0.6).toFixed(6)),
  }));
}

const csvField = (v: string | number) => {
  const text = String(v);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

function encode(format: FeedFormat, rows: Row[]): string {
  switch (format) {
    case 'csv':
      return `${HEADER.join(',')}\n${rows.map((r) => [r.id, r.status, r.price, r.beds, r.address, r.listed, r.lat, r.lon].map(csvField).join(',')).join('\n')}\n`;
    case 'ndjson':
      return `${rows.map((r) => JSON.stringify({ mls_id: r.id, status: r.status, price: r.price, beds: r.beds, address: r.address, listed: r.listed, geo: { lat: r.lat, lon: r.lon } })).join('\n')}\n`;
    case 'geojson':
      return JSON.stringify({
        type: 'FeatureCollection',
        features: rows.map((r) => ({
          type: 'Feature',
          id: r.id,
          properties: {
            status: r.status,
            price: r.price,
            beds: r.beds,
            address: r.address,
            listed: r.listed,
          },
          geometry: { type: 'Point', coordinates: [r.lon, r.lat] },
        })),
      });
  }
}

export type FilePlan = {
  /** How many times every mutation is applied (each time with new random choices). */
  rounds: number;
  /**
   * The byte-level mutations shared out among the formats (each format gets every third)
   * instead of each applied to every format: a smoke run still tries every mutation once.
   */
  spreadGeneric: boolean;
  /** Add, per format, one record over the readers' 32 MB ceiling (a stress on memory). */
  hugeRecord: boolean;
};

/** Malformed files of each format, from good feeds of 40 rows, as `plan` says. */
export function malformedFiles(random: Random, plan: FilePlan): MalformedFile[] {
  const { rounds, hugeRecord } = plan;
  const out: MalformedFile[] = [];
  for (const [f, format] of (['csv', 'ndjson', 'geojson'] as const).entries()) {
    const generic = plan.spreadGeneric ? GENERIC.filter((_, i) => i % 3 === f) : GENERIC;
    const mutations = [...SPECIFIC[format], ...generic];
    for (let i = 0; i < rounds * mutations.length; i++) {
      const good = utf8(encode(format, goodRows(random, 40)));
      const [mutation, apply] = mutations[i % mutations.length] as Mutation;
      out.push({ format, mutation, bytes: apply(good, random, format) });
    }
    if (hugeRecord) {
      const big = 'Z'.repeat(33 * 1024 * 1024);
      const bytes =
        format === 'csv'
          ? utf8(`${HEADER.join(',')}\nH1,A,1,1,"${big}\n`)
          : format === 'ndjson'
            ? utf8(`{"mls_id":"H1","address":"${big}"}\n`)
            : utf8(
                `{"type":"FeatureCollection","features":[{"type":"Feature","id":"H1","properties":{"address":"${big}"},"geometry":{"type":"Point","coordinates":[-122.3,47.6]}}]}`,
              );
      out.push({ format, mutation: 'record-over-32MB', bytes });
    }
  }
  return out;
}
