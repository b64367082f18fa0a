import { createRouter } from '../../http/router.js';
import { listingsInBbox, listingsQuerySchema } from './search.js';

export const listingRoutes = createRouter().get('/', async (c) => {
  const query = listingsQuerySchema.parse(c.req.query());
  return c.json({ items: await listingsInBbox(c.get('deps').db, query) });
});
