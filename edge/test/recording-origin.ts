import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { type RecordedRequest, recordingsPath } from './recorder-contract';

/**
 * Vitest globalSetup for the edge project. Starts a small HTTP server on 127.0.0.1 that stands
 * in for the Node origin: it records every request by its X-Request-Id and answers 200, so
 * tests assert on what really crossed the wire. Also hands out a URL on which nothing listens,
 * for the unreachable-origin tests.
 *
 * Special paths: `GET /__recordings/<request id>` returns the recordings for that id;
 * `/status/<code>` answers with that status; `/slow/<ms>` waits before sending headers.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const recordings = new Map<string, RecordedRequest[]>();

  const server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url.startsWith(recordingsPath)) {
      const id = decodeURIComponent(url.slice(recordingsPath.length));
      return json(res, 200, recordings.get(id) ?? []);
    }

    const body = await readBody(req);
    const id = String(req.headers['x-request-id'] ?? 'missing');
    recordings.set(id, [
      ...(recordings.get(id) ?? []),
      { method: req.method ?? '', url, headers: req.headers, body },
    ]);

    const slow = /^\/slow\/(\d+)/.exec(url);
    if (slow) await new Promise((resolve) => setTimeout(resolve, Number(slow[1])));
    const status = /^\/status\/(\d{3})/.exec(url);
    // Keep-Alive is hop-by-hop: the edge must drop it before the client sees the response.
    res.setHeader('Keep-Alive', 'timeout=5');
    res.setHeader('X-Origin', 'recorder');
    return json(res, status ? Number(status[1]) : 200, { recorded: true });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  project.provide('originUrl', `http://127.0.0.1:${port}`);
  project.provide('closedOriginUrl', `http://127.0.0.1:${await freedPort()}`);

  return async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A port that was free a moment ago and is closed now, so connecting to it is refused. */
async function freedPort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}
