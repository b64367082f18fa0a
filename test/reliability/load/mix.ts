/**
 * What the load generator sends: a weighted mix of the requests real clients make, built from a
 * fixed seed so two runs send the same sequence. Shared by the generator (which sends) and the
 * runner (which judges what came back by each kind's expectation).
 */

/** Which Worker: `main` fails open when Redis is down, `closed` answers 503 instead. */
export type Target = 'main' | 'closed';
/**
 * `ok`: a well-formed request, anything but 2xx is unexpected. `bad`: a malformed one, a 4xx
 * problem+json is expected. `quota`: a key sent over its plan on purpose, 2xx or 429.
 */
export type Expectation = 'ok' | 'bad' | 'quota';

export type MixContext = {
  /** Ids of stored listings (a sample), for /v1/listings/{id} and comps. */
  listingIds: readonly number[];
  /** The viewer's page and its hashed assets, read from the page itself. */
  viewerPaths: readonly string[];
};

export type Kind = {
  name: string;
  weight: number;
  target: Target;
  expect: Expectation;
  credentials?: 'token' | 'quota-key';
  path: (random: () => number, context: MixContext) => string;
};

const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)] as T;
const round = (value: number, places: number) => Number(value.toFixed(places));

/** King County, where the shipped sample's 21,597 sales lie. */
const AREA = { minLon: -122.45, maxLon: -121.9, minLat: 47.3, maxLat: 47.78 };

function bboxes(random: () => number, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const lon = AREA.minLon + random() * (AREA.maxLon - AREA.minLon);
    const lat = AREA.minLat + random() * (AREA.maxLat - AREA.minLat);
    const half = pick(random, [0.01, 0.02, 0.05]);
    out.push(
      [lon - half, lat - half * 0.7, lon + half, lat + half * 0.7]
        .map((v) => round(v, 2))
        .join(','),
    );
  }
  return out;
}

function tile(random: () => number): string {
  const z = 10 + Math.floor(random() * 6);
  const lon = AREA.minLon + random() * (AREA.maxLon - AREA.minLon);
  const lat = AREA.minLat + random() * (AREA.maxLat - AREA.minLat);
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const rad = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  return `/v1/tiles/listings/${z}/${x}/${y}.mvt`;
}

/**
 * Fixed pools of URLs, so the same ones come back (cache HITs) among new ones (MISSes), as with
 * many clients looking at one city. Built from their own seed, the same in every process.
 */
export function urlPools(random: () => number) {
  const boxes = bboxes(random, 400);
  const listings = boxes.map(
    (bbox) =>
      `/v1/listings?bbox=${bbox}&limit=${pick(random, [10, 25, 50])}${pick(random, ['', '&sort=price', '&sort=-listed', '&status=Closed', '&price_min=300000&price_max=900000', '&beds_min=3'])}`,
  );
  const near = Array.from({ length: 200 }, () => {
    const lon = round(AREA.minLon + random() * (AREA.maxLon - AREA.minLon), 3);
    const lat = round(AREA.minLat + random() * (AREA.maxLat - AREA.minLat), 3);
    return `/v1/listings?near=${lon},${lat}&radius=${pick(random, [500, 1000, 2000])}&limit=20&sort=distance`;
  });
  const stats = boxes
    .slice(0, 150)
    .map((bbox) => `/v1/stats?bbox=${bbox}&group=${pick(random, ['month', 'type', 'area'])}`);
  const tiles = Array.from({ length: 300 }, () => tile(random));
  return { listings, near, stats, tiles };
}

/** Requests the API must refuse with a 4xx problem+json. */
export const BAD_PATHS = [
  '/v1/listings?bbox=1,2,3',
  '/v1/listings?bbox=-122.4,47.5,-122.2,47.7&limit=0',
  '/v1/listings?bbox=-122.4,47.5,-122.2,47.7&sort=sideways',
  '/v1/listings?near=200,95',
  '/v1/listings/0',
  '/v1/listings/999999999',
  '/v1/stats?bbox=-122.4,47.5,-122.2,47.7&group=weekday',
  '/v1/tiles/listings/30/0/0.mvt',
  '/v1/tiles/listings/3/9/9.mvt',
  '/v1/no-such-resource',
];

export function kinds(pools: ReturnType<typeof urlPools>): Kind[] {
  return [
    {
      name: 'listings-bbox',
      weight: 20,
      target: 'main',
      expect: 'ok',
      path: (r) => pick(r, pools.listings),
    },
    {
      name: 'listings-near',
      weight: 8,
      target: 'main',
      expect: 'ok',
      path: (r) => pick(r, pools.near),
    },
    { name: 'stats', weight: 10, target: 'main', expect: 'ok', path: (r) => pick(r, pools.stats) },
    { name: 'tiles', weight: 14, target: 'main', expect: 'ok', path: (r) => pick(r, pools.tiles) },
    {
      name: 'listing-by-id',
      weight: 10,
      target: 'main',
      expect: 'ok',
      path: (r, c) => `/v1/listings/${pick(r, c.listingIds)}`,
    },
    {
      name: 'comps',
      weight: 3,
      target: 'main',
      expect: 'ok',
      path: (r, c) => `/v1/listings/${pick(r, c.listingIds)}/comps`,
    },
    {
      name: 'viewer',
      weight: 6,
      target: 'main',
      expect: 'ok',
      path: (r, c) => pick(r, c.viewerPaths),
    },
    {
      name: 'personal',
      weight: 5,
      target: 'main',
      expect: 'ok',
      credentials: 'token',
      path: () => '/v1/api-keys',
    },
    {
      name: 'bad-request',
      weight: 6,
      target: 'main',
      expect: 'bad',
      path: (r) => pick(r, BAD_PATHS),
    },
    {
      name: 'over-quota-key',
      weight: 5,
      target: 'main',
      expect: 'quota',
      credentials: 'quota-key',
      path: (r) => pick(r, pools.listings),
    },
    {
      name: 'fail-closed-worker',
      weight: 8,
      target: 'closed',
      expect: 'ok',
      path: (r) => pick(r, r() < 0.5 ? pools.listings : pools.stats),
    },
  ];
}

/** X-Cache as a small number in a record. */
export const CACHE_CODES = ['', 'HIT', 'MISS', 'STALE', 'BYPASS'] as const;

export const FLAG_PROBLEM = 1;
export const FLAG_RATE_LIMIT_HEADERS = 2;
export const FLAG_TIMEOUT = 4;
export const FLAG_CONNECTION_ERROR = 8;

/**
 * One request's outcome, as a tuple to keep IPC cheap: wall-clock start (ms), duration (ms),
 * status (0: no answer), kind index, cache code, flags, how late it was sent (ms).
 */
export type LoadRecord = [
  start: number,
  durationMs: number,
  status: number,
  kind: number,
  cache: number,
  flags: number,
  lagMs: number,
];

export type LoadConfig = {
  targets: Record<Target, string>;
  rate: number;
  seed: number;
  adminToken: string;
  quotaKey: string;
  context: MixContext;
  /** Distinct client addresses the anonymous traffic comes from (CF-Connecting-IP). */
  addresses: number;
  timeoutMs: number;
  /** Requests in flight beyond this are not sent (counted as shed): the client stays bounded. */
  maxInFlight: number;
};

export type GeneratorMessage =
  | { type: 'started'; startedAt: number }
  | { type: 'records'; records: LoadRecord[] }
  | {
      type: 'stopped';
      sent: number;
      shed: number;
      maxInFlight: number;
      startedAt: number;
      stoppedAt: number;
    };

export type RunnerMessage = { type: 'start'; config: LoadConfig } | { type: 'stop' };
