import { type ChannelName, channelSecrets, routedKinds } from '../scheduled/config';
import type { SettingProblem, Settings } from './settings';

/** The secrets this module judges (edge/env.ts documents each one). */
export type SecretsEnv = {
  EDGE_ASSERTION_SECRET?: string;
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
  ALERT_SLACK_WEBHOOK_URL?: string;
  ALERT_WEBHOOK_URL?: string;
};

/**
 * A secret (or ALERT_ROUTES) that keeps this deployment from doing its job. `error`: /edge/health
 * answers 503 naming it; `warning`: it answers ok and lists it. Never the value.
 */
export type SecretProblem = SettingProblem & { level: 'error' | 'warning' };

/** The secret an assertion is signed with must be at least this long (origin-assertion). */
const MIN_ASSERTION_SECRET_BYTES = 32;

/**
 * Whether an alert route to an unconfigured channel is an error rather than a warning: in
 * production an alert nobody receives is an outage nobody hears of; in staging and development
 * the Worker is useful without Slack.
 */
export function alertChannelsRequired(settings: Pick<Settings, 'ENVIRONMENT'>): boolean {
  return settings.ENVIRONMENT === 'production';
}

/**
 * The secrets a deployment with these settings cannot work without: what wrangler.toml's
 * `[env.<name>.secrets] required` must list, so `wrangler deploy` refuses a Worker that lacks one
 * (scripts/check-worker-config.ts compares the two).
 *
 * @example
 *   requiredSecrets(parseSettings(vars).settings) // ['EDGE_ASSERTION_SECRET', …]
 */
export function requiredSecrets(settings: Settings): string[] {
  const names = ['EDGE_ASSERTION_SECRET'];
  if (settings.CF_ACCESS_SERVICE_TOKEN === 'required')
    names.push('CF_ACCESS_CLIENT_ID', 'CF_ACCESS_CLIENT_SECRET');
  if (alertChannelsRequired(settings))
    for (const channel of routedChannels(settings)) names.push(channelSecrets[channel]);
  return names;
}

/** Every channel ALERT_ROUTES names, once, in channel order. */
function routedChannels(settings: Settings): ChannelName[] {
  const named = new Set(routedKinds.flatMap((kind) => settings.ALERT_ROUTES[kind]));
  return (Object.keys(channelSecrets) as ChannelName[]).filter((c) => named.has(c));
}

const isSet = (value: string | undefined) => typeof value === 'string' && value.length > 0;

/**
 * What is missing among the secrets, judged against the settings: the assertion secret (always
 * required), the Access service token (when CF_ACCESS_SERVICE_TOKEN says so, or half of one), and
 * the secret of every channel ALERT_ROUTES sends to (an error in production, a warning elsewhere;
 * so is a severity routed nowhere). Pure: /edge/health and the scheduled handler both call it.
 *
 * @example
 *   const errors = secretProblems(env, settings).filter((p) => p.level === 'error');
 */
export function secretProblems(env: SecretsEnv, settings: Settings): SecretProblem[] {
  const problems: SecretProblem[] = [];
  const deployed = ['staging', 'production'].includes(settings.ENVIRONMENT);
  const put = (name: string) =>
    deployed
      ? `npx wrangler secret put ${name} --env ${settings.ENVIRONMENT} (docs/operations.md)`
      : `put it in .dev.vars`;

  const assertion = env.EDGE_ASSERTION_SECRET;
  if (!isSet(assertion))
    problems.push({
      variable: 'EDGE_ASSERTION_SECRET',
      problem: `is not set: every request to the origin fails; ${put('EDGE_ASSERTION_SECRET')}`,
      level: 'error',
    });
  else if (new TextEncoder().encode(assertion).length < MIN_ASSERTION_SECRET_BYTES)
    problems.push({
      variable: 'EDGE_ASSERTION_SECRET',
      problem: `is shorter than ${MIN_ASSERTION_SECRET_BYTES} bytes: the edge refuses to sign with it`,
      level: 'error',
    });

  const access = ['CF_ACCESS_CLIENT_ID', 'CF_ACCESS_CLIENT_SECRET'] as const;
  const accessSet = access.filter((name) => isSet(env[name]));
  const accessRequired = settings.CF_ACCESS_SERVICE_TOKEN === 'required';
  // Half a service token is never sent (originCredentials sends both or neither).
  if (accessRequired || accessSet.length === 1)
    for (const name of access)
      if (!isSet(env[name]))
        problems.push({
          variable: name,
          problem: accessRequired
            ? `is not set, and CF_ACCESS_SERVICE_TOKEN is "required": Cloudflare Access refuses every request to the origin; ${put(name)}`
            : `is not set while its other half is: the Access service token is not sent`,
          level: 'error',
        });

  const level = alertChannelsRequired(settings) ? 'error' : 'warning';
  const routes = settings.ALERT_ROUTES;
  const unrouted = routedKinds.filter((kind) => routes[kind].length === 0);
  if (unrouted.length > 0)
    problems.push({
      variable: 'ALERT_ROUTES',
      problem: `sends ${unrouted.join(', ')} to no channel: those notifications are only logged`,
      level,
    });
  for (const channel of routedChannels(settings)) {
    const secret = channelSecrets[channel];
    if (isSet(env[secret])) continue;
    const kinds = routedKinds.filter((kind) => routes[kind].includes(channel));
    problems.push({
      variable: secret,
      problem: `is not set, and ALERT_ROUTES sends ${kinds.join(', ')} to ${channel}: those notifications are dropped; ${put(secret)}, or take ${channel} out of ALERT_ROUTES`,
      level,
    });
  }
  return problems;
}

// As the settings are (lib/settings.ts): the env object is the isolate's, so once per isolate.
const logged = new WeakSet<object>();

/**
 * secretProblems for the Worker's own env, each problem logged once per isolate (level error or
 * warn, naming the secret, never a value), for `wrangler tail` and Workers Logs.
 *
 * @example
 *   const problems = checkSecrets(c.env, settings);
 */
export function checkSecrets(env: SecretsEnv, settings: Settings): SecretProblem[] {
  const problems = secretProblems(env, settings);
  if (!logged.has(env)) {
    logged.add(env);
    for (const { level, variable, problem } of problems) {
      const line = JSON.stringify({ level, msg: 'deployment misconfigured', variable, problem });
      if (level === 'error') console.error(line);
      else console.warn(line);
    }
  }
  return problems;
}
