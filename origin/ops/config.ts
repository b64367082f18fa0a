/**
 * What the operational endpoints need to know about the machine: where the data lives (for disk
 * space) and where the backup job reports. Meant to come from the parsed environment through the
 * app's deps; until it is wired there, `opsConfigFrom` falls back to the process environment.
 */
export type OpsConfig = {
  /** The directory whose file system's free space readiness reports. */
  dataDir: string;
  /** The JSON file the backup job writes `{ finished_at, ok, size_bytes }` to; unset = unknown. */
  backupStatusFile?: string | undefined;
};

export function opsConfigFrom(deps: { ops?: OpsConfig | undefined }): OpsConfig {
  if (deps.ops) return deps.ops;
  return {
    dataDir: process.env.DATA_DIR || process.cwd(),
    backupStatusFile: process.env.BACKUP_STATUS_FILE || undefined,
  };
}
