/**
 * What can go wrong with a backup, by name. The CLIs map them to exit codes and one sentence for
 * the operator; the status file records the sentence.
 */

/** A missing or contradictory setting, found before anything is touched. */
export class BackupConfigError extends Error {
  readonly code = 'BACKUP_CONFIG' as const;
}

/** A dump that is not the file its manifest describes: corrupted, truncated or replaced. */
export class IntegrityError extends Error {
  readonly code = 'INTEGRITY' as const;
}

/** No backup where one was asked for. */
export class BackupNotFoundError extends Error {
  readonly code = 'BACKUP_NOT_FOUND' as const;
}

/** Restoring would overwrite a database that holds something. */
export class TargetNotEmptyError extends Error {
  readonly code = 'TARGET_NOT_EMPTY' as const;
}

/** Another backup job (run, verify or prune) holds the job lock. */
export class BusyError extends Error {
  readonly code = 'BUSY' as const;
}

/** A restored copy that differs from what its manifest recorded. */
export class VerifyError extends Error {
  readonly code = 'VERIFY_FAILED' as const;
}

/** An external tool (pg_dump, pg_restore, age, gpg) that failed, with the end of its stderr. */
export class ToolError extends Error {
  readonly code = 'TOOL_FAILED' as const;
  constructor(
    readonly tool: string,
    message: string,
    /** True when we stopped it ourselves (abort, or a failure elsewhere in the pipeline). */
    readonly stoppedByUs = false,
  ) {
    super(message);
  }
}

/** The job was interrupted (SIGTERM, SIGINT): not a failure of the backup itself. */
export class InterruptedError extends Error {
  readonly code = 'INTERRUPTED' as const;
}

export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
