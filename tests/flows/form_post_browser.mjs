// response_mode=form_post in headless chromium: the user signs in and allows, and the page tokengate answers with
// submits itself (its one script allowed by hash in the CSP) to the app's redirect URI, which shows what it
// received. Run by tests/flows/conformance.rs, which serves the app and reads the line `RESULT {text}` this prints.
// The browser is launched by tests/support/browser.mjs.
import { env, launch } from '../support/browser.mjs';

const context = await launch();
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
