import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectProjectContext, holdRequests, rowByName, setUpConsole, signIn } from './harness.mjs';

let console_;
let server;
let browser;

before(async () => {
  console_ = await setUpConsole({ signIn: false });
  ({ server, browser } = console_);
});

after(async () => {
  await console_?.close();
});

test('a fresh visit shows the sign-in page with a labelled token field', async () => {
  const { page } = browser;
  await page.goto('/');
  await page.getByRole('heading', { name: 'Gatehouse console' }).waitFor();
  assert.equal(await page.getByLabel('Organization API token', { exact: true }).getAttribute('type'), 'password');
  assert.ok(await page.getByRole('button', { name: 'SIGN IN', exact: true }).isDisabled());
  assert.match(page.url(), /#\/signin$/);
  await browser.screenshot('signin');
  browser.assertNoErrors();
});

test('a wrong token is refused with a message and no session', async () => {
  const { page } = browser;
  // The refused POST is logged by Chromium as a failed resource load; that one is expected.
  browser.allowError((text) => /status of 401/.test(text));
  await page.goto('/#/signin');
  await page.getByLabel('Organization API token', { exact: true }).fill('gto_not-a-real-token');
  await page.getByRole('button', { name: 'SIGN IN', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
  const session = await page.evaluate(() =>
    fetch('/v2/console/session', { credentials: 'same-origin' }).then((r) => r.status),
  );
  assert.equal(session, 401);
  browser.assertNoErrors();
});

test('the organization token signs in, the cookie is HttpOnly, and sign-out ends the session', async () => {
  const { page, context } = browser;
  await signIn(page, server.orgSecret);
  await expectProjectContext(page, /^Project: .*\(Default\)$/);
  const nav = page.getByRole('navigation', { name: 'Console' });
  await nav.getByRole('heading', { name: 'Organization Options' }).waitFor();
  await nav.getByRole('link', { name: 'API Tokens', exact: true }).waitFor();

  const cookies = await context.cookies(server.baseUrl);
  assert.ok(cookies.length > 0, 'a session cookie is set');
  assert.ok(
    cookies.every((c) => c.httpOnly),
    'session cookies are HttpOnly',
  );
  assert.ok(
    cookies.some((c) => c.sameSite === 'Strict'),
    'the session cookie is SameSite=Strict',
  );
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session cookie');

  // A reload keeps the session: the console asks GET /v2/console/session for it. The token list
  // it loads is held until after SIGN OUT, so that load is overtaken and answers 401.
  const list = await holdRequests(page, /\/v2\/tokens\?/);
  await page.reload();
  await page.getByRole('heading', { name: 'Organization Api Tokens', exact: true }).waitFor();
  await list.arrived();

  browser.allowError((text) => /status of 401/.test(text));
  await page.getByRole('button', { name: 'SIGN OUT', exact: true }).click();
  await page.getByRole('button', { name: 'SIGN IN', exact: true }).waitFor();
  const overtaken = page.waitForResponse(/\/v2\/tokens\?/);
  await list.release();
  assert.equal((await overtaken).status(), 401);
  await page.waitForLoadState('networkidle');
  assert.equal(
    await page.getByText('Your session has ended. Sign in again.').count(),
    0,
    'signing out is not a session that ended',
  );
  const status = await page.evaluate(() =>
    fetch('/v2/console/session', { credentials: 'same-origin' }).then((r) => r.status),
  );
  assert.equal(status, 401, 'the server forgot the session');
  browser.assertNoErrors();
});

test('a state-changing call with the cookie but without X-CSRF-Token is refused', async () => {
  const { page } = browser;
  await signIn(page, server.orgSecret);
  browser.allowError((text) => /status of 40[13]/.test(text));
  const status = await page.evaluate(() =>
    fetch('/v2/organization/tokens', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'csrf-probe' }),
    }).then((r) => r.status),
  );
  assert.ok(status === 401 || status === 403, `expected 401/403 without CSRF header, got ${status}`);
  const listed = await server.api.ok('GET', '/v2/tokens?name=csrf-probe');
  assert.equal(listed.count, 0, 'no token was created');
  browser.assertNoErrors();
});

test('blocking the signed-in token ends the console session', async () => {
  const { page } = browser;
  const second = await server.api.createOrgToken('second-admin', 'signs in to the console');
  await signIn(page, second.secret);
  // signIn returns when the heading renders; let the page's own loads (token list, projects)
  // finish first, or one of them may land after the block and end the session by itself.
  await rowByName(page, 'second-admin').waitFor();
  await page.waitForLoadState('networkidle');
  await server.api.ok('PUT', `/v2/organization/tokens/${second.id}`, {
    name: 'second-admin',
    description: '',
    status: 'Blocked',
  });
  browser.allowError((text) => /status of 401/.test(text));
  const projectsLink = page.getByRole('link', { name: 'Projects', exact: true });
  const signInButton = page.getByRole('button', { name: 'SIGN IN', exact: true });
  await projectsLink.or(signInButton).first().waitFor();
  // Any API call after the block answers 401, which returns the console to sign-in.
  if (await projectsLink.isVisible()) await projectsLink.click({ timeout: 2000 }).catch(() => {});
  await signInButton.waitFor();
  await page.getByText('Your session has ended. Sign in again.').waitFor();
  // Every load in flight answers 401; the session ends once, with one notice.
  await page.waitForLoadState('networkidle');
  assert.equal(await page.getByText('Your session has ended. Sign in again.').count(), 1);
  browser.assertNoErrors();
});
