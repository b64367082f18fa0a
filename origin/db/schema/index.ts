export * from './areas.js';
export * from './etl-rejects.js';
export * from './etl-runs.js';
export * from './etl-sources.js';
export * from './listing-history.js';
export * from './listings.js';
