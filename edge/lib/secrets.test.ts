import { describe, expect, it, vi } from 'vitest';
import { scenario } from '../test/scenario';

type Health = {
  type?: string;
  status: number | string;
  detail?: string;
  problems?: { variable: string; problem: string }[];
  warnings?: { variable: string; problem: string }[];
};

/** GET /edge/health with `vars` over the test bindings; console.error/warn kept quiet. */
async function health(vars: Record<string, unknown>) {
  const s = await scenario();
  const quiet = [
    vi.spyOn(console, 'error').mockImplementation(() => {}),
    vi.spyOn(console, 'warn').mockImplementation(() => {}),
  ];
  const res = await s.fetch('/edge/health', undefined, vars);
  const logged = quiet.flatMap((spy) => spy.mock.calls.map((c) => String(c[0])));
  for (const spy of quiet) spy.mockRestore();
  return { res, body: (await res.json()) as Health, logged, hits: (await s.counts()).hits };
}

const slackAndWebhook = { critical: ['slack'], warning: ['slack', 'webhook'], report: ['slack'] };
const configured = {
  ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.test/services/T/B/x',
  ALERT_WEBHOOK_URL: 'https://alerts.test/hook',
};

describe('GET /edge/health and the secrets', () => {
  it('answers 503 problem+json naming EDGE_ASSERTION_SECRET when it is not set', async () => {
    const { res, body, logged, hits } = await health({ EDGE_ASSERTION_SECRET: undefined });

    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(body).toMatchObject({
      type: 'urn:estate-edge:problem:misconfigured',
      status: 503,
      problems: [
        { variable: 'EDGE_ASSERTION_SECRET', problem: expect.stringContaining('not set') },
      ],
    });
    expect(body.detail).toContain('EDGE_ASSERTION_SECRET');
    expect(logged.join('\n')).toContain('EDGE_ASSERTION_SECRET');
    expect(hits).toBe(0);
  });

  it('names a secret too short to sign with, never its value', async () => {
    const { res, body } = await health({ EDGE_ASSERTION_SECRET: 'short-secret-value' });

    expect(res.status).toBe(503);
    expect(body.detail).toContain('EDGE_ASSERTION_SECRET');
    expect(JSON.stringify(body)).not.toContain('short-secret-value');
  });

  it('names each half of the Access service token an environment requires', async () => {
    const { res, body } = await health({ CF_ACCESS_SERVICE_TOKEN: 'required' });

    expect(res.status).toBe(503);
    expect(body.problems?.map((p) => p.variable)).toEqual([
      'CF_ACCESS_CLIENT_ID',
      'CF_ACCESS_CLIENT_SECRET',
    ]);
  });

  it('names the missing half of a service token even where Access is optional', async () => {
    const { res, body } = await health({ CF_ACCESS_CLIENT_ID: 'id.access' });

    expect(res.status).toBe(503);
    expect(body.problems?.map((p) => p.variable)).toEqual(['CF_ACCESS_CLIENT_SECRET']);
  });

  it('answers ok once the required service token is there', async () => {
    const { res, body } = await health({
      CF_ACCESS_SERVICE_TOKEN: 'required',
      CF_ACCESS_CLIENT_ID: 'id.access',
      CF_ACCESS_CLIENT_SECRET: 'secret',
    });

    expect(res.status).toBe(200);
    expect(body.status).toBe('ok');
  });
});

describe('GET /edge/health and the alert routes', () => {
  it('in production: a route to a channel whose secret is missing is a 503 naming the secret', async () => {
    const { res, body } = await health({
      ENVIRONMENT: 'production',
      ALERT_ROUTES: slackAndWebhook,
      ALERT_SLACK_WEBHOOK_URL: configured.ALERT_SLACK_WEBHOOK_URL,
    });

    expect(res.status).toBe(503);
    expect(body.problems).toEqual([
      {
        variable: 'ALERT_WEBHOOK_URL',
        problem: expect.stringMatching(/ALERT_ROUTES sends warning to webhook.*--env production/),
      },
    ]);
  });

  it('in production: a severity routed to no channel is a 503 naming ALERT_ROUTES', async () => {
    const { res, body } = await health({
      ENVIRONMENT: 'production',
      ALERT_ROUTES: { critical: ['slack'], warning: [], report: ['slack'] },
      ...configured,
    });

    expect(res.status).toBe(503);
    expect(body.problems).toEqual([
      { variable: 'ALERT_ROUTES', problem: expect.stringContaining('warning to no channel') },
    ]);
  });

  it('in production: answers ok when every routed channel is configured', async () => {
    const { res, body } = await health({
      ENVIRONMENT: 'production',
      ALERT_ROUTES: slackAndWebhook,
      ...configured,
    });

    expect(res.status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', warnings: [] });
  });

  it('in staging: the same missing channel is a warning, and the answer stays ok', async () => {
    const { res, body, logged } = await health({
      ENVIRONMENT: 'staging',
      ALERT_ROUTES: slackAndWebhook,
      ALERT_SLACK_WEBHOOK_URL: configured.ALERT_SLACK_WEBHOOK_URL,
    });

    expect(res.status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.warnings).toEqual([
      { variable: 'ALERT_WEBHOOK_URL', problem: expect.stringContaining('--env staging') },
    ]);
    expect(logged.join('\n')).toContain('ALERT_WEBHOOK_URL');
  });
});
