/**
 * Which process listens on a local TCP port, read from /proc (Linux only). The edge benchmark uses
 * it to prove that the URL it loads is workerd's own socket, with no Node proxy in the path, and
 * to find the processes whose CPU it reports (workerd, redis-server, the REST adapter).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export type Listener = { pid: number; command: string };

/** The inodes of sockets listening on `port` (state 0A = LISTEN), IPv4 and IPv6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== '0A' || !local.endsWith(`:${hexPort}`)) continue;
      if (fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * The process listening on `port` on this machine, or undefined when none (or another user's:
 * its file descriptors cannot be read).
 *
 * @example
 *   listenerOf(8787); // { pid: 4242, command: 'workerd' }
 */
export function listenerOf(port: number): Listener | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        const command = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
        return { pid: Number(entry), command };
      }
    }
  }
  return undefined;
}

/** The parent of `pid` (field 4 of /proc/<pid>/stat), or undefined. */
export function parentOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}
