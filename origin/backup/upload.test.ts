import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Backup } from './manifest.js';
import { type S3Settings, s3Uploader } from './upload.js';

/**
 * R2 cannot run here: a local HTTP server stands in for it and records what the real S3 client
 * sends. Everything on our side (the SDK, signing, streaming the body) is the real thing.
 */
type Received = {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  sha256: string;
};

let server: Server;
let endpoint: string;
let received: Received[] = [];
/** Status of each next answer, in order; 200 once they run out. */
let answers: number[] = [];
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'estate-upload-'));
  server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bodyBytes += chunk.length;
    });
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyBytes,
        sha256: hash.digest('hex'),
      });
      const answer = answers.shift() ?? 200;
      if (answer === 200) {
        res.writeHead(200, { ETag: '"0123456789abcdef"' }).end();
      } else {
        res
          .writeHead(answer, { 'Content-Type': 'application/xml' })
          .end(
            answer === 403
              ? '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
              : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>Try again</Message></Error>',
          );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  received = [];
  answers = [];
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function backupOnDisk(bytes: number): Backup {
  const dumpPath = join(dir, 'app-20240501T020000.000Z.dump.age');
  const manifestPath = join(dir, 'app-20240501T020000.000Z.manifest.json');
  const body = Buffer.alloc(bytes, 7);
  writeFileSync(dumpPath, body);
  writeFileSync(manifestPath, '{"format":"estate-edge-backup/1"}');
  const sha256 = createHash('sha256').update(body).digest('hex');
  return {
    dumpPath,
    manifestPath,
    createdAt: new Date('2024-05-01T02:00:00Z'),
    manifest: { sha256, source: 'app' } as Backup['manifest'],
  };
}

const settings = (): S3Settings => ({
  bucket: 'estate-backups',
  endpoint,
  region: 'auto',
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  prefix: 'nightly/',
});

describe('s3Uploader', () => {
  it('puts the dump, then its manifest, by path under the prefix, with the whole body', async () => {
    // Over the SDK's 1 MB threshold for "Expect: 100-continue", and several stream chunks.
    const backup = backupOnDisk(3 * 1024 * 1024 + 17);
    const keys = await s3Uploader(settings()).upload(backup);

    expect(keys).toEqual([
      'nightly/app-20240501T020000.000Z.dump.age',
      'nightly/app-20240501T020000.000Z.manifest.json',
    ]);
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /estate-backups/nightly/app-20240501T020000.000Z.dump.age?x-id=PutObject',
      'PUT /estate-backups/nightly/app-20240501T020000.000Z.manifest.json?x-id=PutObject',
    ]);
    const [dump, manifest] = received;
    expect(dump?.bodyBytes).toBe(3 * 1024 * 1024 + 17);
    expect(dump?.headers['content-length']).toBe(String(3 * 1024 * 1024 + 17));
    expect(dump?.sha256).toBe(backup.manifest.sha256);
    expect(dump?.headers['x-amz-meta-dump-sha256']).toBe(backup.manifest.sha256);
    expect(manifest?.bodyBytes).toBe('{"format":"estate-edge-backup/1"}'.length);
    expect(manifest?.headers['content-type']).toBe('application/json');
    // Signed for R2's region `auto`, with the configured key id; the secret never travels.
    const authorization = String(dump?.headers.authorization);
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/auto\/s3\/aws4_request/,
    );
    expect(JSON.stringify(received)).not.toContain('wJalrXUtnFEMI');
    // No streamed CRC trailer, which S3-compatible stores do not all accept.
    expect(dump?.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
  });

  it('sends the whole dump again after a server error, and succeeds', async () => {
    answers = [500];
    const backup = backupOnDisk(200_000);
    await s3Uploader(settings()).upload(backup);
    expect(received.map((r) => r.bodyBytes)).toEqual([200_000, 200_000, 33]);
    expect(received[1]?.sha256).toBe(backup.manifest.sha256);
  });

  it('fails at once with the bucket, the key and the answer when the store refuses', async () => {
    answers = [403];
    await expect(s3Uploader(settings()).upload(backupOnDisk(10))).rejects.toThrow(
      /upload of nightly\/app-20240501T020000\.000Z\.dump\.age to bucket estate-backups failed \(HTTP 403\): AccessDenied/,
    );
    // Nothing more after a refused dump: no manifest for a dump that is not there.
    expect(received).toHaveLength(1);
  });
});
