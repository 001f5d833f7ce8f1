// Issue 12, item 10: the console and the API reference run under their Content-Security-Policy
// (own scripts and styles only, no inline code, no framing) without a single violation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setUpConsole, signIn } from './harness.mjs';

let console_;
let server;
let browser;
let page;

before(async () => {
  console_ = await setUpConsole({ signIn: false });
  ({ server, browser, page } = console_);
  // Every document records the policy violations it sees, from its first script on.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
    });
  });
});

after(async () => {
  await console_?.close();
});

function assertPolicy(response) {
  const policy = response.headers()['content-security-policy'] ?? '';
  assert.match(policy, /script-src 'self'(;|$)/);
  assert.match(policy, /style-src 'self'(;|$)/);
  assert.match(policy, /frame-ancestors 'none'/);
  assert.equal(response.headers()['x-content-type-options'], 'nosniff');
}

test('the console signs in and renders its pages under its policy', async () => {
  assertPolicy(await page.goto('/'));
  await signIn(page, server.orgSecret);
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Projects', exact: true }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
  browser.assertNoErrors();
});

test('the API reference renders under its policy', async () => {
  assertPolicy(await page.goto('/docs'));
  await page.locator('#nav-list a').first().waitFor();
  assert.ok((await page.locator('#nav-list a').count()) > 20, 'the operations are listed');
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
  browser.assertNoErrors();
});
