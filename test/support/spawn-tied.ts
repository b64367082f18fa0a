// Moved to scripts/lib/spawn-tied.ts so bench/ can share it without importing test/ (issue 15).
export * from '../../scripts/lib/spawn-tied.js';
