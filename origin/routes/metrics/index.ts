import { createRouter } from '../../http/router.js';

/** Placeholder: GET /metrics lands with the API issue. */
export const metricsRoutes = createRouter();
