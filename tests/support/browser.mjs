// What the browser scripts share (the console's scenario and the flows'): their environment, and headless chromium from Debian driven by the
// playwright-core that `npm ci` installed in tests/console/browser (PLAYWRIGHT_DIR). Run by tests/support/browser.rs.
import { createRequire } from 'node:module';
import path from 'node:path';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

// playwright-core's chromium, from PLAYWRIGHT_DIR.
export function chromium() {
  const require = createRequire(path.join(env('PLAYWRIGHT_DIR'), 'package.json'));
  return require('playwright-core').chromium;
}

// A browser with a fresh profile (PROFILE_DIR), localhost mapped to 127.0.0.1 (the test apps listen on IPv4);
// `options` are added to playwright's (a viewport, downloads).
export async function launch(options = {}) {
  return chromium().launchPersistentContext(env('PROFILE_DIR'), {
    executablePath: env('CHROMIUM'),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP localhost 127.0.0.1',
    ],
    ...options,
  });
}
