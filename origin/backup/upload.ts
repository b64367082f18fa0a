import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pRetry from 'p-retry';
import type { Backup } from './manifest.js';

/** Retries of one file's upload after a 5xx or a network error, 2 s apart and growing. */
const UPLOAD_RETRIES = 2;

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

/** Where uploads go; the real one is S3, the no-op one is what runs without a bucket. */
export interface BackupUploader {
  upload(backup: Backup, signal?: AbortSignal): Promise<string[]>;
}

export const noopUploader: BackupUploader = {
  async upload() {
    return [];
  },
};

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
    // Since 3.729 the SDK adds CRC checksums (streamed as aws-chunked trailers) to every upload,
    // which S3-compatible stores do not all accept; our own sha256 travels as metadata and in the
    // manifest, and restore checks it.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK cannot retry a streamed body and says so on the console; we retry whole uploads
    // ourselves (below) and report failures with the key, so its own log lines are noise.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
}

/** HTTP status of an SDK error, when the store answered at all. */
const statusOf = (error: unknown) =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** A refusal (4xx: bad key, no such bucket) will not change on retry; a 5xx or a network error may. */
const transient = (error: unknown) => {
  const status = statusOf(error);
  return status === undefined || status >= 500 || status === 429;
};

/**
 * Upload a backup: the dump, then its manifest, so that in the bucket too a manifest means a whole
 * dump is there. Streams from disk with a known length: one PutObject per file (up to 5 GB each,
 * S3's single-request limit).
 */
export function s3Uploader(settings: S3Settings, client = s3Client(settings)): BackupUploader {
  return {
    async upload(backup, signal) {
      const keys: string[] = [];
      for (const path of [backup.dumpPath, backup.manifestPath]) {
        const key = `${settings.prefix}${basename(path)}`;
        const { size } = await stat(path);
        const putOnce = async () => {
          // A fresh stream per attempt: a body half-read by a failed attempt cannot be replayed.
          const body = createReadStream(path);
          try {
            await client.send(
              new PutObjectCommand({
                Bucket: settings.bucket,
                Key: key,
                Body: body,
                ContentLength: size,
                ContentType: path.endsWith('.json')
                  ? 'application/json'
                  : 'application/octet-stream',
                Metadata: { 'dump-sha256': backup.manifest.sha256, source: backup.manifest.source },
              }),
              signal ? { abortSignal: signal } : {},
            );
          } finally {
            body.destroy();
          }
        };
        try {
          await pRetry(putOnce, {
            retries: UPLOAD_RETRIES,
            minTimeout: 2_000,
            shouldRetry: ({ error }) => transient(error) && !signal?.aborted,
            ...(signal ? { signal } : {}),
          });
        } catch (error) {
          const status = statusOf(error);
          throw new Error(
            `upload of ${key} to bucket ${settings.bucket} failed${status ? ` (HTTP ${status})` : ''}: ${(error as Error).name}: ${(error as Error).message}`,
          );
        }
        keys.push(key);
      }
      return keys;
    },
  };
}
