// response_mode=form_post in headless chromium: the user signs in and allows, and the page tokengate answers with
// submits itself (its one script allowed by hash in the CSP) to the app's redirect URI, which shows what it
// received. Run by tests/flows/conformance.rs, which serves the app and reads the line `RESULT {text}` this prints.
// playwright-core comes from tests/console/browser (PLAYWRIGHT_DIR).
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(path.join(env('PLAYWRIGHT_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

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
    '--host-resolver-rules=MAP localhost 127.0.0.1',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await page.goto(env('AUTHORIZE_URL'));
  await page.fill('input[name=username]', env('USER_NAME'));
  await page.fill('input[name=password]', env('USER_PASSWORD'));
  await page.click('button[type=submit]');
  await page.click('button[value=allow]');
  await page.waitForURL(`${env('APP_URL')}/cb`);
  const received = await page.textContent('#result');
  console.log(`RESULT ${JSON.stringify({ received, violations })}`);
} finally {
  await context.close();
}
