import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LISTINGS_CHECKSUM_METHOD } from './facts.js';
import {
  type Backup,
  backupBaseName,
  dumpFileName,
  MANIFEST_FORMAT,
  type Manifest,
  manifestFileName,
} from './manifest.js';
import { BUCKET_PENDING_FILE, pruneBackups } from './retention.js';
import { MIN_PART_SIZE, type S3Settings, s3Uploader } from './upload.js';

/**
 * R2 cannot run here: a local HTTP server stands in for it and records what the real S3 client
 * sends. Everything on our side (the SDK, lib-storage's Upload, signing, streaming the body) is the
 * real thing. The stand-in answers the calls we make as S3 does: PutObject, the multipart upload
 * (create, parts, complete, abort; parts but the last at least 5 MiB), DeleteObject; and keeps the
 * objects, so a test can read back what the bucket holds.
 */
type Received = {
  method: string;
  url: string;
  /** The S3 operation, as S3 tells it from the method and the query. */
  op: string;
  key: string;
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  sha256: string;
};

type StoredObject = { body: Buffer; metadata: Record<string, string> };
type MultipartUpload = {
  key: string;
  metadata: Record<string, string>;
  parts: Map<number, { body: Buffer; etag: string }>;
};

const BUCKET = 'estate-backups';
let server: Server;
let endpoint: string;
let received: Received[] = [];
/** The bucket's objects by key. */
let objects = new Map<string, StoredObject>();
let uploads = new Map<string, MultipartUpload>();
/**
 * Errors to answer instead of doing the work: the next `times` requests that `match` (any request
 * without one) get `status`. In order; one fault per request.
 */
let faults: { status: number; times: number; match?: (r: Received) => boolean }[] = [];
let dir: string;

const md5 = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;
const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

function operation(method: string, query: URLSearchParams): string {
  if (method === 'PUT') return query.has('partNumber') ? 'UploadPart' : 'PutObject';
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE') return query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  return `${method}?`;
}

const xml = (res: ServerResponse, status: number, body: string) =>
  res
    .writeHead(status, { 'Content-Type': 'application/xml' })
    .end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);

const s3Error = (res: ServerResponse, status: number, code: string, message: string) =>
  xml(res, status, `<Error><Code>${code}</Code><Message>${message}</Message></Error>`);

function metadataOf(headers: IncomingMessage['headers']): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers)
      .filter(([name]) => name.startsWith('x-amz-meta-'))
      .map(([name, value]) => [name.slice('x-amz-meta-'.length), String(value)]),
  );
}

/** The answer S3 would give; a response, so each branch ends in one `return`. */
function answer(
  r: Received,
  body: Buffer,
  query: URLSearchParams,
  res: ServerResponse,
): ServerResponse {
  const fault = faults.find((f) => f.times > 0 && (f.match?.(r) ?? true));
  if (fault) {
    fault.times -= 1;
    if (fault.status === 403) return s3Error(res, 403, 'AccessDenied', 'Access Denied');
    return s3Error(res, fault.status, 'InternalError', 'Try again');
  }
  const uploadId = query.get('uploadId') ?? '';
  switch (r.op) {
    case 'PutObject':
      objects.set(r.key, { body, metadata: metadataOf(r.headers) });
      return res.writeHead(200, { ETag: md5(body) }).end();
    case 'CreateMultipartUpload': {
      const id = randomBytes(8).toString('hex');
      uploads.set(id, { key: r.key, metadata: metadataOf(r.headers), parts: new Map() });
      return xml(
        res,
        200,
        `<InitiateMultipartUploadResult><Bucket>${BUCKET}</Bucket><Key>${r.key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
      );
    }
    case 'UploadPart': {
      const upload = uploads.get(uploadId);
      if (!upload) return s3Error(res, 404, 'NoSuchUpload', 'No such upload');
      const etag = md5(body);
      upload.parts.set(Number(query.get('partNumber')), { body, etag });
      return res.writeHead(200, { ETag: etag }).end();
    }
    case 'CompleteMultipartUpload': {
      const upload = uploads.get(uploadId);
      if (!upload) return s3Error(res, 404, 'NoSuchUpload', 'No such upload');
      const listed = [
        ...body
          .toString()
          .matchAll(/<Part>.*?<ETag>(.*?)<\/ETag>.*?<PartNumber>(\d+)<\/PartNumber>/gs),
      ].map((m) => ({ etag: (m[1] as string).replaceAll('&quot;', '"'), number: Number(m[2]) }));
      const parts = listed.map((p) => upload.parts.get(p.number));
      if (listed.some((p, i) => parts[i]?.etag !== p.etag)) {
        return s3Error(res, 400, 'InvalidPart', 'A part is missing or its ETag differs');
      }
      if (listed.some((p, i) => i > 0 && p.number <= (listed[i - 1]?.number ?? 0))) {
        return s3Error(res, 400, 'InvalidPartOrder', 'Parts must be in ascending order');
      }
      if (parts.slice(0, -1).some((p) => (p?.body.length ?? 0) < MIN_PART_SIZE)) {
        return s3Error(res, 400, 'EntityTooSmall', 'A part but the last is under 5 MiB');
      }
      objects.set(upload.key, {
        body: Buffer.concat(parts.map((p) => p?.body ?? Buffer.alloc(0))),
        metadata: upload.metadata,
      });
      uploads.delete(uploadId);
      return xml(
        res,
        200,
        `<CompleteMultipartUploadResult><Bucket>${BUCKET}</Bucket><Key>${upload.key}</Key><ETag>"multipart-${parts.length}"</ETag></CompleteMultipartUploadResult>`,
      );
    }
    case 'AbortMultipartUpload':
      if (!uploads.delete(uploadId)) return s3Error(res, 404, 'NoSuchUpload', 'No such upload');
      return res.writeHead(204).end();
    case 'DeleteObject':
      // As S3: deleting a key that is not there succeeds.
      objects.delete(r.key);
      return res.writeHead(204).end();
    default:
      return s3Error(res, 501, 'NotImplemented', `${r.op} is not part of the stand-in`);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'estate-upload-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const method = req.method ?? '';
      const r: Received = {
        method,
        url: req.url ?? '',
        op: operation(method, url.searchParams),
        key: decodeURIComponent(url.pathname.slice(`/${BUCKET}/`.length)),
        headers: req.headers,
        bodyBytes: body.length,
        sha256: sha256(body),
      };
      received.push(r);
      answer(r, body, url.searchParams, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  received = [];
  objects = new Map();
  uploads = new Map();
  faults = [];
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function backupOnDisk(bytes: number, body = Buffer.alloc(bytes, 7)): Backup {
  const dumpPath = join(dir, 'app-20240501T020000.000Z.dump.age');
  const manifestPath = join(dir, 'app-20240501T020000.000Z.manifest.json');
  writeFileSync(dumpPath, body);
  writeFileSync(manifestPath, '{"format":"estate-edge-backup/1"}');
  return {
    dumpPath,
    manifestPath,
    createdAt: new Date('2024-05-01T02:00:00Z'),
    manifest: { sha256: sha256(body), source: 'app' } as Backup['manifest'],
  };
}

const settings = (): S3Settings => ({
  bucket: BUCKET,
  endpoint,
  region: 'auto',
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  prefix: 'nightly/',
});

const DUMP_KEY = 'nightly/app-20240501T020000.000Z.dump.age';
const MANIFEST_KEY = 'nightly/app-20240501T020000.000Z.manifest.json';
const ops = () => received.map((r) => `${r.op} ${r.key}`);

describe('s3Uploader', () => {
  it('puts the dump, then its manifest, by path under the prefix, with the whole body', async () => {
    // Over the SDK's 1 MB threshold for "Expect: 100-continue", and several stream chunks.
    const backup = backupOnDisk(3 * 1024 * 1024 + 17);
    const keys = await s3Uploader(settings()).upload(backup);

    expect(keys).toEqual([DUMP_KEY, MANIFEST_KEY]);
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

  it('sends a dump of one part or less as a single PutObject, even with the smallest part size', async () => {
    const backup = backupOnDisk(MIN_PART_SIZE);
    await s3Uploader(settings(), { partSize: MIN_PART_SIZE }).upload(backup);
    expect(ops()).toEqual([`PutObject ${DUMP_KEY}`, `PutObject ${MANIFEST_KEY}`]);
    expect(received[0]?.bodyBytes).toBe(MIN_PART_SIZE);
    expect(sha256(objects.get(DUMP_KEY)?.body ?? Buffer.alloc(0))).toBe(backup.manifest.sha256);
  });

  it('uploads a dump bigger than a part in parts that reassemble to the same bytes, then the manifest', async () => {
    // 11 MiB of random bytes in 5 MiB parts: two whole parts and a last one of 1 MiB and a bit.
    const size = 11 * 1024 * 1024 + 123;
    const backup = backupOnDisk(size, randomBytes(size));
    const keys = await s3Uploader(settings(), { partSize: MIN_PART_SIZE }).upload(backup);

    expect(keys).toEqual([DUMP_KEY, MANIFEST_KEY]);
    const parts = received.filter((r) => r.op === 'UploadPart');
    expect(
      parts.map((p) => new URL(p.url, endpoint).searchParams.get('partNumber')).sort(),
    ).toEqual(['1', '2', '3']);
    expect(parts.map((p) => p.bodyBytes).sort((a, b) => a - b)).toEqual([
      size - 2 * MIN_PART_SIZE,
      MIN_PART_SIZE,
      MIN_PART_SIZE,
    ]);
    // Created first, completed once every part is in, and only then the manifest.
    expect(ops()[0]).toBe(`CreateMultipartUpload ${DUMP_KEY}`);
    expect(ops().slice(-2)).toEqual([
      `CompleteMultipartUpload ${DUMP_KEY}`,
      `PutObject ${MANIFEST_KEY}`,
    ]);
    const stored = objects.get(DUMP_KEY);
    expect(stored?.body.length).toBe(size);
    expect(sha256(stored?.body ?? Buffer.alloc(0))).toBe(backup.manifest.sha256);
    // The sha256 travels with the object, set when the multipart upload is created.
    expect(received[0]?.headers['x-amz-meta-dump-sha256']).toBe(backup.manifest.sha256);
    expect(stored?.metadata['dump-sha256']).toBe(backup.manifest.sha256);
    expect(uploads.size).toBe(0);
  });

  it('sends a part again after a server error, and completes', async () => {
    const size = 11 * 1024 * 1024;
    const backup = backupOnDisk(size, randomBytes(size));
    faults = [
      {
        status: 500,
        times: 1,
        match: (r) => r.op === 'UploadPart' && r.url.includes('partNumber=2&'),
      },
    ];
    await s3Uploader(settings(), { partSize: MIN_PART_SIZE }).upload(backup);

    const part2 = received.filter((r) => r.op === 'UploadPart' && r.url.includes('partNumber=2&'));
    expect(part2).toHaveLength(2);
    expect(part2[0]?.sha256).toBe(part2[1]?.sha256);
    // Only that part went twice, not the whole dump.
    expect(received.filter((r) => r.op === 'UploadPart')).toHaveLength(4);
    expect(sha256(objects.get(DUMP_KEY)?.body ?? Buffer.alloc(0))).toBe(backup.manifest.sha256);
    expect(objects.has(MANIFEST_KEY)).toBe(true);
  });

  it('aborts the multipart upload and fails, without a manifest, when a part keeps failing', async () => {
    const size = 11 * 1024 * 1024;
    const backup = backupOnDisk(size, randomBytes(size));
    faults = [
      {
        status: 500,
        times: 99,
        match: (r) => r.op === 'UploadPart' && r.url.includes('partNumber=2&'),
      },
    ];
    await expect(
      s3Uploader(settings(), { partSize: MIN_PART_SIZE }).upload(backup),
    ).rejects.toThrow(
      /upload of nightly\/app-20240501T020000\.000Z\.dump\.age to bucket estate-backups failed \(HTTP 500\): InternalError/,
    );
    // Sent three times (two retries), then the upload is aborted: no parts left in the bucket.
    expect(
      received.filter((r) => r.op === 'UploadPart' && r.url.includes('partNumber=2&')),
    ).toHaveLength(3);
    expect(ops()).toContain(`AbortMultipartUpload ${DUMP_KEY}`);
    expect(ops()).not.toContain(`CompleteMultipartUpload ${DUMP_KEY}`);
    expect(uploads.size).toBe(0);
    expect([...objects.keys()]).toEqual([]);
    // The local files are untouched.
    expect(readdirSync(dir).sort()).toEqual([
      'app-20240501T020000.000Z.dump.age',
      'app-20240501T020000.000Z.manifest.json',
    ]);
  });

  it('sends the whole dump again after a server error, and succeeds', async () => {
    faults = [{ status: 500, times: 1 }];
    const backup = backupOnDisk(200_000);
    await s3Uploader(settings()).upload(backup);
    expect(received.map((r) => r.bodyBytes)).toEqual([200_000, 200_000, 33]);
    expect(received[1]?.sha256).toBe(backup.manifest.sha256);
  });

  it('fails at once with the bucket, the key and the answer when the store refuses', async () => {
    faults = [{ status: 403, times: 1 }];
    await expect(s3Uploader(settings()).upload(backupOnDisk(10))).rejects.toThrow(
      /upload of nightly\/app-20240501T020000\.000Z\.dump\.age to bucket estate-backups failed \(HTTP 403\): AccessDenied/,
    );
    // Nothing more after a refused dump: no manifest for a dump that is not there.
    expect(received).toHaveLength(1);
  });

  it('refuses a part size under S3 minimum of 5 MiB', () => {
    expect(() => s3Uploader(settings(), { partSize: MIN_PART_SIZE - 1 })).toThrow(RangeError);
  });

  it('deletes a copy by its exact key under the prefix, and refuses anything but a file name', async () => {
    const uploader = s3Uploader(settings());
    await expect(uploader.remove('app-20240501T020000.000Z.dump')).resolves.toBe(
      'nightly/app-20240501T020000.000Z.dump',
    );
    for (const name of ['../other/app.dump', 'a/b.dump', '', '.hidden']) {
      await expect(uploader.remove(name)).rejects.toThrow(/is not a backup file name/);
    }
    expect(ops()).toEqual(['DeleteObject nightly/app-20240501T020000.000Z.dump']);
  });
});

describe('pruneBackups with a bucket', () => {
  function manifest(source: string, createdAt: Date, file: string): Manifest {
    return {
      format: MANIFEST_FORMAT,
      source,
      file,
      created_at: createdAt.toISOString(),
      finished_at: createdAt.toISOString(),
      size_bytes: 4,
      sha256: '0'.repeat(64),
      encryption: 'age',
      dump_format: 'pg_dump custom',
      database: 'estate',
      server_version: '15',
      postgis_version: null,
      row_counts: {},
      listings: null,
      listings_checksum_method: LISTINGS_CHECKSUM_METHOD,
      tools: {},
    };
  }

  /** A backup in `backupDir` and its copy in the bucket; its two names. */
  function backupBothPlaces(backupDir: string, iso: string) {
    const createdAt = new Date(iso);
    const base = backupBaseName('app', createdAt);
    const dump = dumpFileName(base, 'age');
    const manifestName = manifestFileName(base);
    writeFileSync(join(backupDir, dump), 'dump');
    writeFileSync(join(backupDir, manifestName), JSON.stringify(manifest('app', createdAt, dump)));
    for (const name of [dump, manifestName]) {
      objects.set(`nightly/${name}`, { body: Buffer.from('x'), metadata: {} });
    }
    return { dump, manifest: manifestName };
  }

  /** Five nights of app backups, in BACKUP_DIR and the bucket; others' objects beside them. */
  function fiveNights() {
    const backupDir = mkdtempSync(join(dir, 'prune-'));
    const nights = ['01', '02', '03', '04', '05'].map((d) =>
      backupBothPlaces(backupDir, `2024-05-${d}T02:00:00Z`),
    );
    // What the prune must never touch: the same names outside the prefix, pgBackRest's repository
    // under it, and a backup only the bucket holds (say, from before this server).
    const others = [
      `${nights[0]?.dump}`,
      `other/${nights[0]?.dump}`,
      `nightly-old/${nights[0]?.manifest}`,
      'nightly/pgbackrest/archive/estate/000000010000000000000001',
      'nightly/app-20240101T020000.000Z.dump.age',
      'nightly/app-20240101T020000.000Z.manifest.json',
    ];
    for (const key of others) objects.set(key, { body: Buffer.from('x'), metadata: {} });
    return { backupDir, nights, others };
  }

  const keepTwo = { daily: 2, weekly: 0, monthly: 0 };

  it('deletes exactly the removed backups from the bucket, each manifest before its dump', async () => {
    const { backupDir, nights, others } = fiveNights();
    const result = await pruneBackups(backupDir, keepTwo, new Date(), {
      bucket: s3Uploader(settings()),
    });

    // Newest first, as local retention removes them: 3, 2, 1 May.
    const removed = [nights[2], nights[1], nights[0]];
    const expected = removed.flatMap((n) => [`nightly/${n?.manifest}`, `nightly/${n?.dump}`]);
    expect(ops()).toEqual(expected.map((key) => `DeleteObject ${key}`));
    expect(result.bucket).toEqual({ deleted: expected, failed: [], pending: [] });
    expect([...objects.keys()].sort()).toEqual(
      [
        ...others,
        ...[nights[3], nights[4]].flatMap((n) => [`nightly/${n?.dump}`, `nightly/${n?.manifest}`]),
      ].sort(),
    );
    expect(readdirSync(backupDir).sort()).toEqual(
      [nights[3], nights[4]].flatMap((n) => [n?.dump, n?.manifest]).sort(),
    );
  });

  it('keeps local pruning when a bucket delete fails, reports it, and retries it on the next prune', async () => {
    const { backupDir, nights } = fiveNights();
    const bucket = s3Uploader(settings());
    const refusedKey = `nightly/${nights[1]?.manifest}`;
    faults = [
      { status: 403, times: 1, match: (r) => r.op === 'DeleteObject' && r.key === refusedKey },
    ];

    const first = await pruneBackups(backupDir, keepTwo, new Date(), { bucket });

    // Locally all three are gone, whatever the bucket said.
    expect(first.removed).toHaveLength(3);
    expect(readdirSync(backupDir).filter((n) => !n.startsWith('.'))).toHaveLength(4);
    // The refused manifest is reported, and its dump stays with it: no manifest without its dump.
    expect(first.bucket?.failed).toEqual([
      {
        file: nights[1]?.manifest,
        error: expect.stringMatching(
          /^delete of nightly\/app-20240502T020000\.000Z\.manifest\.json from bucket estate-backups failed \(HTTP 403\): AccessDenied/,
        ),
      },
    ]);
    expect(first.bucket?.pending).toEqual([nights[1]?.manifest, nights[1]?.dump]);
    expect(first.bucket?.deleted).toEqual(
      [nights[2], nights[0]].flatMap((n) => [`nightly/${n?.manifest}`, `nightly/${n?.dump}`]),
    );
    expect(objects.has(refusedKey)).toBe(true);
    expect(objects.has(`nightly/${nights[1]?.dump}`)).toBe(true);
    expect(existsSync(join(backupDir, BUCKET_PENDING_FILE))).toBe(true);

    received = [];
    const second = await pruneBackups(backupDir, keepTwo, new Date(), { bucket });
    expect(second.removed).toEqual([]);
    expect(ops()).toEqual([
      `DeleteObject ${refusedKey}`,
      `DeleteObject nightly/${nights[1]?.dump}`,
    ]);
    expect(second.bucket).toEqual({
      deleted: [refusedKey, `nightly/${nights[1]?.dump}`],
      failed: [],
      pending: [],
    });
    expect(existsSync(join(backupDir, BUCKET_PENDING_FILE))).toBe(false);
  });

  it('touches no bucket without one, and none when nothing is removed', async () => {
    const { backupDir } = fiveNights();
    const without = await pruneBackups(backupDir, keepTwo);
    expect(without.removed).toHaveLength(3);
    expect(without.bucket).toBeUndefined();
    const nothing = await pruneBackups(backupDir, keepTwo, new Date(), {
      bucket: s3Uploader(settings()),
    });
    expect(nothing.bucket).toEqual({ deleted: [], failed: [], pending: [] });
    expect(received).toEqual([]);
  });
});
