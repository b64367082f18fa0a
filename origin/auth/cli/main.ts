import { openFromEnv } from '../../bootstrap.js';
import { parseEnv } from '../../env.js';
import { createLogger } from '../../logger.js';
import { type CliIo, promptSecretFromTty, UsageError } from './run.js';

/** The process around a CLI command: environment, database, exit code, error messages. */
export async function main(
  name: string,
  usage: string,
  run: (argv: string[], io: CliIo) => Promise<number>,
): Promise<void> {
  let db: CliIo['db'] | undefined;
  try {
    const env = parseEnv();
    db = await openFromEnv(env, createLogger('warn'));
    process.exitCode = await run(process.argv.slice(2), {
      db,
      env: process.env,
      out: (line) => console.log(line),
      promptSecret: promptSecretFromTty,
    });
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message) console.error(`${name}: ${error.message}`);
      console.error(usage);
      process.exitCode = 2;
    } else {
      console.error(`${name}: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  } finally {
    await db?.close();
  }
}
