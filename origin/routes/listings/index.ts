import { Hono } from 'hono';
import type { Database } from '../../db/database.js';
import { listingsInBbox, listingsQuerySchema } from './search.js';

export function listingRoutes(db: Database) {
  const app = new Hono();
  app.get('/', async (c) => {
    const query = listingsQuerySchema.parse(c.req.query());
    return c.json({ items: await listingsInBbox(db, query) });
  });
  return app;
}
