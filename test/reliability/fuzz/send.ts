import { request as httpRequest } from 'node:http';
import type { FuzzCase } from './cases.js';
import type { FuzzAnswer } from './tally.js';

const BODY_KEEP = 8 * 1024;

/**
 * One case over a real socket, byte for byte: node:http puts `target` on the request line as it
 * is (fetch would normalise it: resolve `..`, re-encode, refuse bad percent-encodings).
 */
export function sendRaw(base: string, fuzzCase: FuzzCase, timeoutMs: number): Promise<FuzzAnswer> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: FuzzAnswer) => {
      if (settled) return;
      settled = true;
      resolve(answer);
    };
    let req: ReturnType<typeof httpRequest>;
    try {
      req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: fuzzCase.method,
          path: fuzzCase.target,
          agent: false,
          headers: {
            ...fuzzCase.headers,
            Connection: 'close',
            // A fresh client address per case: the burst guard counts per address.
            'CF-Connecting-IP': `2001:db8:f::${Math.floor(Math.random() * 0xffff).toString(16)}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < BODY_KEEP) chunks.push(chunk);
            size += chunk.length;
          });
          const finish = () =>
            done({
              status: res.statusCode ?? 0,
              contentType: res.headers['content-type'] ?? null,
              body: Buffer.concat(chunks).toString('utf8'),
              fromOurCode: res.headers['x-request-id'] !== undefined,
            });
          res.once('end', finish);
          res.once('error', finish);
        },
      );
    } catch (error) {
      // node:http refused to send it (a character it will not put on the wire): not a case.
      done({
        status: -1,
        contentType: null,
        body: '',
        fromOurCode: false,
        error: (error as Error).message,
      });
      return;
    }
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      done({
        status: 0,
        contentType: null,
        body: '',
        fromOurCode: false,
        error: `no answer in ${timeoutMs} ms`,
      });
    });
    req.once('error', (error) =>
      done({ status: 0, contentType: null, body: '', fromOurCode: false, error: error.message }),
    );
    req.end(fuzzCase.body);
  });
}
