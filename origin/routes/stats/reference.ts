/**
 * TEST-ONLY: an independent reference for /v1/stats, in plain JS over the source CSV files, so
 * the tests compare the SQL with numbers computed another way (never with hard-coded answers,
 * never with the same SQL). Written from the definitions in query.ts's header, not from its code.
 */
import { readFileSync } from 'node:fs';

export type Rec = {
  lon: number;
  lat: number;
  status: string;
  type: string | null;
  list: number | null;
  close: number | null;
  living: number | null;
  zip: string | null;
  /** ISO dates. */
  listed: string | null;
  closed: string | null;
};

function num(text: string | undefined): number | null {
  if (text === undefined || text === '' || text === '?') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** King County: `10/13/2014` → `2014-10-13`. */
function usDate(text: string): string {
  const [m, d, y] = text.split('/') as [string, string, string];
  return `${y}-${m.padStart(2, '0')}-${d.padStart(2, '0')}`;
}

/** The King County sample as the shipped source maps it (all closed sales, residential). */
export function readKingCounty(path: string): Rec[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = (header as string).split(',');
  const at = (name: string) => cols.indexOf(name);
  const [iDate, iPrice, iLiving, iZip, iLat, iLon] = [
    'date',
    'price',
    'sqft_living',
    'zipcode',
    'lat',
    'long',
  ].map(at) as number[];
  return lines.map((line) => {
    const f = line.split(',');
    return {
      lon: Number(f[iLon as number]),
      lat: Number(f[iLat as number]),
      status: 'Closed',
      type: 'Residential',
      list: null,
      close: num(f[iPrice as number]),
      living: num(f[iLiving as number]),
      zip: f[iZip as number] ?? null,
      listed: null,
      closed: usDate(f[iDate as number] as string),
    };
  });
}

/** A file written by scripts/lib/synthetic.ts's writeSyntheticCsv. */
export function readSynthetic(path: string): Rec[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = (header as string).split(',');
  return lines.map((line) => {
    const f = line.split(',');
    const get = (name: string) => f[cols.indexOf(name)] ?? '';
    return {
      lon: Number(get('Longitude')),
      lat: Number(get('Latitude')),
      status: get('StandardStatus'),
      type: get('PropertyType') || null,
      list: num(get('ListPrice')),
      close: num(get('ClosePrice')),
      living: num(get('LivingArea')),
      zip: get('PostalCode') || null,
      listed: get('ListingContractDate') || null,
      closed: get('CloseDate') || null,
    };
  });
}

/** percentile_cont: linear interpolation between the two nearest ranks of the sorted values. */
export function percentileCont(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  const pos = p * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (v[lo] as number) + (pos - lo) * ((v[hi] as number) - (v[lo] as number));
}

function distribution(values: number[]) {
  if (values.length === 0) return null;
  const [p10, p25, median, p75, p90] = [0.1, 0.25, 0.5, 0.75, 0.9].map(
    (p) => percentileCont(values, p) as number,
  );
  return { p10, p25, median, p75, p90 };
}

const DAY = 86_400_000;

export type ExpectedGroup = {
  key: string | null;
  count: number;
  new_listings: number;
  closed_sales: number;
  list_price: ReturnType<typeof distribution>;
  close_price: ReturnType<typeof distribution>;
  price_per_sqft: ReturnType<typeof distribution>;
  median_days_on_market: number | null;
};

/**
 * The groups /v1/stats should answer for `recs` (already narrowed to the where and the
 * status/type filters). `keyOf` gives a record's keys for type/area groupings (a record can lie
 * in several areas).
 */
export function expectedStats(
  recs: Rec[],
  options: {
    group: 'month' | 'type' | 'area';
    since?: string;
    until?: string;
    keysOf?: (r: Rec) => (string | null)[];
  },
): ExpectedGroup[] {
  const { since, until } = options;
  const period = since !== undefined || until !== undefined;
  const inPeriod = (d: string | null) =>
    d !== null && (since === undefined || d >= since) && (until === undefined || d <= until);
  type Acc = { main: Rec[]; fresh: number };
  const groups = new Map<string | null, Acc>();
  const acc = (key: string | null) => {
    let g = groups.get(key);
    if (!g) {
      g = { main: [], fresh: 0 };
      groups.set(key, g);
    }
    return g;
  };
  for (const r of recs) {
    const event = r.closed ?? r.listed;
    const main = period ? inPeriod(event) : options.group === 'month' ? event !== null : true;
    const fresh = r.listed !== null && (!period || inPeriod(r.listed));
    if (options.group === 'month') {
      if (main && event) acc(event.slice(0, 7)).main.push(r);
      if (fresh && r.listed) acc(r.listed.slice(0, 7)).fresh += 1;
    } else {
      const keys = options.group === 'type' ? [r.type] : (options.keysOf?.(r) ?? []);
      for (const key of keys) {
        if (main) acc(key).main.push(r);
        if (fresh) acc(key).fresh += 1;
      }
    }
  }
  const out: ExpectedGroup[] = [];
  for (const [key, g] of groups) {
    const dom = g.main
      .filter((r) => r.closed && r.listed && r.closed >= r.listed)
      .map((r) => (Date.parse(r.closed as string) - Date.parse(r.listed as string)) / DAY);
    out.push({
      key,
      count: g.main.length,
      new_listings: g.fresh,
      closed_sales: g.main.filter((r) => r.closed !== null).length,
      list_price: distribution(g.main.flatMap((r) => (r.list === null ? [] : [r.list]))),
      close_price: distribution(g.main.flatMap((r) => (r.close === null ? [] : [r.close]))),
      price_per_sqft: distribution(
        g.main.flatMap((r) => {
          const price = r.close ?? r.list;
          return price !== null && r.living ? [price / r.living] : [];
        }),
      ),
      median_days_on_market: percentileCont(dom, 0.5),
    });
  }
  return out.sort((a, b) => String(a.key).localeCompare(String(b.key)));
}

/** Distance on the WGS84 ellipsoid (Vincenty's inverse formula, sub-millimetre here). */
export function vincentyMetres(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const a = 6378137;
  const f = 1 / 298.257223563;
  const b = a * (1 - f);
  const rad = Math.PI / 180;
  const L = (lon2 - lon1) * rad;
  const U1 = Math.atan((1 - f) * Math.tan(lat1 * rad));
  const U2 = Math.atan((1 - f) * Math.tan(lat2 * rad));
  const [sinU1, cosU1, sinU2, cosU2] = [Math.sin(U1), Math.cos(U1), Math.sin(U2), Math.cos(U2)];
  let lambda = L;
  let previous: number;
  let sinSigma = 0;
  let cosSigma = 0;
  let sigma = 0;
  let cosSqAlpha = 0;
  let cos2SigmaM = 0;
  let iterations = 200;
  do {
    const sinLambda = Math.sin(lambda);
    const cosLambda = Math.cos(lambda);
    sinSigma = Math.sqrt(
      (cosU2 * sinLambda) ** 2 + (cosU1 * sinU2 - sinU1 * cosU2 * cosLambda) ** 2,
    );
    if (sinSigma === 0) return 0;
    cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosLambda;
    sigma = Math.atan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinLambda) / sinSigma;
    cosSqAlpha = 1 - sinAlpha * sinAlpha;
    cos2SigmaM = cosSqAlpha !== 0 ? cosSigma - (2 * sinU1 * sinU2) / cosSqAlpha : 0;
    const C = (f / 16) * cosSqAlpha * (4 + f * (4 - 3 * cosSqAlpha));
    previous = lambda;
    lambda =
      L +
      (1 - C) *
        f *
        sinAlpha *
        (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM ** 2)));
  } while (Math.abs(lambda - previous) > 1e-12 && --iterations > 0);
  const uSq = (cosSqAlpha * (a * a - b * b)) / (b * b);
  const A = 1 + (uSq / 16384) * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)));
  const B = (uSq / 1024) * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)));
  const deltaSigma =
    B *
    sinSigma *
    (cos2SigmaM +
      (B / 4) *
        (cosSigma * (-1 + 2 * cos2SigmaM ** 2) -
          (B / 6) * cos2SigmaM * (-3 + 4 * sinSigma ** 2) * (-3 + 4 * cos2SigmaM ** 2)));
  return b * A * (sigma - deltaSigma);
}

/** Even-odd point-in-polygon over a polygon's rings (holes included). */
export function inRings(lon: number, lat: number, rings: number[][][]): boolean {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i] as [number, number];
      const [xj, yj] = ring[j] as [number, number];
      if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi)
        inside = !inside;
    }
  }
  return inside;
}
