import type { Env } from '../env';
import { secretProblems } from '../lib/secrets';
import { checkSettings } from '../lib/settings';
import { cronJobs, type JobName } from './config';
import { runEtlJob } from './etl';
import { runHealthJob } from './health';
import { runKeysJob } from './keys';
import { describeError, logLine } from './log';
import { runReportJob } from './report';

type Job = (env: Env, at: number) => Promise<unknown>;

/** Each job by the name CRON_JOBS uses for it (docs/monitoring.md). */
const jobs: Record<JobName, Job> = {
  health: runHealthJob,
  etl: runEtlJob,
  report: runReportJob,
  keys: runKeysJob,
};

/**
 * The Worker's Cron Trigger handler: runs the jobs CRON_JOBS maps `controller.cron` to, in
 * parallel, each judged at `controller.scheduledTime` (not the clock: a trigger that fires late or
 * twice still means the same slot, and tests move time by passing it). A failing job is logged
 * with its name and does not stop the others; the handler itself does not throw, since the other
 * jobs' effects (alerts sent, ETL runs started) have happened either way.
 *
 * @example
 *   export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
 */
export const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env) => {
  const { cron, scheduledTime } = controller;
  let names: JobName[];
  try {
    names = cronJobs(env)[cron] ?? [];
  } catch (error) {
    logLine('error', 'scheduled run skipped: CRON_JOBS is invalid', {
      cron,
      error: describeError(error),
    });
    return;
  }
  if (names.length === 0) {
    logLine('warn', 'no job for this cron: add it to CRON_JOBS in wrangler.toml', { cron });
    return;
  }
  logLine('info', 'scheduled', { cron, at: new Date(scheduledTime).toISOString(), jobs: names });
  // On every run, not once per isolate: nobody reads /edge/health of a Worker that only pages,
  // so a missing alert channel (an error in production) must be loud where its alerts would be.
  const settings = checkSettings(env);
  const alerts = names.includes('health') || names.includes('report');
  if (alerts && settings.ok)
    for (const { level, variable, problem } of secretProblems(env, settings.settings))
      logLine(level === 'error' ? 'error' : 'warn', 'deployment misconfigured', {
        cron,
        variable,
        problem,
      });
  const settled = await Promise.allSettled(names.map((name) => jobs[name](env, scheduledTime)));
  settled.forEach((result, i) => {
    if (result.status === 'rejected')
      logLine('error', 'scheduled job failed', {
        cron,
        job: names[i],
        error: describeError(result.reason),
      });
  });
};
