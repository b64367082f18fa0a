import { createRouter } from '../../http/router.js';
import {
  getRunHandler,
  getRunRoute,
  listRejectsHandler,
  listRejectsRoute,
  listRunsHandler,
  listRunsRoute,
  startRunHandler,
  startRunRoute,
} from './runs.js';
import {
  getSourceHandler,
  getSourceRoute,
  listSourcesHandler,
  listSourcesRoute,
  putSourceHandler,
  putSourceRoute,
} from './sources.js';

/**
 * The ETL admin API under /v1/etl: start and inspect runs, read and replace source definitions.
 * Every route names the scope it needs with requireScope (http/authz.ts), the one place the
 * identity issue fills in.
 */
export const etlRoutes = createRouter()
  .openapi(startRunRoute, startRunHandler)
  .openapi(listRunsRoute, listRunsHandler)
  .openapi(getRunRoute, getRunHandler)
  .openapi(listRejectsRoute, listRejectsHandler)
  .openapi(listSourcesRoute, listSourcesHandler)
  .openapi(getSourceRoute, getSourceHandler)
  .openapi(putSourceRoute, putSourceHandler);
