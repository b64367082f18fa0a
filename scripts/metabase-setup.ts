/**
 * `npm run metabase:setup`: provision Metabase for the analyst, idempotently (docs/analytics.md).
 * On a fresh Metabase it creates the first admin; then it adds the PostgreSQL connection as the
 * read-only role estate_analytics (schema `analytics` only), saves the native-SQL questions of
 * origin/analytics/questions.ts and puts them on the "Market overview" dashboard. Run it again at
 * will: it finds everything by name and creates nothing twice.
 *
 * Environment: METABASE_URL, METABASE_ADMIN_EMAIL, METABASE_ADMIN_PASSWORD (secret),
 * METABASE_SITE_NAME, METABASE_WAIT_SECONDS, METABASE_UPDATE_DATABASE, ANALYTICS_DB_HOST,
 * ANALYTICS_DB_PORT, ANALYTICS_DB_NAME, ANALYTICS_DB_USER, ANALYTICS_DB_PASSWORD (secret),
 * ANALYTICS_DB_SSL.
 *
 * Exit code: 0 done, 1 a step failed (the message names it, with Metabase's status and answer),
 * 2 the environment is incomplete or malformed.
 */
import { MetabaseClient, MetabaseError } from '../origin/analytics/metabase/client.js';
import { MetabaseConfigError, parseMetabaseEnv } from '../origin/analytics/metabase/config.js';
import { provisionMetabase } from '../origin/analytics/metabase/provision.js';

async function main(): Promise<number> {
  let config: ReturnType<typeof parseMetabaseEnv>;
  try {
    config = parseMetabaseEnv(process.env);
  } catch (error) {
    if (!(error instanceof MetabaseConfigError)) throw error;
    console.error(`metabase-setup: ${error.message}`);
    return 2;
  }
  const client = new MetabaseClient({
    url: config.url,
    secrets: [config.admin.password, config.database.password],
  });
  try {
    const report = await provisionMetabase(client, config);
    const { admin, database, questions, dashboard } = report;
    console.log(`metabase: ${client.url}`);
    console.log(`admin ${config.admin.email}: ${admin}`);
    console.log(`database #${database.id} "${config.database.name}": ${database.action}`);
    for (const q of questions) console.log(`question #${q.id} "${q.name}": ${q.action}`);
    console.log(
      `dashboard #${dashboard.id} "Market overview": ${dashboard.action}, ${dashboard.cardsAdded} card(s) added`,
    );
    console.log(`open ${client.url}/dashboard/${dashboard.id}`);
    return 0;
  } catch (error) {
    if (!(error instanceof MetabaseError)) throw error;
    console.error(`metabase-setup: ${error.message}`);
    return 1;
  }
}

process.exitCode = await main();
