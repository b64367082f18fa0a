import type { AlertEvent, Severity } from '../health/alerts';
import { checkLabels } from '../health/checks';

export type AlertNotification = {
  type: 'alert';
  environment: string;
  at: number;
  /** The highest of its events: it decides the channels (ALERT_ROUTES). */
  severity: Severity;
  /** Every change seen in one run, in one message: an outage is one alert, not one per check. */
  events: AlertEvent[];
  /** False without a monitoring store: the alert repeats on every run while the problem lasts. */
  history: boolean;
};

export type ReportNotification = {
  type: 'report';
  environment: string;
  at: number;
  title: string;
  /** One line per fact, for people. */
  lines: string[];
  /** The same facts for machines (the generic webhook's `report`). */
  data: Record<string, unknown>;
};

export type Notification = AlertNotification | ReportNotification;

/** `1 h 5 min`, `12 min`, `40 s`. */
export function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const utc = (at: number) => `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** One line per event, as people read it. */
export function eventLine(event: AlertEvent, at: number): string {
  const label = checkLabels[event.check];
  const detail = event.detail ? `: ${event.detail}` : '';
  switch (event.kind) {
    case 'down':
      return `🔴 ${label} is down since ${utc(event.since)}${detail}`;
    case 'degraded':
      return `🟠 ${label} is degraded since ${utc(event.since)}${detail}`;
    case 'recovered':
      return `✅ ${label} is back up${event.lastedMs !== null ? ` after ${duration(event.lastedMs)} ${event.previous}` : ''}`;
    case 'reminder':
      return `⏰ ${label} is still ${event.state}, for ${duration(at - event.since)} now${detail}`;
  }
}

export function alertTitle(n: AlertNotification): string {
  const [first, ...rest] = n.events;
  if (!first) return `estate-edge ${n.environment}: nothing to report`;
  const label = checkLabels[first.check];
  const what =
    first.kind === 'recovered'
      ? `${label} recovered`
      : first.kind === 'reminder'
        ? `${label} still ${first.state}`
        : `${label} ${first.kind}`;
  const more = rest.length ? ` (+${rest.length} more)` : '';
  const tag = n.severity === 'critical' ? 'CRITICAL' : 'warning';
  return `[${n.environment}] ${tag}: ${what}${more}`;
}

/** The lines of an alert, plus a note when it is sent without history. */
export function alertLines(n: AlertNotification): string[] {
  const lines = n.events.map((e) => eventLine(e, n.at));
  if (!n.history)
    lines.push(
      'No monitoring store (UPSTASH_REDIS_REST_URL) is reachable: this check is not recorded and repeats on every run while the problem lasts.',
    );
  return lines;
}

const clip = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** Slack's mrkdwn treats &, < and > as markup (links, mentions). */
const slackEscape = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/**
 * A Slack incoming-webhook message: `text` (the notification, and the fallback for clients
 * without blocks) and Block Kit `blocks` (header ≤ 150 characters, section ≤ 3000).
 */
export function slackPayload(n: Notification): { text: string; blocks: unknown[] } {
  const title = n.type === 'alert' ? alertTitle(n) : n.title;
  const lines = n.type === 'alert' ? alertLines(n) : n.lines;
  const footer = `estate-edge · ${n.environment} · ${utc(n.at)}${n.type === 'alert' ? ` · ${n.severity}` : ''}`;
  return {
    text: clip(slackEscape(`${title}\n${lines.join('\n')}`), 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(title, 150), emoji: true } },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: clip(lines.map(slackEscape).join('\n'), 3000) },
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(footer) }] },
    ],
  };
}

/** The generic webhook's JSON: everything, with ISO dates, for any receiver to route. */
export function webhookPayload(n: Notification): Record<string, unknown> {
  const base = { environment: n.environment, at: new Date(n.at).toISOString() };
  if (n.type === 'report')
    return { type: 'report', ...base, title: n.title, lines: n.lines, report: n.data };
  return {
    type: 'alert',
    ...base,
    severity: n.severity,
    title: alertTitle(n),
    history: n.history,
    events: n.events.map((e) => ({
      check: e.check,
      label: checkLabels[e.check],
      kind: e.kind,
      state: e.state,
      previous: e.previous,
      severity: e.severity,
      since: new Date(e.since).toISOString(),
      lasted_seconds: e.lastedMs === null ? null : Math.round(e.lastedMs / 1000),
      detail: e.detail,
      text: eventLine(e, n.at),
    })),
  };
}
