import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InterruptedError, ToolError } from './errors.js';
import { childEnv, runTogether, startTool } from './tool.js';

function collector() {
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback();
    },
  });
  return { sink, bytes: () => bytes };
}

describe('runTogether', () => {
  it('resolves when every stream finished and every tool exited 0', async () => {
    const cat = startTool('cat', 'cat', []);
    const out = collector();
    await runTogether(
      [
        [Readable.from([Buffer.alloc(1_000_000)]), cat.stdin as NodeJS.WritableStream],
        [cat.stdout as NodeJS.ReadableStream, out.sink],
      ],
      [cat],
    );
    expect(out.bytes()).toBe(1_000_000);
  });

  it('fails with the tool and the end of its stderr when it dies midway after writing', async () => {
    // What a pg_dump that loses its server halfway looks like: output, then an error and code 1.
    const dump = startTool('pg_dump', 'sh', [
      '-c',
      'head -c 200000 /dev/zero; echo "pg_dump: error: connection lost" >&2; exit 1',
    ]);
    const out = collector();
    const run = runTogether([[dump.stdout as NodeJS.ReadableStream, out.sink]], [dump]);
    await expect(run).rejects.toThrow(ToolError);
    await expect(run).rejects.toThrow(
      'pg_dump exited with code 1: pg_dump: error: connection lost',
    );
    expect(out.bytes()).toBe(200_000);
  });

  it('blames the upstream tool that failed by itself, not the one that starved after it', async () => {
    const decrypt = startTool('age', 'sh', ['-c', 'echo "age: wrong key" >&2; exit 1']);
    const restore = startTool('pg_restore', 'sh', [
      '-c',
      'cat >/dev/null; echo "pg_restore: input file is too short" >&2; exit 1',
    ]);
    await expect(
      runTogether(
        [[decrypt.stdout as NodeJS.ReadableStream, restore.stdin as NodeJS.WritableStream]],
        [decrypt, restore],
      ),
    ).rejects.toThrow('age exited with code 1: age: wrong key');
  });

  it('stops every tool when a stream fails, leaving no child running', async () => {
    const producer = startTool('yes', 'yes', []);
    const failing = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('disk full'));
      },
    });
    await expect(
      runTogether([[producer.stdout as NodeJS.ReadableStream, failing]], [producer]),
    ).rejects.toThrow('disk full');
    expect(producer.child.exitCode !== null || producer.child.signalCode !== null).toBe(true);
  });

  it('stops on abort and says it was interrupted', async () => {
    const sleeper = startTool('sleep', 'sleep', ['30']);
    const controller = new AbortController();
    setTimeout(() => controller.abort('SIGTERM'), 50);
    const started = Date.now();
    await expect(runTogether([], [sleeper], controller.signal)).rejects.toThrow(
      new InterruptedError('interrupted (SIGTERM)'),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('names a tool that is not installed', async () => {
    const missing = startTool('pg_dump', 'pg_dump-that-does-not-exist', []);
    await expect(runTogether([], [missing])).rejects.toThrow(
      'pg_dump is not installed (pg_dump-that-does-not-exist not found on PATH)',
    );
  });
});

describe('childEnv', () => {
  it('keeps our secrets from the tools we start', () => {
    process.env.BACKUP_GPG_PASSPHRASE = 'hunter2';
    try {
      const env = childEnv({ PGPASSWORD: 'x' });
      expect(env.BACKUP_GPG_PASSPHRASE).toBeUndefined();
      expect(env.DATABASE_URL).toBeUndefined();
      expect(env.PGPASSWORD).toBe('x');
      expect(env.PATH).toBe(process.env.PATH);
    } finally {
      delete process.env.BACKUP_GPG_PASSPHRASE;
    }
  });
});
