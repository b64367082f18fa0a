import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, installed by the setup script (`apt-get install -y chromium`). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Launch headless Chromium for a browser test. A missing browser is a failure, not a skip: the
 * viewer must be tested wherever the suite runs.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}: run the setup script (it runs \`apt-get install -y chromium\`), or set CHROMIUM_PATH`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // No GPU here: SwiftShader gives MapLibre its WebGL. No sandbox: CI runs as root.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--enable-unsafe-swiftshader',
    ],
    timeout: 60_000,
  });
}
