// Moved to scripts/lib/redis-rest-process.ts so bench/ can share it without importing test/ (issue 15).
export * from '../../scripts/lib/redis-rest-process.js';
