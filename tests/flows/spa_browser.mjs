// A single-page app on another origin, in headless chromium: it sends the user to tokengate's /oauth2/authorize,
// the user signs in and allows, and the page redeems its code with PKCE by fetch(), then revokes its refresh token
// with a JSON body (a preflighted request). Run by tests/flows/cors.rs, which serves the page and reads the line
// `RESULT {json}` this prints. playwright-core comes from tests/console/browser (PLAYWRIGHT_DIR).
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(path.join(env('PLAYWRIGHT_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

const APP_URL = env('APP_URL');
const context = await chromium.launchPersistentContext(env('PROFILE_DIR'), {
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
    // The app's origin is localhost; its listener is on IPv4.
    '--host-resolver-rules=MAP localhost 127.0.0.1',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  await page.goto(`${APP_URL}/`);
  await page.click('#go');
  await page.waitForSelector('input[name=password]');
  await page.fill('input[name=username]', env('USER_NAME'));
  await page.fill('input[name=password]', env('USER_PASSWORD'));
  await page.click('button[type=submit]');
  await page.click('button[value=allow]');
  await page.waitForURL(`${APP_URL}/cb?**`);
  await page.waitForFunction(() => document.getElementById('result')?.textContent);
  const result = await page.textContent('#result');
  console.log(`RESULT ${result}`);
} finally {
  await context.close();
}
