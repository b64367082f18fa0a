import { createRouter } from '../../http/router.js';
import { createAreasHandler, createAreasRoute } from './create.js';
import { getAreaHandler, getAreaRoute } from './get.js';
import { listAreasHandler, listAreasRoute } from './list.js';

/**
 * /v1/areas: named polygons (ZIPs, neighbourhoods) to search and aggregate by. Reading is open;
 * loading is an admin operation (see the seam in create.ts).
 */
export const areaRoutes = createRouter()
  .openapi(listAreasRoute, listAreasHandler)
  .openapi(getAreaRoute, getAreaHandler)
  .openapi(createAreasRoute, createAreasHandler);
