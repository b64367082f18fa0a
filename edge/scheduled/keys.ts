import * as z from 'zod/mini';
import { retireSigningKeysPath, retireSigningKeysScope } from '../../contract/routes';
import { logLine } from './log';
import { callOrigin, type OriginCallEnv } from './origin';

/** One UPDATE at the origin: a slow answer is an origin in trouble, which `health` reports. */
const TIMEOUT_MS = 10_000;

const answerSchema = z.object({ retired: z.array(z.string()) });

export type KeysRun = { outcome: 'retired' | 'unreachable' | 'refused'; retired: string[] };

/**
 * The `keys` job: `npm run keys -- retire-expired`, scheduled. After a rotation the previous
 * signing key keeps verifying until it is retired; this retires it once its last token has
 * expired, whichever isolate runs it (the UPDATE is idempotent, so no lock is needed: two triggers
 * of one slot retire the key once and find nothing the second time). Never throws: an origin that
 * cannot be reached is the `health` job's to report; the next run retries.
 *
 * @example
 *   CRON_JOBS = { "*\/5 * * * *" = ["health", "etl", "keys"] }
 */
export async function runKeysJob(env: OriginCallEnv): Promise<KeysRun> {
  const answer = await callOrigin(env, {
    method: 'POST',
    path: retireSigningKeysPath,
    scope: retireSigningKeysScope,
    timeoutMs: TIMEOUT_MS,
  });
  const fields = { job: 'keys', request_id: answer.requestId };
  if (!answer.reached || [502, 503, 504].includes(answer.status)) {
    logLine('warn', 'signing keys not checked: the origin did not answer', {
      ...fields,
      status: answer.reached ? answer.status : 0,
    });
    return { outcome: 'unreachable', retired: [] };
  }
  const parsed = answer.status === 200 ? answerSchema.safeParse(answer.json) : null;
  if (!parsed?.success) {
    // A 404 here is an origin without the route or an edge without the scope: a deploy mistake.
    logLine('error', 'signing keys not retired: the origin refused', {
      ...fields,
      status: answer.status,
    });
    return { outcome: 'refused', retired: [] };
  }
  const { retired } = parsed.data;
  logLine('info', retired.length ? 'signing keys retired' : 'no signing key to retire', {
    ...fields,
    retired,
  });
  return { outcome: 'retired', retired };
}
