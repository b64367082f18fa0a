import { Cron } from 'croner';
import { type JobContext, runBackupJob, verifyJob } from './jobs.js';

export type Daemon = {
  /** Stop scheduling, interrupt the job in flight (its temporary files are removed), wait for it. */
  stop(reason?: string): Promise<void>;
};

type Kind = 'run' | 'verify';

/**
 * `backup daemon`: the nightly backup and the weekly restore drill on their cron schedules, in
 * the host's time zone (TZ). Jobs never overlap: a job due while another runs is skipped with a
 * log line (the lock would refuse it anyway), and the next occurrence runs as usual.
 */
export function startDaemon(ctx: Omit<JobContext, 'signal'>): Daemon & { nextRun: Date | null } {
  const { config, logger } = ctx;
  let current: { kind: Kind; done: Promise<unknown>; controller: AbortController } | null = null;
  let stopping = false;

  const trigger = (kind: Kind) => {
    if (stopping) return;
    if (current) {
      logger.warn(
        { event: `${kind === 'run' ? 'backup' : 'verify'}.skipped`, running: current.kind },
        `${kind} skipped: ${current.kind} is still running`,
      );
      return;
    }
    const controller = new AbortController();
    const job =
      kind === 'run'
        ? runBackupJob({ ...ctx, signal: controller.signal })
        : verifyJob({ ...ctx, signal: controller.signal }, { which: 'latest' });
    const done = job.finally(() => {
      current = null;
    });
    current = { kind, done, controller };
  };

  const backups = new Cron(config.schedule, () => trigger('run'));
  // BACKUP_VERIFY_SCHEDULE=off: the drill runs on another host (docs/backups.md).
  const drills = config.verifySchedule
    ? new Cron(config.verifySchedule, () => trigger('verify'))
    : null;
  const jobs = drills ? [backups, drills] : [backups];
  logger.info(
    {
      event: 'daemon.started',
      schedule: config.schedule,
      verify_schedule: config.verifySchedule ?? 'off',
      next_run: backups.nextRun()?.toISOString() ?? null,
      next_verify: drills?.nextRun()?.toISOString() ?? null,
    },
    'backup daemon started',
  );

  return {
    nextRun: backups.nextRun(),
    async stop(reason = 'stopped') {
      stopping = true;
      for (const job of jobs) job.stop();
      const running = current;
      if (running) {
        logger.warn(
          { event: 'daemon.interrupting', running: running.kind, reason },
          `interrupting ${running.kind}`,
        );
        running.controller.abort(reason);
        await running.done;
      }
      logger.info({ event: 'daemon.stopped', reason }, 'backup daemon stopped');
    },
  };
}
