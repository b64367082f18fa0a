import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * On Linux, `setpriv --pdeathsig KILL` makes the kernel kill the child when its parent dies, even
 * by SIGKILL (vitest ends a test worker with SIGTERM then SIGKILL, and no 'exit' hook runs then),
 * so no redis-server, adapter, origin or load generator outlives the test or suite that started
 * it on a shared machine. Elsewhere the callers' own exit hooks are the only net.
 */
const DIE_WITH_PARENT = existsSync('/usr/bin/setpriv')
  ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--']
  : [];

/**
 * Spawn `command` so that it dies with this process.
 *
 * @example
 *   const child = spawnTied('redis-server', ['--port', '0'], { stdio: 'ignore' });
 */
export function spawnTied(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const [first, ...rest] = [...DIE_WITH_PARENT, command, ...args] as [string, ...string[]];
  return spawn(first, rest, options);
}
