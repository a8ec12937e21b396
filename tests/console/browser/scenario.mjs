// The admin console in headless chromium, end to end. Run by tests/console/browser.rs against a real tokengate; the
// URLs and credentials come from the environment. Every step checks what the administrator would see, and takes a
// screenshot to $SCREENSHOTS. Exits non-zero on the first failed check.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, env, launch } from '../../support/browser.mjs';

const URL_ = env('CONSOLE_URL');
const TOKEN_URL = env('TOKEN_URL');
const ADMIN = env('ADMIN_USER');
const ADMIN_PASSWORD = env('ADMIN_PASSWORD');
const USER = env('USER_NAME');
const USER_PASSWORD = env('USER_PASSWORD');
const MAX_APPS = Number(env('MAX_APPS'));
const ISSUER = env('ISSUER');
const CLOCK_NOW = Number(env('CLOCK_NOW'));
const SHOTS = env('SCREENSHOTS');

// A 16x16 PNG logo (a blue square), made here.
const LOGO = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAGUlEQVR42mPgDr/wnxLMMGrAqAGjBgwXAwAkPjEfy1K4rwAAAABJRU5ErkJggg==',
  'base64',
);

const started = Date.now();
const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);
const cspProblems = [];
const otherErrors = [];
const headerProblems = [];

const context = await launch({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });

try {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: URL_ });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(text)) cspProblems.push(text);
    else if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|409|422)/.test(text))
      otherErrors.push(text);
  });
  page.on('pageerror', (e) => otherErrors.push(String(e)));
  // Every page (not a redirect, not an asset) carries the security headers.
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document') {
      if (r.status() >= 400) otherErrors.push(`${r.status()} for ${r.request().resourceType()} ${r.url()}`);
      return;
    }
    if (r.status() === 303) return;
    const h = r.headers();
    const csp = h['content-security-policy'] || '';
    if (!csp.includes("script-src 'self'") || !csp.includes("frame-ancestors 'none'") || csp.includes('unsafe-inline'))
      headerProblems.push(`${r.url()}: CSP ${csp}`);
    if (h['x-frame-options'] !== 'DENY') headerProblems.push(`${r.url()}: X-Frame-Options ${h['x-frame-options']}`);
    if (h['cache-control'] !== 'no-store') headerProblems.push(`${r.url()}: Cache-Control ${h['cache-control']}`);
  });

  const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const go = (p) => page.goto(URL_ + p);
  // Clicks something that submits a form or follows a link, and waits for the next page.
  const submit = async (selector) => {
    await Promise.all([page.waitForEvent('load'), page.click(selector)]);
  };
  const text = async (selector) => ((await page.textContent(selector)) ?? '').trim();
  // Every visible form control has a label (or an aria-label); every button has a name.
  const checkLabels = async (where) => {
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
        .filter((el) => el.tagName === 'BUTTON'
          ? !(el.textContent.trim() || el.getAttribute('aria-label'))
          : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    assert.deepEqual(unlabelled, [], `controls without a label on ${where}`);
  };
  const noHorizontalScroll = async () =>
    page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
  const token = async (clientId, secret) => {
    const r = await fetch(TOKEN_URL, {
      method: 'POST',
      headers: {
        authorization: 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64'),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=api%3Aread',
    });
    return { status: r.status, body: await r.json() };
  };
  const adminApi = async (method, p, body) => {
    const r = await fetch(URL_ + p, {
      method,
      headers: {
        authorization: 'Basic ' + Buffer.from(`${ADMIN}:${ADMIN_PASSWORD}`).toString('base64'),
        'content-type': 'application/json',
      },
      body: body && JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const createApp = async (type, name) => {
    await go('/console/apps');
    await page.click('#create-app');
    await page.waitForSelector('#create-dialog[open]');
    await page.check(`#type-${type}`);
    await page.fill('#create-name', name);
    await submit('#create-dialog button[type=submit]');
    assert.equal(await text('h1'), name, `the new app's page (${type})`);
  };

  // ---- Sign-in: a non-admin is refused, an admin gets in. ----
  step('sign-in page');
  const first = await go('/console/');
  assert.match(page.url(), /\/console\/sign-in$/, 'signed out: the sign-in page');
  assert.equal(first.status(), 200);
  await shot('01-sign-in');
  await checkLabels('the sign-in page');
  await page.fill('#username', USER);
  await page.fill('#password', USER_PASSWORD);
  await submit('button[type=submit]');
  assert.match(await text('#page-error'), /Only administrators may sign in to the console/);
  assert.match(page.url(), /\/console\/sign-in$/);
  await shot('02-not-an-admin');
  await go('/console/apps');
  assert.match(page.url(), /\/console\/sign-in$/, 'a non-admin has no session');

  await page.fill('#username', ADMIN);
  await page.fill('#password', ADMIN_PASSWORD);
  await submit('button[type=submit]');
  assert.match(page.url(), /\/console\/apps$/);
  assert.equal(await text('#places'), `0 of ${MAX_APPS} places used`);
  await shot('03-apps-empty');
  const cookies = await context.cookies(URL_ + '/console/apps');
  const session = cookies.find((c) => c.name === 'tg_console');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', 'HttpOnly, SameSite=Strict session cookie');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session cookie');

  // ---- The create dialog, by keyboard: Enter opens, Escape closes and gives focus back. ----
  step('create dialog');
  await page.focus('#create-app');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#create-dialog[open]');
  for (const hint of ['CLIs, daemons and scripts', 'keep their credentials on the server', 'single-page apps', 'PKCE'])
    assert.ok((await text('#create-dialog')).includes(hint), `the dialog says what each type is for: ${hint}`);
  assert.equal(await page.getAttribute('#type-machine', 'aria-describedby'), 'type-machine-hint');
  await page.check('#type-machine');
  await page.fill('#create-name', 'Nightly export');
  await shot('04-create-dialog');
  await checkLabels('the list with its dialog');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#create-dialog:not([open])', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'create-app', 'focus returns to the button');

  // ---- A machine-to-machine app: its secret shown once, copied, and working. ----
  step('machine app');
  await createApp('machine', 'Nightly export');
  const machineId = await page.inputValue('#client-id');
  const secret = await page.inputValue('#new-secret');
  assert.match(secret, /^tgs_/);
  assert.match(await text('.reveal .warning'), /cannot be seen again/);
  await page.click('button[data-copy=new-secret]');
  await page.waitForFunction(() => document.getElementById('new-secret-status').textContent === 'Copied.');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the clipboard holds the secret');
  await shot('05-app-secret');
  const t = await token(machineId, secret);
  assert.equal(t.status, 200, `the copied secret gets a token: ${JSON.stringify(t.body)}`);
  assert.ok(t.body.access_token);
  await page.click('button[data-copy=client-id]');
  await page.waitForFunction(() => document.getElementById('client-id-status').textContent === 'Copied.');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), machineId);
  // A reload sends the form again: refused, nothing new is made, the secret is not shown again.
  await page.reload();
  assert.match(await text('main'), /This form was already sent/);
  assert.ok(!(await page.content()).includes(secret));
  assert.equal((await adminApi('GET', '/admin/v1/apps')).body.count, 1, 'the reload made no second app');
  await page.goto(`${URL_}/console/apps/${machineId}`);
  assert.equal(await page.$('#new-secret'), null, 'the secret is not shown again');

  step('add and delete a secret');
  await page.fill('#secret-note', 'rotation 2026');
  await submit('button:text-is("Add client secret")');
  const second = await page.inputValue('#new-secret');
  assert.notEqual(second, secret);
  assert.equal(await page.locator('#secrets tbody tr').count(), 2);
  assert.equal((await token(machineId, second)).status, 200);
  await submit('#secrets tr:has-text("rotation 2026") button:has-text("Delete")');
  assert.equal(await text('.flash'), 'The client secret is deleted.');
  assert.equal(await page.locator('#secrets tbody tr').count(), 1);
  assert.equal((await token(machineId, second)).status, 401, 'a deleted secret is refused');
  assert.equal((await token(machineId, secret)).status, 200);

  step('generate a key pair and download the private key');
  await page.selectOption('#alg', 'RS256');
  await submit('#generate-key');
  const pem = await page.inputValue('#private-key');
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
  await page.waitForSelector('#download-key', { state: 'visible' });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-key')]);
  assert.match(download.suggestedFilename(), /^tokengate-[\w-]+\.pem$/);
  const downloaded = fs.readFileSync(await download.path(), 'utf8');
  assert.equal(downloaded.trim(), pem.trim(), 'the download is the key shown');
  const privateKey = crypto.createPrivateKey(downloaded);
  assert.equal(privateKey.asymmetricKeyType, 'rsa', 'the download is a PEM private key');
  // The downloaded key signs a JWT assertion (RFC 7523) that the token endpoint takes.
  const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const claims = { iss: machineId, sub: USER, aud: ISSUER, iat: CLOCK_NOW, exp: CLOCK_NOW + 120, jti: crypto.randomUUID() };
  const signingInput = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}`;
  const assertion = `${signingInput}.${crypto.sign('RSA-SHA256', Buffer.from(signingInput), privateKey).toString('base64url')}`;
  // An app acts as a user only once an administrator lists them in its settings.
  await page.fill('#jwt_subjects', USER);
  await submit('button:text-is("Save")');
  assert.equal(await text('.flash'), 'Saved.');
  const bearer = await fetch(TOKEN_URL, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${machineId}:${secret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
  });
  assert.equal(bearer.status, 200, `the generated key's assertion gets a token: ${await bearer.text()}`);
  await shot('06-private-key');

  step('paste a public key');
  const pasted = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
  await page.goto(`${URL_}/console/apps/${machineId}`);
  assert.equal(await page.$('#private-key'), null, 'the private key is not shown again');
  await page.click('summary:has-text("Add a public key")');
  await page.fill('#public_key', pasted);
  await page.fill('#key-note', 'laptop');
  await submit('button:text-is("Add public key")');
  assert.equal(await text('.flash'), 'The public key is added.');
  assert.equal(await page.locator('#keys tbody tr').count(), 2);
  assert.ok((await text('#keys')).includes('ES256') && (await text('#keys')).includes('RS256'));
  await shot('07-machine-keys');
  await checkLabels("a machine app's page");

  // ---- A web application: a refused field shows the API's message; the logo upload with its preview. ----
  step('web app');
  await createApp('web', 'Customer portal');
  const webId = await page.inputValue('#client-id');
  await page.fill('#redirect_urls', 'http://evil.example/cb');
  await submit('button:text-is("Save")');
  const api = await adminApi('PATCH', `/admin/v1/apps/${webId}`, { redirect_urls: ['http://evil.example/cb'] });
  assert.equal(api.status, 422);
  assert.equal(await text('#redirect_urls-error'), api.body.error_description, "the API's message, at the field");
  assert.equal(await page.getAttribute('#redirect_urls', 'aria-invalid'), 'true');
  await shot('08-validation-error');
  await page.fill('#redirect_urls', 'https://portal.example/callback');
  await submit('button:text-is("Save")');
  assert.equal(await text('.flash'), 'Saved.');
  await page.setInputFiles('#logo', { name: 'logo.png', mimeType: 'image/png', buffer: LOGO });
  await page.waitForFunction(() => document.getElementById('logo-preview').src.startsWith('blob:'));
  assert.ok(await page.isVisible('#logo-preview'), 'the chosen logo is previewed');
  await submit('button:text-is("Upload logo")');
  assert.equal(await text('.flash'), 'The logo is uploaded.');
  assert.ok(await page.evaluate(() => document.querySelector('h1 img.logo').naturalWidth === 16), 'the logo loads');
  await shot('08-web-app');
  await checkLabels("a web app's page");

  // ---- A single-page application: no secret, PKCE. ----
  step('single-page app');
  await createApp('spa', 'Team dashboard');
  assert.equal(await text('.flash'), 'The app is created.');
  assert.ok((await text('main')).includes('PKCE'));
  assert.equal(await page.$('#secrets-title'), null);

  // ---- The 10-app limit. ----
  step('fill every place');
  for (let i = 4; i <= MAX_APPS; i++) await createApp('machine', `Batch job ${i}`);
  await go('/console/apps');
  assert.equal(await text('#places'), `${MAX_APPS} of ${MAX_APPS} places used`);
  assert.ok(await page.isDisabled('#create-app'), 'create is disabled');
  assert.equal(await page.getAttribute('#create-app', 'aria-describedby'), 'limit-reason');
  assert.equal(await text('#limit-reason'), `the limit of ${MAX_APPS} apps is reached: delete an app to free a place`);
  assert.equal(await page.locator('#apps tbody tr').count(), MAX_APPS);
  await shot('09-apps-full');
  const refused = await page.request.post(`${URL_}/console/apps`, { form: { type: 'web', name: 'no token' } });
  assert.equal(refused.status(), 403, 'a form without the CSRF token is refused');

  step('delete an app, with confirmation');
  await submit(`a:has-text("Batch job ${MAX_APPS}")`);
  await page.click('#delete-app');
  await page.waitForSelector('#delete-dialog[open]');
  await shot('10-delete-dialog');
  await page.click('#delete-dialog [data-closes]');
  await page.waitForSelector('#delete-dialog:not([open])', { state: 'attached' });
  assert.equal(await text('h1'), `Batch job ${MAX_APPS}`, 'cancel keeps the app');
  await page.click('#delete-app');
  await submit('#delete-dialog button.danger');
  assert.match(page.url(), /\/console\/apps\?done=deleted$/);
  assert.equal(await text('.flash'), 'The app is deleted.');
  assert.equal(await text('#places'), `${MAX_APPS - 1} of ${MAX_APPS} places used`);
  assert.ok(await page.isEnabled('#create-app'), 'a place is free again');

  // ---- Users: add, make admin, disable. ----
  step('users');
  await submit('nav a:has-text("Users")');
  await page.fill('#new-username', 'bob');
  await page.fill('#new-password', 'bob-password-1');
  await submit('button:text-is("Add user")');
  assert.equal(await text('.flash'), 'The user is added.');
  assert.equal(await text('tr[data-user=bob] td[data-label=Role]'), 'User');
  await submit('tr[data-user=bob] button[value=make-admin]');
  assert.equal(await text('tr[data-user=bob] td[data-label=Role]'), 'Administrator');
  await submit(`tr[data-user=${USER}] button[value=disable]`);
  assert.equal(await text(`tr[data-user=${USER}] td[data-label=Status]`), 'Disabled');
  assert.equal(await page.$(`tr[data-user=${ADMIN}] button`), null, 'no button to lock yourself out');
  await shot('11-users');
  await checkLabels('the users page');

  // ---- A phone-sized screen. ----
  step('phone-sized screen');
  await page.setViewportSize({ width: 375, height: 667 });
  await go('/console/apps');
  assert.ok(await noHorizontalScroll(), 'the list fits 375 px without horizontal scrolling');
  await shot('12-phone-apps');
  await page.goto(`${URL_}/console/apps/${machineId}`);
  assert.ok(await noHorizontalScroll(), 'the app page fits 375 px');
  await shot('13-phone-app');
  await go('/console/users');
  assert.ok(await noHorizontalScroll(), 'the users page fits 375 px');
  await page.setViewportSize({ width: 1280, height: 860 });

  step('sign out');
  await submit('button:text-is("Sign out")');
  assert.match(page.url(), /\/console\/sign-in$/);
  await go('/console/apps');
  assert.match(page.url(), /\/console\/sign-in$/, 'signed out for good');

  // ---- Without JavaScript: the dialogs' own pages do the same work. ----
  step('without JavaScript');
  const plain = await chromium().launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const noJs = await (await plain.newContext({ javaScriptEnabled: false })).newPage();
    noJs.setDefaultTimeout(15000);
    const send = async (selector) => Promise.all([noJs.waitForEvent('load'), noJs.click(selector)]);
    await noJs.goto(`${URL_}/console/sign-in`);
    await noJs.fill('#username', 'bob');
    await noJs.fill('#password', 'bob-password-1');
    await send('button[type=submit]');
    assert.match(noJs.url(), /\/console\/apps$/, 'bob, made an admin in the console, signs in');
    await send('#create-app');
    assert.match(noJs.url(), /\/console\/apps\/new$/, 'the create link leads to its own page');
    await noJs.check('#type-web');
    await noJs.fill('#create-name', 'Plain HTML');
    await send('button:text-is("Create")');
    assert.equal((await noJs.textContent('h1')).trim(), 'Plain HTML');
    assert.match(await noJs.inputValue('#new-secret'), /^tgs_/);
    assert.ok(await noJs.isHidden('#download-key') || (await noJs.$('#download-key')) === null);
    await send('#delete-app');
    assert.match(noJs.url(), /\/delete$/, 'the delete link leads to a confirmation page');
    await send('button.danger');
    assert.equal((await noJs.textContent('.flash')).trim(), 'The app is deleted.');
  } finally {
    await plain.close();
  }

  assert.deepEqual(cspProblems, [], 'no CSP violation on any page');
  assert.deepEqual(otherErrors, [], 'no script error on any page');
  assert.deepEqual(headerProblems, [], 'every page has the security headers');
  step('all checks passed');
} finally {
  await context.close();
}
