import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { realpath, stat } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FeedError } from './errors.js';

/** Relative paths in source definitions are from the project root, wherever the process runs. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What a feed location may reach (issue 13, finding 4): a user with `etl:admin` writes the
 * location, so without this the origin would read `/proc/self/environ` or the cloud metadata
 * service for them, and hand the lines back as rejects.
 */
export type FeedPolicy = {
  /** Directories (real paths, symlinks resolved) a file location must lie under. */
  fileRoots: readonly string[];
  /**
   * Hosts (`host` or `host:port`) fetched over plain http, and allowed to resolve to private or
   * loopback addresses: an internal feed server the operator named. Everything else is https to
   * a public address.
   */
  httpAllowHosts: readonly string[];
  /** The most bytes one feed may be: a file's size, a download's length. */
  maxBytes: number;
};

export type FeedPolicySettings = {
  NODE_ENV: 'development' | 'test' | 'production';
  ETL_FILE_ROOTS?: string[] | undefined;
  ETL_HTTP_ALLOW_HOSTS?: string[] | undefined;
  ETL_MAX_BYTES: number;
};

/** The shipped sample's folder: always a root unless ETL_FILE_ROOTS says otherwise. */
export const SAMPLES_ROOT = 'origin/etl/samples';

/**
 * The policy from origin/env.ts's variables. Without ETL_FILE_ROOTS: the samples, and outside
 * production the OS temp directory too (tests and one-off files on a developer's machine).
 *
 * @example
 *   const policy = feedPolicyFrom(parseEnv());
 */
export function feedPolicyFrom(env: FeedPolicySettings): FeedPolicy {
  const roots =
    env.ETL_FILE_ROOTS ??
    (env.NODE_ENV === 'production' ? [SAMPLES_ROOT] : [SAMPLES_ROOT, tmpdir()]);
  return {
    fileRoots: roots.map((root) => (isAbsolute(root) ? root : resolve(projectRoot, root))),
    httpAllowHosts: (env.ETL_HTTP_ALLOW_HOSTS ?? []).map((h) => h.toLowerCase()),
    maxBytes: env.ETL_MAX_BYTES,
  };
}

/**
 * The real path of a file location, refused unless it lies under one of the roots once every
 * symlink and `..` is resolved (so a link inside a root pointing at /etc is refused too).
 */
export async function confinedFilePath(location: string, policy: FeedPolicy): Promise<string> {
  const asked = isAbsolute(location) ? location : resolve(projectRoot, location);
  const real = await realpath(asked).catch(() => undefined);
  if (!real) throw new FeedError(`no such file: ${location}`);
  const roots = await Promise.all(policy.fileRoots.map((r) => realpath(r).catch(() => undefined)));
  const inside = roots.some((root) => root !== undefined && real.startsWith(withSep(root)));
  if (!inside) {
    throw new FeedError(
      `'${location}' is not under a feed root (ETL_FILE_ROOTS: ${policy.fileRoots.join(', ')})`,
    );
  }
  const info = await stat(real);
  if (!info.isFile()) throw new FeedError(`not a file: ${location}`);
  if (info.size > policy.maxBytes) {
    throw new FeedError(
      `'${location}' is ${info.size} bytes, over ETL_MAX_BYTES (${policy.maxBytes})`,
    );
  }
  return real;
}

const withSep = (dir: string) => (dir.endsWith(sep) ? dir : dir + sep);

/** Whether the operator named this URL's host (with or without its port) in ETL_HTTP_ALLOW_HOSTS. */
export function isAllowListed(url: URL, policy: FeedPolicy): boolean {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return policy.httpAllowHosts.some((entry) => entry === host || entry === `${host}:${port}`);
}

/** Refuses a URL (the first one or a redirect's target) by scheme and host, before any connection. */
export function checkFeedUrl(url: URL, policy: FeedPolicy): void {
  const allowed = isAllowListed(url, policy);
  // A literal address is connected to without a lookup, so guardedLookup never sees it.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  const why = !allowed && isIP(literal) ? refusedAddress(literal) : undefined;
  if (why) {
    throw new FeedError(
      `${url.host} is a ${why} address: feeds are fetched from public addresses only; an internal feed server must be named in ETL_HTTP_ALLOW_HOSTS`,
    );
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && allowed)) return;
  throw new FeedError(
    url.protocol === 'http:'
      ? `http://${url.host} is not in ETL_HTTP_ALLOW_HOSTS: feeds are fetched over https`
      : `unsupported location scheme '${url.protocol}': use a file path or an https URL`,
  );
}

/**
 * Addresses no feed may resolve to unless its host is allow-listed: IANA's special-purpose
 * ranges (RFC 6890 and its updates). Node's BlockList does the matching.
 */
const specialPurpose = (() => {
  const list = new BlockList();
  const v4: [string, number, string][] = [
    ['0.0.0.0', 8, 'this network'],
    ['10.0.0.0', 8, 'private'],
    ['100.64.0.0', 10, 'carrier-grade NAT'],
    ['127.0.0.0', 8, 'loopback'],
    ['169.254.0.0', 16, 'link-local (cloud metadata)'],
    ['172.16.0.0', 12, 'private'],
    ['192.0.0.0', 24, 'IETF protocol assignments'],
    ['192.0.2.0', 24, 'documentation'],
    ['192.168.0.0', 16, 'private'],
    ['198.18.0.0', 15, 'benchmarking'],
    ['198.51.100.0', 24, 'documentation'],
    ['203.0.113.0', 24, 'documentation'],
    ['224.0.0.0', 4, 'multicast'],
    ['240.0.0.0', 4, 'reserved'],
  ];
  const v6: [string, number, string][] = [
    ['::', 128, 'unspecified'],
    ['::1', 128, 'loopback'],
    // IPv4-mapped and NAT64 forms would smuggle any IPv4 address past the IPv4 rules.
    ['::ffff:0:0', 96, 'IPv4-mapped'],
    ['64:ff9b::', 96, 'NAT64'],
    ['100::', 64, 'discard'],
    ['2001:db8::', 32, 'documentation'],
    ['fc00::', 7, 'unique local (private)'],
    ['fe80::', 10, 'link-local'],
    ['ff00::', 8, 'multicast'],
  ];
  const reasons: { list: BlockList; reason: string; family: 'ipv4' | 'ipv6' }[] = [];
  for (const [family, ranges] of [
    ['ipv4', v4],
    ['ipv6', v6],
  ] as const) {
    for (const [net, prefix, reason] of ranges) {
      const one = new BlockList();
      one.addSubnet(net, prefix, family);
      list.addSubnet(net, prefix, family);
      reasons.push({ list: one, reason, family });
    }
  }
  return { list, reasons };
})();

/** Why an address may not be fetched from, or undefined for a public unicast address. */
export function refusedAddress(address: string): string | undefined {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (!specialPurpose.list.check(address, family)) return undefined;
  return specialPurpose.reasons.find((r) => r.family === family && r.list.check(address, family))
    ?.reason;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for the HTTP client's connections: every address the name resolves to is checked at
 * connect time, so a name that resolved to a public address for a check and to 127.0.0.1 for the
 * connection (DNS rebinding) is refused all the same. Allow-listed hosts skip the check.
 */
export function guardedLookup(policy: FeedPolicy) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const trusted = policy.httpAllowHosts.some((e) => e === host || e.startsWith(`${host}:`));
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses as LookupAddress[];
      const refused = trusted
        ? undefined
        : list.map((a) => ({ a, why: refusedAddress(a.address) })).find((r) => r.why);
      if (refused) {
        const e: NodeJS.ErrnoException = new FeedError(
          `${hostname} resolves to ${refused.a.address} (${refused.why}): feeds are fetched from public addresses only; an internal feed server must be named in ETL_HTTP_ALLOW_HOSTS`,
        );
        e.code = 'EFEEDADDRESS';
        return callback(e, []);
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      const first = list[0];
      if (!first)
        return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
