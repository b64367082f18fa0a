import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDataVersion } from '../../../origin/db/data-version.js';
import { upsertSource } from '../../../origin/etl/sources.js';
import { syntheticSource, writeSyntheticCsv } from '../../../scripts/lib/synthetic.js';
import { onCleanup } from '../lib/cleanup.js';
import { type Checksum, listingsChecksum, sameChecksum } from '../lib/database.js';
import type { machineDuring } from '../lib/machine.js';
import type { Fault } from '../lib/options.js';
import type { Platform } from '../lib/platform.js';
import { type Allowance, countStatuses, overlaps } from '../lib/verdicts.js';
import { sleep, until } from '../lib/wait.js';
import { CACHE_CODES, type Kind, type LoadRecord, type Target } from '../load/mix.js';
import { runEtlKill } from './etl-kill.js';
import { qualifiersOf, recoveredAt, STABLE_MS, timeline } from './recovery.js';

export type FaultReport = {
  fault: Fault;
  what: string;
  /** Seconds from the load's start. */
  startedAtS: number;
  /** From the fault's start until the broken part was back (restarted, fast again). */
  outageMs: number;
  /** From the part being back until a client got a fresh answer (see each fault's `recovery`). */
  recoveryMs: number | null;
  recoveryBoundMs: number;
  recovery: string;
  /** What clients saw between the fault's start and its recovery (plus a grace period). */
  clients: Partial<Record<Target, Record<string, number>>>;
  /** Answers served from the edge cache past their freshness (X-Cache: STALE) in that window. */
  servedStale: number;
  /** How busy the machine was during the window (lib/machine.ts). */
  machine?: ReturnType<typeof machineDuring>;
  integrity: {
    checked: string;
    ok: boolean;
    before?: Checksum;
    after?: Checksum;
    dataVersion?: { before: number; after: number };
  };
  details?: Record<string, unknown>;
  violations: string[];
  /** The statuses this fault is expected to cause, per Worker, inside its window. */
  allowed: Allowance['statuses'];
  /** Per second around the fault: statuses by Worker (see timeline()). */
  timeline?: string[];
  /** When the broken part was back (wall-clock ms). */
  backAt: number;
  /** The window in which the fault's intended statuses are allowed (wall-clock ms). */
  window: { from: number; to: number };
};

export type FaultTimings = {
  /** How long a killed part stays down, and how long the origin stays slow. */
  downMs: number;
  slowMs: number;
  /** Pause between faults, so each one's tail is its own. */
  settleMs: number;
  etlRows: number;
};

export type FaultContext = {
  platform: Platform;
  records: readonly LoadRecord[];
  kinds: readonly Kind[];
  loadStartedAt: number;
  timings: FaultTimings;
  log: (line: string) => void;
};

/** Requests started within this much after recovery may still carry the fault's 5xx. */
const GRACE_MS = 1_000;

/**
 * Each fault in turn, during the steady load: inject it, bring the part back, wait (bounded) for
 * clients to get fresh answers again, check the listings are exactly as before. What clients saw
 * in the window is filled in at the end (summarizeFaults), once every answer is in.
 */
export async function runFaults(
  context: FaultContext,
  faults: readonly Fault[],
): Promise<FaultReport[]> {
  const { platform, timings, log } = context;
  const { breaker, originTimeoutMs } = platform.settings;
  const reports: FaultReport[] = [];
  const both = (statuses: number[]) => ({ main: statuses, closed: statuses });

  let feed: string | undefined;
  if (faults.includes('etl-kill')) {
    const dir = mkdtempSync(join(tmpdir(), 'estate-edge-reliability-feed-'));
    onCleanup('the synthetic feed', () => rmSync(dir, { recursive: true, force: true }));
    feed = join(dir, 'synthetic.csv');
    await writeSyntheticCsv(feed, timings.etlRows);
    await upsertSource(platform.db, syntheticSource(feed));
  }

  for (const fault of faults) {
    let report: FaultReport;
    switch (fault) {
      case 'origin-kill':
        report = await measure(context, {
          fault,
          what: `the origin process SIGKILLed, restarted ${timings.downMs / 1000} s later on the same port`,
          // Unreachable (502 after the retries), then the open breaker (503).
          allowed: both([502, 503]),
          recovery:
            'the first answer from the origin (2xx, X-Cache MISS or BYPASS) after it listened again',
          recoveryBoundMs: breaker.cooldown_ms + 10_000,
          // A killed origin fails every request at once (the proxy drops it): nothing is held.
          inFlightMs: 1_000,
          inject: async () => {
            await platform.origin.kill();
            await sleep(timings.downMs);
            await platform.origin.start();
          },
        });
        break;
      case 'pg-restart':
        report = await measure(context, {
          fault,
          what: 'the private PostgreSQL restarted (pg_ctl restart -m fast): every session cut',
          allowed: both([502, 503, 504]),
          recovery:
            'the first answer from the origin (2xx, MISS or BYPASS) after PostgreSQL was back',
          recoveryBoundMs: 15_000,
          inFlightMs: originTimeoutMs + 1_000,
          inject: () => platform.cluster.restart(),
        });
        break;
      case 'redis-kill':
        report = await measure(context, {
          fault,
          what: `redis-server SIGKILLed, restarted (empty) ${timings.downMs / 1000} s later`,
          // The fail-open Worker must keep serving; the fail-closed one answers 503.
          allowed: { closed: [503] },
          recovery:
            'quotas counted again on the fail-open Worker (RateLimit headers) and a 2xx from the fail-closed one',
          recoveryBoundMs: 15_000,
          // A quota check gives up after RATE_LIMITS.timeout_ms.
          inFlightMs: platform.settings.rateLimitTimeoutMs + 1_000,
          inject: async () => {
            await platform.redis.kill();
            await sleep(timings.downMs);
            await platform.redis.start();
          },
        });
        break;
      case 'slow-origin':
        report = await measure(context, {
          fault,
          what: `every request to the origin held ${(originTimeoutMs + 1_000) / 1000} s (deadline ${originTimeoutMs / 1000} s) for ${timings.slowMs / 1000} s`,
          // The deadline (504), then the open breaker (503).
          allowed: both([503, 504]),
          recovery:
            'the first answer from the origin (2xx, MISS or BYPASS) after it was fast again',
          recoveryBoundMs: breaker.cooldown_ms + originTimeoutMs + 10_000,
          inFlightMs: originTimeoutMs + 1_000,
          inject: async () => {
            platform.proxy.setDelay(originTimeoutMs + 1_000);
            await sleep(timings.slowMs);
            platform.proxy.setDelay(0);
          },
        });
        break;
      case 'etl-kill':
        report = await runEtlKill(context);
        break;
    }
    reports.push(report);
    log(`  ${fault}: ${headline(report)}`);
    await sleep(timings.settleMs);
  }
  return reports;
}

/** The fault windows as the verdicts take them; after summarizeFaults. */
export function allowancesOf(reports: readonly FaultReport[]): Allowance[] {
  return reports.map((r) => ({ fault: r.fault, ...r.window, statuses: r.allowed }));
}

function headline(report: FaultReport): string {
  const recovery =
    report.recoveryMs === null
      ? `not recovered within ${report.recoveryBoundMs / 1000} s`
      : `served again ~${(report.recoveryMs / 1000).toFixed(1)} s after it was back`;
  return `out ${(report.outageMs / 1000).toFixed(1)} s, ${recovery}; listings ${report.integrity.ok ? 'intact' : 'CHANGED'}${report.violations.length ? ` — ${report.violations.length} violation(s)` : ''}`;
}

async function measure(
  context: FaultContext,
  spec: {
    fault: Fault;
    what: string;
    allowed: Allowance['statuses'];
    recovery: string;
    recoveryBoundMs: number;
    /**
     * How long a request started during the fault can still take to fail once the part is back
     * (the edge's deadline for a held one): recovery is not judged before that, since the
     * runner only hears of a request when it ends.
     */
    inFlightMs: number;
    inject: () => Promise<void>;
  },
): Promise<FaultReport> {
  const { platform } = context;
  const violations: string[] = [];
  const before = await listingsChecksum(platform.db);
  const versionBefore = (await readDataVersion(platform.db)).version;
  const startedAt = Date.now();
  await spec.inject();
  const backAt = Date.now();
  // Bounded: past the bound the part moves on; summarizeFaults then reports no recovery.
  const qualifiers = qualifiersOf(spec.fault, context.kinds);
  await sleep(spec.inFlightMs);
  await until(
    'clients to recover',
    () =>
      recoveredAt(context.records, qualifiers, backAt, Date.now()) === null ? undefined : true,
    spec.recoveryBoundMs + STABLE_MS,
    100,
  ).catch(() => undefined);
  const estimate = recoveredAt(context.records, qualifiers, backAt, Date.now());
  const after = await until(
    'the database to answer the checksum',
    () => listingsChecksum(platform.db).catch(() => undefined),
    15_000,
    500,
  );
  const versionAfter = (await readDataVersion(platform.db)).version;
  const ok = sameChecksum(before, after) && versionAfter === versionBefore;
  if (!ok)
    violations.push(
      `${spec.fault}: the listings changed (${before.count} rows ${before.md5} → ${after.count} rows ${after.md5}, data version ${versionBefore} → ${versionAfter})`,
    );
  if (platform.origin.unexpectedExits.length > 0)
    violations.push(`${spec.fault}: ${platform.origin.unexpectedExits.splice(0).join('; ')}`);
  return {
    fault: spec.fault,
    what: spec.what,
    startedAtS: Math.round((startedAt - context.loadStartedAt) / 100) / 10,
    outageMs: backAt - startedAt,
    // An estimate for the progress line; summarizeFaults computes it from every answer.
    recoveryMs: estimate === null ? null : Math.max(0, estimate - backAt),
    recoveryBoundMs: spec.recoveryBoundMs,
    recovery: spec.recovery,
    clients: {},
    servedStale: 0,
    integrity: {
      checked: 'listings checksum and data version before and after',
      ok,
      before,
      after,
      dataVersion: { before: versionBefore, after: versionAfter },
    },
    violations,
    allowed: spec.allowed,
    backAt,
    window: { from: startedAt, to: backAt + spec.recoveryBoundMs },
  };
}

/**
 * Once every answer is in: each fault's recovery from the complete records (requests that were
 * still in flight during the run included), its window (start to recovery, plus a grace second),
 * and what clients saw in it. A fault that did not recover within its bound is a violation.
 */
export function summarizeFaults(
  reports: FaultReport[],
  records: readonly LoadRecord[],
  kinds: readonly Kind[],
  loadStoppedAt: number,
): void {
  const stale = CACHE_CODES.indexOf('STALE');
  reports.forEach((report, i) => {
    if (report.fault !== 'etl-kill') {
      const next = reports[i + 1]?.window.from ?? loadStoppedAt;
      const at = recoveredAt(records, qualifiersOf(report.fault, kinds), report.backAt, next - 1);
      const within = at !== null && at - report.backAt <= report.recoveryBoundMs;
      report.recoveryMs = within ? Math.max(0, at - report.backAt) : null;
      // Never into the next fault's window, recovered or not.
      report.window.to = Math.min(
        next - 1,
        (within ? at : report.backAt + report.recoveryBoundMs) + GRACE_MS,
      );
      if (!within)
        report.violations.push(
          `${report.fault}: clients were not served again within ${report.recoveryBoundMs / 1000} s of the part being back (${report.recovery})`,
        );
    }
    const inside = records.filter((r) => overlaps(r[0], r[1], report.window));
    report.clients = {
      main: countStatuses(inside, 'main', kinds),
      closed: countStatuses(inside, 'closed', kinds),
    };
    report.servedStale = inside.filter((r) => r[4] === stale).length;
    report.timeline = timeline(
      records,
      kinds,
      report.window.from - 2_000,
      report.window.to + 2_000,
      report.window.from,
    );
  });
}
