/** The server tests run against; CI and this machine use trust auth on 127.0.0.1. */
export function adminUrl(): string {
  return process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/**
 * Every database of one test run starts with this run's prefix, so two runs on one server (a
 * developer's and CI's) never drop each other's databases.
 */
export function runPrefix(runId: string): string {
  return `estate_test_${runId}_`;
}

/** The URL of another database on the same server. */
export function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}
