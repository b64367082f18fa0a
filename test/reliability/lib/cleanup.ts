/**
 * Everything the suite starts registers how to undo it here, and the runner undoes all of it on
 * the way out: after a normal end, a violation, an exception, Ctrl-C or SIGTERM. Steps run last
 * in, first out (the Workers before the origin they call, the origin before its database), each
 * bounded, so one stuck step cannot keep the others from running.
 */

type Step = { name: string; run: () => Promise<void> | void };

const steps: Step[] = [];
const STEP_TIMEOUT_MS = 20_000;

/**
 * Register an undo step; returns a function that removes it (for something already undone).
 *
 * @example
 *   const forget = onCleanup('redis-server', () => redis.stop());
 */
export function onCleanup(name: string, run: Step['run']): () => void {
  const step = { name, run };
  steps.push(step);
  return () => {
    const at = steps.indexOf(step);
    if (at >= 0) steps.splice(at, 1);
  };
}

let running: Promise<string[]> | undefined;

/** Whether cleanUp has started: errors of processes being torn down are expected then. */
export const cleaningUp = () => running !== undefined;

/** Runs every registered step once (LIFO); returns the ones that failed, described. */
export function cleanUp(): Promise<string[]> {
  running ??= (async () => {
    const failures: string[] = [];
    while (steps.length > 0) {
      const step = steps.pop() as Step;
      if (process.env.RELIABILITY_DEBUG) console.error(`cleanup: ${step.name}`);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step.run),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`did not finish in ${STEP_TIMEOUT_MS} ms`)),
              STEP_TIMEOUT_MS,
            );
          }),
        ]);
      } catch (error) {
        failures.push(`${step.name}: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return failures;
  })();
  return running;
}

/**
 * Ctrl-C and SIGTERM clean up, then exit 130/143. A second signal while cleaning up exits at once
 * (children die with us through their parent-death signal; see children.ts).
 *
 * Ours are the only visible handlers: Miniflare registers its own (exit-hook) that stop workerd
 * and exit at once, which would cut our cleanup short and leave the private PostgreSQL running.
 * Any handler added later is removed as soon as it is added; Miniflare's 'exit' hook still stops
 * workerd when we finally exit. tsx's own handler, which tells the `tsx` parent process that the
 * signal arrived (else it SIGKILLs us), hides itself from process.listeners() and so stays.
 */
export function cleanUpOnSignals(log: (line: string) => void): void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const ours = new Set<(...args: unknown[]) => void>();
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
    const handler = () => {
      const code = signal === 'SIGINT' ? 130 : 143;
      if (interrupted) process.exit(code);
      interrupted = true;
      log(`\n${signal}: stopping and cleaning up (again to exit at once)`);
      void cleanUp().then((failures) => {
        for (const failure of failures) log(`cleanup: ${failure}`);
        process.exit(code);
      });
    };
    ours.add(handler);
    process.on(signal, handler);
  }
  process.on('newListener', (event, listener) => {
    if (!signals.includes(event as NodeJS.Signals) || ours.has(listener)) return;
    // 'newListener' fires before the listener is added; hidden ones (tsx's) are left alone.
    setImmediate(() => {
      if (process.listeners(event).includes(listener)) process.removeListener(event, listener);
    });
  });
}

let interrupted = false;
