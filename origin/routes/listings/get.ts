import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import { NotFoundError } from '../../errors.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { listingIdParams, listingItemSchema } from './schema.js';

/** One listing with every field (the source's extras too) and its price and status history. */

type HistoryRow = {
  at: string;
  event: 'price' | 'status' | 'price_status';
  standard_status: string | null;
  list_price: number | null;
  close_price: number | null;
  previous_status: string | null;
  previous_list_price: number | null;
  previous_close_price: number | null;
  run_id: number | null;
};

export type HistoryEvent = {
  /** When the platform saw it (ISO timestamp): first load or the run that saw the change. */
  at: string;
  /** `first_seen`, then one of `price`, `status`, `price_status` per change. */
  event: 'first_seen' | HistoryRow['event'];
  /** The state from then on. */
  standard_status: string | null;
  list_price: number | null;
  close_price: number | null;
  /** The state just before (absent for first_seen). */
  previous?: {
    standard_status: string | null;
    list_price: number | null;
    close_price: number | null;
  };
  run_id: number | null;
};

export type GetListingParams = { id: number };

export async function getListing(db: Database, params: GetListingParams) {
  const [listing] = await db.rows<
    Record<string, unknown> & {
      created_at: string;
      standard_status: string;
      list_price: number | null;
      close_price: number | null;
    }
  >(sql`
    SELECT l.id::float8 AS id, s.name AS source, l.source_key, l.standard_status, l.property_type,
           l.list_price::float8 AS list_price, l.close_price::float8 AS close_price,
           l.bedrooms_total, l.bathrooms_total::float8 AS bathrooms_total, l.living_area,
           l.lot_size_area, l.year_built, l.unparsed_address, l.street_number, l.street_name,
           l.unit_number, l.city, l.state_or_province, l.postal_code, l.country,
           l.listing_contract_date::text AS listing_contract_date, l.close_date::text AS close_date,
           to_json(l.modification_timestamp) #>> '{}' AS modification_timestamp,
           ST_X(l.geom) AS longitude, ST_Y(l.geom) AS latitude, l.extra,
           to_json(l.created_at) #>> '{}' AS created_at, to_json(l.updated_at) #>> '{}' AS updated_at
    FROM listings l JOIN etl_sources s ON s.id = l.source_id
    WHERE l.id = ${params.id}`);
  if (!listing) throw new NotFoundError(`no listing with id ${params.id}`);
  const changes = await db.rows<HistoryRow>(sql`
    SELECT to_json(changed_at) #>> '{}' AS at, event, standard_status,
           list_price::float8 AS list_price, close_price::float8 AS close_price, previous_status,
           previous_list_price::float8 AS previous_list_price,
           previous_close_price::float8 AS previous_close_price, run_id
    FROM listing_history WHERE listing_id = ${params.id}
    ORDER BY changed_at, id`);
  return { ...listing, history: historyEvents(listing, changes) };
}

/**
 * The history as events a UI can draw on a timeline, oldest first. The first state is the
 * `previous_*` of the first change or, with no change yet, the listing as it is now.
 */
function historyEvents(
  listing: {
    created_at: string;
    standard_status: string;
    list_price: number | null;
    close_price: number | null;
  },
  changes: HistoryRow[],
): HistoryEvent[] {
  const first = changes[0];
  const firstSeen: HistoryEvent = first
    ? {
        at: listing.created_at,
        event: 'first_seen',
        standard_status: first.previous_status,
        list_price: first.previous_list_price,
        close_price: first.previous_close_price,
        run_id: null,
      }
    : {
        at: listing.created_at,
        event: 'first_seen',
        standard_status: listing.standard_status,
        list_price: listing.list_price,
        close_price: listing.close_price,
        run_id: null,
      };
  return [
    firstSeen,
    ...changes.map((c) => ({
      at: c.at,
      event: c.event,
      standard_status: c.standard_status,
      list_price: c.list_price,
      close_price: c.close_price,
      previous: {
        standard_status: c.previous_status,
        list_price: c.previous_list_price,
        close_price: c.previous_close_price,
      },
      run_id: c.run_id,
    })),
  ];
}

// --- HTTP

const stateSchema = {
  standard_status: z.string().nullable(),
  list_price: z.number().nullable(),
  close_price: z.number().nullable(),
};

export const listingDetailSchema = listingItemSchema
  .omit({ distance_m: true })
  .extend({
    source: z.string(),
    street_number: z.string().nullable(),
    street_name: z.string().nullable(),
    unit_number: z.string().nullable(),
    state_or_province: z.string().nullable(),
    country: z.string().nullable(),
    modification_timestamp: z.string().nullable(),
    extra: z
      .record(z.string(), z.unknown())
      .openapi({ description: "the source's other fields, as it gave them" }),
    created_at: z.string(),
    updated_at: z.string(),
    history: z.array(
      z.object({
        at: z.string().openapi({ format: 'date-time' }),
        event: z.enum(['first_seen', 'price', 'status', 'price_status']),
        ...stateSchema,
        previous: z.object(stateSchema).optional(),
        run_id: z.number().int().nullable(),
      }),
    ),
  })
  .openapi('Listing');

export const getRoute = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['listings'],
  summary: 'One listing with all its fields and its price and status history',
  // An empty strict query: an unknown parameter is a 400 here too, not silently ignored.
  request: { params: listingIdParams, query: z.strictObject({}) },
  responses: {
    200: {
      description: 'the listing',
      content: { 'application/json': { schema: listingDetailSchema } },
    },
    400: problemResponse('the id is not a positive whole number'),
    404: problemResponse('no listing has this id'),
  },
});

export const getHandler: RouteHandler<typeof getRoute, AppEnv> = async function getListingHandler(
  c,
) {
  const { id } = c.req.valid('param');
  return c.json((await getListing(c.get('deps').db, { id })) as never, 200);
};
