// A single-page app on another origin, in headless chromium: it sends the user to tokengate's /oauth2/authorize,
// the user signs in and allows, and the page redeems its code with PKCE by fetch(), then revokes its refresh token
// with a JSON body (a preflighted request). Run by tests/flows/cors.rs, which serves the page and reads the line
// `RESULT {json}` this prints. The browser is launched by tests/support/browser.mjs.
import { env, launch } from '../support/browser.mjs';

const APP_URL = env('APP_URL');
const context = await launch();
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
