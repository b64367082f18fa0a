import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Backup } from './manifest.js';

/** Retries of one request (a PutObject, a part, a delete) after a 5xx, a 429 or a network error. */
const REQUEST_RETRIES = 2;

/** S3's smallest part (every part but the last); R2 has the same floor. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/**
 * 64 MiB parts: 10,000 of them (S3's most) reach 640 GB before the size has to grow, and a night's
 * dump of a few GB is a few dozen requests. Files up to one part go as a single PutObject.
 */
export const DEFAULT_PART_SIZE = 64 * 1024 * 1024;
const MAX_PARTS = 10_000;
/**
 * Parts in flight at once. Each is a buffer of the part size, plus the one being read: about
 * 3 x 64 MiB of memory whatever the dump's size. Two keep the link busy without more.
 */
const QUEUE_SIZE = 2;

/** An S3-compatible bucket for off-site copies (Cloudflare R2 in production). */
export type S3Settings = {
  bucket: string;
  /** R2: https://<account id>.r2.cloudflarestorage.com; unset for AWS S3 itself. */
  endpoint: string | undefined;
  /** R2 wants `auto`. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Prepended to every key; empty or ending in `/`. */
  prefix: string;
};

/** Where off-site copies go; the real one is S3, the no-op one is what runs without a bucket. */
export interface BackupUploader {
  /** Copy a backup's dump, then its manifest; the keys written. */
  upload(backup: Backup, signal?: AbortSignal): Promise<string[]>;
  /**
   * Delete the copy of one file of BACKUP_DIR (a plain name, never a path or a pattern); the key
   * deleted, null without a bucket. Deleting a key that is not there succeeds, as in S3.
   */
  remove(name: string, signal?: AbortSignal): Promise<string | null>;
}

export const noopUploader: BackupUploader = {
  async upload() {
    return [];
  },
  async remove() {
    return null;
  },
};

/** The names BACKUP_DIR holds (manifest.ts's rule): no `/`, no `..`, so a key never leaves the prefix. */
export const isPlainFileName = (name: string) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);

export function s3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    // R2 and most S3-compatible stores address buckets by path, not by a DNS name per bucket.
    forcePathStyle: true,
    credentials: {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
    },
    // The SDK's own retry (exponential backoff with jitter; 5xx, 429 and network errors, never a
    // 4xx refusal). It can resend every body we send: Upload hands it each part as a buffer, so a
    // failed part goes again alone, not the whole dump.
    maxAttempts: REQUEST_RETRIES + 1,
    // Since 3.729 the SDK adds CRC checksums (streamed as aws-chunked trailers) to every upload,
    // which S3-compatible stores do not all accept; our own sha256 travels as metadata and in the
    // manifest, and restore checks it.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // We report failures ourselves, with the key; the SDK's console lines would only break the
    // one-JSON-object-per-line log.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
}

/** HTTP status of an SDK error, when the store answered at all. */
const statusOf = (error: unknown) =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

function failed(what: string, error: unknown): Error {
  const status = statusOf(error);
  return new Error(
    `${what} failed${status ? ` (HTTP ${status})` : ''}: ${(error as Error).name}: ${(error as Error).message}`,
  );
}

export type S3UploaderOptions = {
  /** A client of the caller's; by default one built from the settings. */
  client?: S3Client;
  /** Bytes per part of a multipart upload, at least MIN_PART_SIZE; DEFAULT_PART_SIZE by default. */
  partSize?: number;
};

/**
 * Upload a backup: the dump, then its manifest, so that in the bucket too a manifest means a whole
 * dump is there. Each file streams from disk through lib-storage's `Upload`: a single PutObject up
 * to one part, a multipart upload above (S3 takes at most 5 GB in one PutObject).
 *
 * Why the library rather than our own CreateMultipartUpload/UploadPart loop: it already gets the
 * hard parts right (reading a stream into exact-size parts, a bounded number in flight, aborting
 * the multipart upload when a part fails so no invisible parts are left billed in the bucket,
 * completing with the parts in order) and is the SDK team's, kept in step with the client.
 */
export function s3Uploader(settings: S3Settings, options: S3UploaderOptions = {}): BackupUploader {
  const client = options.client ?? s3Client(settings);
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE) {
    throw new RangeError(`the part size must be a whole number of bytes >= ${MIN_PART_SIZE}`);
  }
  const keyOf = (name: string) => {
    if (!isPlainFileName(name))
      throw new Error(`${JSON.stringify(name)} is not a backup file name`);
    return `${settings.prefix}${name}`;
  };

  async function uploadFile(path: string, backup: Backup, signal?: AbortSignal): Promise<string> {
    const key = keyOf(basename(path));
    const { size } = await stat(path);
    const body = createReadStream(path);
    // Upload takes a controller, not a signal: ours stops it (and it aborts the multipart upload).
    const controller = new AbortController();
    const stop = () => controller.abort();
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await new Upload({
        client,
        params: {
          Bucket: settings.bucket,
          Key: key,
          Body: body,
          ContentLength: size,
          ContentType: path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
          Metadata: { 'dump-sha256': backup.manifest.sha256, source: backup.manifest.source },
        },
        // Past 10,000 parts of the chosen size, bigger parts rather than a refused upload.
        partSize: Math.max(partSize, Math.ceil(size / MAX_PARTS)),
        queueSize: QUEUE_SIZE,
        abortController: controller,
      }).done();
    } catch (error) {
      throw failed(`upload of ${key} to bucket ${settings.bucket}`, error);
    } finally {
      signal?.removeEventListener('abort', stop);
      body.destroy();
    }
    return key;
  }

  return {
    async upload(backup, signal) {
      const keys: string[] = [];
      // One after the other: the manifest only once the dump is whole in the bucket.
      for (const path of [backup.dumpPath, backup.manifestPath]) {
        keys.push(await uploadFile(path, backup, signal));
      }
      return keys;
    },

    async remove(name, signal) {
      const key = keyOf(name);
      try {
        await client.send(
          new DeleteObjectCommand({ Bucket: settings.bucket, Key: key }),
          signal ? { abortSignal: signal } : {},
        );
      } catch (error) {
        throw failed(`delete of ${key} from bucket ${settings.bucket}`, error);
      }
      return key;
    },
  };
}
