// Moved to scripts/lib/redis-server.ts so bench/ can share it without importing test/ (issue 15).
export * from '../../scripts/lib/redis-server.js';
