import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * tunnel/config.yml, the locally-managed tunnel's cloudflared configuration, checked for what
 * cloudflared itself would refuse (the catch-all last and only last) and for what it would
 * silently accept but we must not: a hostname without Access, an unknown key (cloudflared only
 * warns, so a typo such as `audtag` would switch the check off), a service compose does not run.
 * Each rule has a test showing that it fails on a broken copy.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** A Go duration, as cloudflared parses `connectTimeout: 5s`. */
const duration = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, 'must be a Go duration');

/** Every key cloudflared's OriginRequestConfig reads (config/configuration.go), and no other. */
const originRequest = z.strictObject({
  connectTimeout: duration.optional(),
  tlsTimeout: duration.optional(),
  tcpKeepAlive: duration.optional(),
  noHappyEyeballs: z.boolean().optional(),
  keepAliveConnections: z.number().int().positive().optional(),
  keepAliveTimeout: duration.optional(),
  httpHostHeader: z.string().optional(),
  originServerName: z.string().optional(),
  matchSNItoHost: z.boolean().optional(),
  caPool: z.string().optional(),
  noTLSVerify: z.boolean().optional(),
  disableChunkedEncoding: z.boolean().optional(),
  bastionMode: z.boolean().optional(),
  proxyAddress: z.string().optional(),
  proxyPort: z.number().int().optional(),
  proxyType: z.string().optional(),
  http2Origin: z.boolean().optional(),
  access: z
    .strictObject({
      required: z.boolean(),
      teamName: z.string().min(1),
      audTag: z.array(z.string().min(1)).min(1),
      environment: z.string().optional(),
    })
    .optional(),
});

const rule = z.strictObject({
  hostname: z.string().min(1).optional(),
  path: z.string().optional(),
  service: z.string().min(1),
  originRequest: originRequest.optional(),
});

const tunnelConfig = z.strictObject({
  tunnel: z.uuid(),
  'credentials-file': z.string().startsWith('/'),
  originRequest: originRequest.extend({
    connectTimeout: duration,
    tlsTimeout: duration,
    keepAliveTimeout: duration,
    tcpKeepAlive: duration,
  }),
  ingress: z.array(rule).min(1),
});

type TunnelConfig = z.infer<typeof tunnelConfig>;
type ComposeService = {
  command?: string[];
  environment?: Record<string, string | null>;
  secrets?: (string | { source: string; target?: string })[];
  volumes?: string[];
};
type Compose = { services: Record<string, ComposeService> };

/** The port each compose service listens on, from its own settings. */
function listeningPort(name: string, service: ComposeService): number | undefined {
  const env = service.environment ?? {};
  if (name === 'metabase') return Number(env.MB_JETTY_PORT ?? 3000);
  if (name === 'srh') return Number(env.SRH_PORT ?? 80);
  return env.PORT ? Number(env.PORT) : undefined;
}

/** Every way the tunnel configuration breaks our rules, as sentences; [] when there is none. */
function tunnelProblems(raw: unknown, compose: Compose): string[] {
  const parsed = tunnelConfig.safeParse(raw);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`);
  }
  const config: TunnelConfig = parsed.data;
  const problems: string[] = [];
  const rules = config.ingress;
  rules.forEach((r, i) => {
    const last = i === rules.length - 1;
    const where = r.hostname ?? `rule ${i + 1}`;
    if (last) {
      if (r.hostname || r.path) problems.push(`the last rule (${where}) is not a catch-all`);
      if (r.service !== 'http_status:404') problems.push('the catch-all does not answer 404');
      return;
    }
    if (!r.hostname) {
      problems.push(`rule ${i + 1} has no hostname: only the last rule may catch everything`);
      return;
    }
    if (/:\d+$/.test(r.hostname) || r.hostname.lastIndexOf('*') > 0) {
      problems.push(`${r.hostname} is not a valid rule hostname`);
    }
    const access = r.originRequest?.access;
    if (access?.required !== true) problems.push(`${r.hostname} does not require Access`);
    const target = /^https?:\/\/([a-z0-9-]+):(\d+)$/.exec(r.service);
    const service = target ? compose.services[target[1] ?? ''] : undefined;
    if (!target || !service) {
      problems.push(`${r.hostname} goes to ${r.service}, not to a service of origin/compose.yaml`);
    } else if (listeningPort(target[1] ?? '', service) !== Number(target[2])) {
      problems.push(`${r.hostname} goes to port ${target[2]}, where ${target[1]} does not listen`);
    }
  });
  const hostnames = rules.flatMap((r) => (r.hostname ? [r.hostname] : []));
  if (new Set(hostnames).size !== hostnames.length) problems.push('a hostname has two rules');

  // How compose runs cloudflared must match: the file where --config says, the credentials
  // file where the config says.
  const cloudflared = compose.services.cloudflared;
  const command = cloudflared?.command ?? [];
  const configPath = command[command.indexOf('--config') + 1];
  if (!cloudflared?.volumes?.some((v) => v === `../tunnel/config.yml:${configPath}:ro`)) {
    problems.push(`compose does not mount tunnel/config.yml read-only at --config ${configPath}`);
  }
  const targets = (cloudflared?.secrets ?? []).map((s) => (typeof s === 'string' ? '' : s.target));
  if (!targets.includes(config['credentials-file'])) {
    problems.push(`compose mounts no credentials file at ${config['credentials-file']}`);
  }
  return problems;
}

const config = parse(read('tunnel/config.yml'));
const compose = parse(read('origin/compose.yaml')) as Compose;

function mutated(change: (c: TunnelConfig) => void): TunnelConfig {
  const copy = structuredClone(config) as TunnelConfig;
  change(copy);
  return copy;
}

describe('tunnel/config.yml', () => {
  it('has only known keys, Access on every hostname, and the catch-all last', () => {
    expect(tunnelProblems(config, compose)).toEqual([]);
  });

  it('sends the API hostname to the api service and the Metabase hostname to metabase', () => {
    const { ingress } = tunnelConfig.parse(config);
    const serviceOf = (host: string | undefined) =>
      ingress.find((r) => r.hostname === host)?.service;
    // The hostnames the rest of the repository names: the Worker's ORIGIN_URL in production and
    // Metabase's MB_SITE_URL.
    const originUrl = /\[env\.production\.vars\][^[]*?ORIGIN_URL = "([^"]+)"/s.exec(
      read('wrangler.toml'),
    )?.[1];
    const siteUrl = /^METABASE_SITE_URL=(.+)$/m.exec(read('origin/.env.example'))?.[1];
    expect(serviceOf(new URL(originUrl ?? 'x:').hostname)).toBe('http://api:8080');
    expect(serviceOf(new URL(siteUrl ?? 'x:').hostname)).toBe('http://metabase:3000');
    expect(ingress.at(-1)).toEqual({ service: 'http_status:404' });
  });

  it('sets the connection timeouts for every rule, closing idle connections before the API does', () => {
    const { originRequest } = tunnelConfig.parse(config);
    const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? Number.NaN);
    expect(seconds(originRequest.connectTimeout)).toBeLessThanOrEqual(10);
    // Node's http server closes idle keep-alive connections after 5 s.
    expect(seconds(originRequest.keepAliveTimeout)).toBeLessThan(5);
  });

  describe('rejects a broken copy', () => {
    const cases: [string, (c: TunnelConfig) => void, string][] = [
      [
        'no catch-all at the end',
        (c) => {
          c.ingress.pop();
        },
        'is not a catch-all',
      ],
      [
        'a catch-all before the end',
        (c) => {
          c.ingress.unshift({ service: 'http://api:8080' });
        },
        'rule 1 has no hostname',
      ],
      [
        'a hostname without Access',
        (c) => {
          delete c.ingress[0]?.originRequest;
        },
        'origin.example.com does not require Access',
      ],
      [
        'Access present but not required',
        (c) => {
          const access = c.ingress[1]?.originRequest?.access;
          if (access) access.required = false;
        },
        'metabase.example.com does not require Access',
      ],
      [
        'Access without an AUD tag',
        (c) => {
          const access = c.ingress[0]?.originRequest?.access;
          if (access) access.audTag = [];
        },
        'ingress.0.originRequest.access.audTag',
      ],
      [
        'an AUD tag YAML reads as a number',
        (c) => {
          const access = c.ingress[0]?.originRequest?.access as Record<string, unknown>;
          access.audTag = [1234];
        },
        'audTag.0: Invalid input: expected string',
      ],
      [
        'a misspelt key that cloudflared would ignore',
        (c) => {
          const access = c.ingress[0]?.originRequest?.access as Record<string, unknown>;
          access.audtag = access.audTag;
        },
        'Unrecognized key: "audtag"',
      ],
      [
        'a service compose does not run',
        (c) => {
          if (c.ingress[0]) c.ingress[0].service = 'http://localhost:3000';
        },
        'not to a service of origin/compose.yaml',
      ],
      [
        'the wrong port for a service',
        (c) => {
          if (c.ingress[0]) c.ingress[0].service = 'http://api:3000';
        },
        'where api does not listen',
      ],
      [
        'a timeout cloudflared cannot parse',
        (c) => {
          c.originRequest.connectTimeout = '5 seconds';
        },
        'originRequest.connectTimeout: must be a Go duration',
      ],
      [
        'a tunnel that is not a UUID',
        (c) => {
          c.tunnel = 'estate-edge';
        },
        'tunnel:',
      ],
      [
        'a credentials file compose does not mount',
        (c) => {
          c['credentials-file'] = '/root/.cloudflared/creds.json';
        },
        'compose mounts no credentials file',
      ],
    ];
    for (const [what, change, expected] of cases) {
      it(`with ${what}`, () => {
        expect(tunnelProblems(mutated(change), compose)).toEqual(
          expect.arrayContaining([expect.stringContaining(expected)]),
        );
      });
    }
  });
});
