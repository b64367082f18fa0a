import { z } from '@hono/zod-openapi';

/** Query parameters shared by several resources, so they accept and refuse the same things. */

/** An ISO calendar date that exists (2024-02-30 does not). */
export const isoDate = z
  .string()
  .max(10)
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected an ISO date YYYY-MM-DD')
  .refine((value) => {
    const date = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
  }, 'not a calendar date');

/**
 * Property types are the source's own words ("Residential", "Condominium", "Multi-Family"), so
 * they are checked by shape rather than against a list: letters, digits, spaces and a little
 * punctuation, 60 characters each, 20 values at most. The values are bound as parameters either
 * way; the shape check keeps junk out of cache keys and error messages.
 */
export const typeList = z
  .string()
  .max(1000)
  .transform((value, ctx) => {
    const items = [
      ...new Set(
        value
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      ),
    ];
    const bad = items.find((v) => !/^[\p{L}\p{N}][\p{L}\p{N} &/().'-]{0,59}$/u.test(v));
    if (items.length === 0 || items.length > 20 || bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          bad !== undefined
            ? `'${bad.slice(0, 40)}' is not a property type (letters, digits, spaces and & / ( ) . ' - only, at most 60 characters)`
            : 'expected 1 to 20 comma-separated property types',
      });
      return z.NEVER;
    }
    return items;
  });
