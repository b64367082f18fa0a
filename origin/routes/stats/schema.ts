import { z } from '@hono/zod-openapi';
import { KIND_PATTERN } from '../../areas/load.js';
import { standardStatuses } from '../../db/schema/listings.js';
import { isoDate, typeList } from '../shared/params.js';
import { listParam, whereParams } from '../shared/where.js';
import { MAX_GROUPS } from './query.js';

/** The wire shapes of /v1/stats, all documented in /openapi.json. */

export const kindParam = z
  .string()
  .max(40)
  .regex(KIND_PATTERN, 'expected an area kind: lowercase letters, digits and dashes');

export const statsQuery = z.strictObject({
  ...whereParams,
  group: z
    .enum(['month', 'type', 'area'])
    .default('month')
    .openapi({
      description:
        '`month`: by the month of each listing’s event (its sale when sold, else its listing); ' +
        '`type`: by property type; `area`: by every stored area the listing lies in',
    }),
  status: listParam(standardStatuses, 'status')
    .optional()
    .openapi({ description: 'comma list of RESO StandardStatus values', example: 'Closed' }),
  type: typeList
    .optional()
    .openapi({ description: 'comma list of property types', example: 'Residential,Condominium' }),
  since: isoDate.optional().openapi({
    description: 'inclusive: listings whose event (sale, else listing) is on or after this date',
    example: '2014-06-01',
  }),
  until: isoDate
    .optional()
    .openapi({ description: 'inclusive end of the period', example: '2014-12-31' }),
  kind: kindParam
    .optional()
    .openapi({ description: 'with group=area: only areas of this kind', example: 'zip-derived' }),
});

const distribution = z
  .object({
    p10: z.number(),
    p25: z.number(),
    median: z.number(),
    p75: z.number(),
    p90: z.number(),
  })
  .nullable()
  .openapi('Distribution', {
    description: 'percentile_cont percentiles; null when the group has no values',
  });

export const statsGroupSchema = z
  .object({
    key: z.string().nullable().openapi({
      description:
        '`YYYY-MM` (month), the property type or null when unknown (type), the area id (area)',
    }),
    area: z
      .object({ id: z.number().int(), slug: z.string(), name: z.string(), kind: z.string() })
      .optional(),
    count: z.number().int().openapi({ description: 'listings in the group (by their event)' }),
    new_listings: z.number().int().openapi({
      description:
        'listings whose listing_contract_date is in the month (month) or in since..until (type, area)',
    }),
    closed_sales: z
      .number()
      .int()
      .openapi({ description: 'listings of the group that sold (have a close_date)' }),
    list_price: distribution,
    close_price: distribution,
    price_per_sqft: distribution.openapi({
      description:
        'close_price / living_area for sold listings, list_price / living_area otherwise',
    }),
    median_days_on_market: z.number().nullable().openapi({
      description: 'close_date − listing_contract_date over sales with both dates',
    }),
  })
  .openapi('StatsGroup');

export const statsResponse = z
  .object({
    group: z.enum(['month', 'type', 'area']),
    groups: z.array(statsGroupSchema),
    truncated: z
      .boolean()
      .openapi({ description: `true when there were more than ${MAX_GROUPS} groups` }),
  })
  .openapi('Stats');

export { isoDate };
