import { alertChannelsRequired } from '../../lib/secrets';
import { loadCockatiel } from '../../middleware/origin-proxy/policy';
import {
  type AlertRoutes,
  alertRoutes,
  type ChannelName,
  channelSecrets,
  type MonitoringBindings,
  type MonitoringConfig,
} from '../config';
import { describeError, logLine } from '../log';
import { type Notification, slackPayload, webhookPayload } from './notification';

export type Delivery = {
  channel: ChannelName;
  outcome: 'delivered' | 'failed' | 'not configured';
  attempts: number;
  /** The last answer's status, 0 when none came. */
  status: number;
};

/** Worth another try: the receiver is overloaded or briefly unreachable. */
class RetryableDelivery extends Error {
  override name = 'RetryableDelivery';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Sent to the generic webhook when ALERT_WEBHOOK_SECRET is set (see signatureHeaders). */
export const SIGNATURE_HEADER = 'X-Estate-Edge-Signature';
export const TIMESTAMP_HEADER = 'X-Estate-Edge-Timestamp';

/**
 * `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, as Stripe and Slack sign their own webhooks: the
 * receiver recomputes it with the shared secret and refuses an old timestamp, so a captured
 * delivery cannot be replayed later.
 */
export async function signatureHeaders(
  secret: string,
  body: string,
  at: number,
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(at / 1000));
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = await crypto.subtle.sign(
    'HMAC',
    key,
    new TextEncoder().encode(`${timestamp}.${body}`),
  );
  const hex = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: `v1=${hex}` };
}

/** The channels a notification goes to: its severity's, or the report's. */
export function channelsFor(n: Notification, routes: AlertRoutes): readonly ChannelName[] {
  return n.type === 'report' ? routes.report : routes[n.severity];
}

/**
 * Sends a notification to every channel its route names, in parallel, each with retries
 * (exponential backoff with jitter, `MONITORING.webhook`) on network errors, timeouts, 429 and
 * 5xx; another 4xx is not retried (a wrong URL does not heal). Never throws: a receiver that is
 * down must not stop the check that found the problem. Logs each outcome by channel name only:
 * a webhook URL is a credential.
 *
 * @example
 *   const deliveries = await deliver(env, config, { type: 'alert', ... });
 */
export async function deliver(
  env: MonitoringBindings,
  config: MonitoringConfig,
  notification: Notification,
): Promise<Delivery[]> {
  const channels = channelsFor(notification, alertRoutes(env));
  return Promise.all(channels.map((channel) => deliverTo(env, config, notification, channel)));
}

async function deliverTo(
  env: MonitoringBindings,
  config: MonitoringConfig,
  notification: Notification,
  channel: ChannelName,
): Promise<Delivery> {
  const secret = channelSecrets[channel];
  const url = env[secret];
  const fields = { channel, notification: notification.type };
  if (!url) {
    // In production a dropped alert is an error (edge/lib/secrets.ts says the same at
    // /edge/health); elsewhere a channel may be left out on purpose.
    logLine(
      alertChannelsRequired({ ENVIRONMENT: env.ENVIRONMENT ?? '' }) ? 'error' : 'warn',
      'notification channel not configured',
      { ...fields, secret },
    );
    return { channel, outcome: 'not configured', attempts: 0, status: 0 };
  }
  const body = JSON.stringify(
    channel === 'slack' ? slackPayload(notification) : webhookPayload(notification),
  );
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'estate-edge-monitor',
    ...(channel === 'webhook' && env.ALERT_WEBHOOK_SECRET
      ? await signatureHeaders(env.ALERT_WEBHOOK_SECRET, body, notification.at)
      : {}),
  };

  const { retry, handleType, ExponentialBackoff } = await loadCockatiel();
  const policy = retry(handleType(RetryableDelivery), {
    maxAttempts: config.webhook.attempts - 1,
    backoff: new ExponentialBackoff({
      initialDelay: config.webhook.backoff_ms,
      maxDelay: config.webhook.backoff_ms * 16,
    }),
  });
  let attempts = 0;
  let status = 0;
  try {
    await policy.execute(async () => {
      attempts += 1;
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(config.webhook.timeout_ms),
        });
      } catch (error) {
        status = 0;
        // The runtime's message may quote the URL, which is a credential.
        throw new RetryableDelivery(describeError(error).replaceAll(url, '<webhook URL>'), 0);
      }
      status = res.status;
      await res.body?.cancel();
      if (res.ok) return;
      if (res.status === 429 || res.status >= 500)
        throw new RetryableDelivery(`answered ${res.status}`, res.status);
      throw new Error(`answered ${res.status}`);
    });
    logLine('info', 'notification delivered', { ...fields, attempts, status });
    return { channel, outcome: 'delivered', attempts, status };
  } catch (error) {
    logLine('error', 'notification not delivered', {
      ...fields,
      attempts,
      status,
      error: describeError(error),
    });
    return { channel, outcome: 'failed', attempts, status };
  }
}
