// The token lifecycle on the API Tokens page: Last used / Created / Expires columns, and the
// MORE menu's block, unblock, revoke, rotate, expiry and rate limit, each checked through the API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  button,
  chooseTokenAction,
  DESKTOP,
  eventually,
  expectRowNames,
  openTokensView,
  rowByName,
  setTokenFilters,
  setUpConsole,
  tableRows,
} from './harness.mjs';

let console_;
let server;
let browser;
let page;
const seeded = {};

before(async () => {
  console_ = await setUpConsole({
    viewport: DESKTOP,
    async seed(server) {
      const { api } = server;
      seeded.project = await api.createProject('life-proj', 'lifecycle tests');
      for (const name of ['life-used', 'life-block', 'life-revoke', 'life-rotate', 'life-expiry'])
        seeded[name] = await api.createOrgToken(name, `${name} token`);
      seeded['life-rate'] = await api.createProjectToken(seeded.project.projectId, 'life-rate', 'rate limited');
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
});

const UTC_TEXT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/;
/** Column indices of the organization view (Name, Description, Status, Last used, Created, Expires). */
const COL = { status: 2, lastUsed: 3, created: 4, expires: 5 };

async function showOnly(name, view = 'organization') {
  await openTokensView(page, view);
  await setTokenFilters(page, view === 'project' ? { name, projectName: '' } : { name });
  await expectRowNames(page, [name]);
}

async function cellsOf(name) {
  return (await tableRows(page)).find((cells) => cells[0] === name);
}

/** Waits until the token, read through the API, satisfies `check`. */
function apiToken(token, check, what) {
  return eventually(async () => {
    const current = await server.api.getToken(token);
    return check(current) ? current : false;
  }, what);
}

test('Last used, Created and Expires show relative times with the exact UTC time on hover', async () => {
  const token = seeded['life-used'];
  assert.equal(await server.api.validateStatus(token.secret), 200);
  const expiresAt = new Date(Date.now() + 3 * 86400 * 1000).toISOString();
  await server.api.changeToken(token, { expiresAt });
  const current = await server.api.getToken(token);
  assert.ok(current.lastUsedAt, 'the validate call is recorded as a use');

  await showOnly('life-used');
  const row = rowByName(page, 'life-used');
  const times = row.locator('time');
  assert.equal(await times.count(), 3);
  const lastUsed = times.nth(0);
  assert.equal(await lastUsed.getAttribute('datetime'), current.lastUsedAt);
  assert.match(await lastUsed.getAttribute('title'), UTC_TEXT);
  assert.equal(
    await lastUsed.getAttribute('title'),
    current.lastUsedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
    'the tooltip is the exact UTC time',
  );
  const cells = await cellsOf('life-used');
  assert.match(cells[COL.lastUsed], /^(just now|[1-5] min ago)$/);
  assert.match(cells[COL.created], /^(just now|[1-5] min ago)$/);
  assert.equal(await times.nth(1).getAttribute('datetime'), current.timestamp);
  assert.match(cells[COL.expires], /^in 3 days$/);
  assert.equal(await times.nth(2).getAttribute('datetime'), current.expiresAt);

  // Past its expiry the token is marked expired.
  await server.api.changeToken(token, { expiresAt: new Date(Date.now() - 2 * 3600 * 1000).toISOString() });
  await page.reload();
  await setTokenFilters(page, { name: 'life-used' });
  await eventually(async () => (await cellsOf('life-used'))?.[COL.expires] === 'expired 2 h ago', 'expired 2 h ago');
  assert.equal(await server.api.validateStatus(token.secret), 401, 'an expired token is refused');

  // A token never used and without expiry says so.
  await showOnly('life-block');
  const fresh = await cellsOf('life-block');
  assert.equal(fresh[COL.lastUsed], 'never');
  assert.equal(fresh[COL.expires], 'never');
  browser.assertNoErrors();
});

test('Block asks first: CANCEL changes nothing, BLOCK blocks, Unblock makes it active again', async () => {
  const token = seeded['life-block'];
  await showOnly('life-block');
  let dialog = await chooseTokenAction(page, 'life-block', 'Block');
  await dialog.getByRole('heading', { name: 'Block token', exact: true }).waitFor();
  await dialog.getByText('life-block', { exact: true }).waitFor();
  assert.equal(await dialog.getByTestId('own-token-warning').count(), 0, 'not the signed-in token');
  await browser.screenshot('token-block-confirm');
  await button('CANCEL', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await server.api.getToken(token)).status, 'Active');
  assert.equal(await server.api.validateStatus(token.secret), 200);

  dialog = await chooseTokenAction(page, 'life-block', 'Block');
  await button('BLOCK', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await apiToken(token, (t) => t.status === 'Blocked', 'life-block Blocked');
  await eventually(async () => (await cellsOf('life-block'))?.[COL.status] === 'Blocked', 'the row to say Blocked');
  assert.equal(await server.api.validateStatus(token.secret), 401);

  dialog = await chooseTokenAction(page, 'life-block', 'Unblock');
  await button('UNBLOCK', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await apiToken(token, (t) => t.status === 'Active', 'life-block Active');
  await eventually(async () => (await cellsOf('life-block'))?.[COL.status] === 'Active', 'the row to say Active');
  assert.equal(await server.api.validateStatus(token.secret), 200);
  browser.assertNoErrors();
});

test('Revoke asks first: CANCEL keeps the token, REVOKE removes the row for good', async () => {
  const token = seeded['life-revoke'];
  await showOnly('life-revoke');
  let dialog = await chooseTokenAction(page, 'life-revoke', 'Revoke');
  await dialog.getByRole('heading', { name: 'Revoke token', exact: true }).waitFor();
  await button('CANCEL', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await expectRowNames(page, ['life-revoke']);
  assert.equal((await server.api.getToken(token)).status, 'Active');

  dialog = await chooseTokenAction(page, 'life-revoke', 'Revoke');
  await button('REVOKE', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await expectRowNames(page, []);
  assert.equal((await server.api.getToken(token)).status, 'Revoked');
  assert.equal(await server.api.validateStatus(token.secret), 401);
  browser.assertNoErrors();
});

test('Rotate shows the new secret once; the old one works during the grace period', async () => {
  const token = seeded['life-rotate'];
  await showOnly('life-rotate');
  let dialog = await chooseTokenAction(page, 'life-rotate', 'Rotate secret');
  await dialog.getByRole('heading', { name: 'Rotate secret', exact: true }).waitFor();
  const grace = dialog.getByLabel('Grace period (seconds)', { exact: true });
  await grace.fill('-1');
  assert.ok(await button('ROTATE', dialog).isDisabled(), 'a negative grace period is refused');
  await grace.fill('90000');
  assert.ok(await button('ROTATE', dialog).isDisabled(), 'more than a day is refused');
  await button('CANCEL', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await server.api.validateStatus(token.secret), 200, 'CANCEL rotated nothing');
  assert.equal((await server.api.getToken(token)).secretPrefix, token.secretPrefix);

  dialog = await chooseTokenAction(page, 'life-rotate', 'Rotate secret');
  await dialog.getByLabel('Grace period (seconds)', { exact: true }).fill('600');
  await button('ROTATE', dialog).click();
  const secretDialog = page.getByRole('dialog', { name: 'Api Token rotated' });
  const secret = (await secretDialog.getByTestId('new-secret').textContent()).trim();
  assert.match(secret, /^gto_[0-9A-Za-z]{49}$/);
  assert.notEqual(secret, token.secret);
  await browser.screenshot('token-rotated-secret');
  await button('CLOSE', secretDialog).click();
  await secretDialog.waitFor({ state: 'detached' });
  assert.equal(await page.content().then((html) => html.includes(secret)), false, 'the secret is gone from the page');
  assert.equal(await server.api.validateStatus(secret), 200, 'the new secret works');
  assert.equal(await server.api.validateStatus(token.secret), 200, 'the old secret works during the grace period');
  assert.equal((await server.api.getToken(token)).secretPrefix, secret.slice(0, 8));

  // Without a grace period the secret it replaces stops at once.
  dialog = await chooseTokenAction(page, 'life-rotate', 'Rotate secret');
  await dialog.getByLabel('Grace period (seconds)', { exact: true }).fill('0');
  await button('ROTATE', dialog).click();
  const second = page.getByRole('dialog', { name: 'Api Token rotated' });
  const newest = (await second.getByTestId('new-secret').textContent()).trim();
  await button('CLOSE', second).click();
  assert.equal(await server.api.validateStatus(newest), 200);
  assert.equal(await server.api.validateStatus(secret), 401, 'rotated out with no grace');
  browser.assertNoErrors();
});

test('Set expiry: CANCEL changes nothing, SAVE sets the time in UTC, NEVER clears it', async () => {
  const token = seeded['life-expiry'];
  await showOnly('life-expiry');
  let dialog = await chooseTokenAction(page, 'life-expiry', 'Set expiry');
  const field = dialog.getByLabel('Expires at (UTC)', { exact: true });
  await field.fill('2031-05-06T07:08');
  await button('CANCEL', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await server.api.getToken(token)).expiresAt, null);

  dialog = await chooseTokenAction(page, 'life-expiry', 'Set expiry');
  await dialog.getByLabel('Expires at (UTC)', { exact: true }).fill('2031-05-06T07:08');
  await browser.screenshot('token-expiry-form');
  await button('SAVE', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await apiToken(token, (t) => t.expiresAt === '2031-05-06T07:08:00.000Z', 'expiresAt 2031-05-06T07:08Z');
  await eventually(async () => /^in \d+ years?$/.test((await cellsOf('life-expiry'))?.[COL.expires]), 'in N years');
  const expires = rowByName(page, 'life-expiry').locator('td[data-label="Expires"] time');
  assert.equal(await expires.getAttribute('title'), '2031-05-06 07:08:00 UTC');

  dialog = await chooseTokenAction(page, 'life-expiry', 'Set expiry');
  assert.equal(await dialog.getByLabel('Expires at (UTC)', { exact: true }).inputValue(), '2031-05-06T07:08');
  await button('NEVER', dialog).click();
  await button('SAVE', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await apiToken(token, (t) => t.expiresAt === null, 'expiresAt cleared');
  await eventually(async () => (await cellsOf('life-expiry'))?.[COL.expires] === 'never', 'Expires never');
  browser.assertNoErrors();
});

test('Rate limit in the project view: a whole number of calls per minute, empty for none', async () => {
  const token = seeded['life-rate'];
  await showOnly('life-rate', 'project');
  let dialog = await chooseTokenAction(page, 'life-rate', 'Rate limit');
  const field = dialog.getByLabel('Calls per minute', { exact: true });
  await field.fill('0');
  assert.ok(await button('SAVE', dialog).isDisabled(), '0 is refused');
  await dialog.getByText('Enter a whole number of at least 1, or leave it empty for no limit.').waitFor();
  await field.fill('2.5');
  assert.ok(await button('SAVE', dialog).isDisabled(), 'a fraction is refused');
  await field.fill('30');
  await button('CANCEL', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await server.api.getToken(token)).rateLimitPerMinute, null);

  dialog = await chooseTokenAction(page, 'life-rate', 'Rate limit');
  await dialog.getByLabel('Calls per minute', { exact: true }).fill('30');
  await button('SAVE', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await apiToken(token, (t) => t.rateLimitPerMinute === 30, 'rateLimitPerMinute 30');
  await rowByName(page, 'life-rate').getByText('30/min', { exact: true }).waitFor();

  dialog = await chooseTokenAction(page, 'life-rate', 'Rate limit');
  assert.equal(await dialog.getByLabel('Calls per minute', { exact: true }).inputValue(), '30');
  await dialog.getByLabel('Calls per minute', { exact: true }).fill('');
  await button('SAVE', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  await apiToken(token, (t) => t.rateLimitPerMinute === null, 'rateLimitPerMinute cleared');
  browser.assertNoErrors();
});

test('the menu works by keyboard: arrows move, Escape closes and returns focus', async () => {
  await showOnly('life-block');
  const more = rowByName(page, 'life-block').getByRole('button', { name: 'More actions for token life-block' });
  await more.focus();
  await page.keyboard.press('Enter');
  const menu = page.getByRole('menu', { name: 'More actions for token life-block' });
  await menu.waitFor();
  assert.equal(await more.getAttribute('aria-expanded'), 'true');
  const focused = () => page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
  await eventually(async () => (await focused()) === 'Block token life-block', 'focus on the first item');
  await page.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'Rotate secret of token life-block');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  assert.equal(await focused(), 'Revoke token life-block', 'arrows wrap around');
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'detached' });
  assert.equal(await more.getAttribute('aria-expanded'), 'false');
  assert.equal(await focused(), 'More actions for token life-block');
  browser.assertNoErrors();
});

test('dialogs warn about the signed-in token, and show the API refusal of the last one (409 id 9003)', async () => {
  await showOnly('DefaultOrganization');
  for (const [action, text] of [
    ['Block', 'Blocking it ends your session at once.'],
    ['Rotate secret', 'Your session ends when the grace period is over'],
    ['Revoke', 'Revoking it ends your session for good.'],
  ]) {
    const dialog = await chooseTokenAction(page, 'DefaultOrganization', action);
    const warning = dialog.getByTestId('own-token-warning');
    await warning.waitFor();
    assert.match(await warning.textContent(), /This is the token you are signed in with\./);
    assert.ok((await warning.textContent()).includes(text), `${action}: ${await warning.textContent()}`);
    if (action === 'Block') await browser.screenshot('token-own-warning');
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });
  }

  // Make the signed-in token the last active organization token: revoking it is refused.
  const others = (await server.api.listOrgTokens('active')).filter((t) => t.name !== 'DefaultOrganization');
  for (const other of others) await server.api.changeToken(other, { status: 'Blocked' });
  try {
    browser.allowError((text) => /status of 409/.test(text));
    const dialog = await chooseTokenAction(page, 'DefaultOrganization', 'Revoke');
    await button('REVOKE', dialog).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    assert.equal(
      (await alert.textContent()).trim(),
      'The last active organization ApiToken cannot be blocked or revoked',
    );
    assert.ok(await dialog.isVisible(), 'the dialog stays open with the error');
    await browser.screenshot('token-revoke-refused');
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });
    const own = (await server.api.listOrgTokens('active')).find((t) => t.name === 'DefaultOrganization');
    assert.equal(own?.status, 'Active');
  } finally {
    for (const other of others) await server.api.changeToken(other, { status: 'Active' });
  }
  browser.assertNoErrors();
});

test('Last used and Created sort on the server, both ways', async () => {
  await openTokensView(page, 'organization');
  await setTokenFilters(page, { name: 'life-' });
  const sortButton = (label, scope) => scope.getByRole('button', { name: new RegExp(`^${label}( [↑↓])?$`) });
  const header = (label) => sortButton(label, page.locator('table.data-table thead'));
  for (const [label, orderKey] of [
    ['Created', 'timestamp'],
    ['Last used', 'lastUsedAt'],
  ]) {
    for (const direction of ['asc', 'desc']) {
      await header(label).click();
      const th = page.locator('table.data-table thead th').filter({ has: sortButton(label, page) });
      await eventually(
        async () => (await th.getAttribute('aria-sort')) === (direction === 'asc' ? 'ascending' : 'descending'),
        `${label} ${direction}`,
      );
      const expected = (
        await server.api.ok(
          'GET',
          `/v2/tokens?scope=organization&name=life-&orderKey=${orderKey}&orderDirection=${direction}`,
        )
      ).tokens.map((t) => t.name);
      assert.ok(expected.length >= 3);
      await eventually(
        async () => JSON.stringify((await tableRows(page)).map((cells) => cells[0])) === JSON.stringify(expected),
        `rows in the server's ${orderKey} ${direction} order ${JSON.stringify(expected)}`,
      );
    }
  }
  browser.assertNoErrors();
});
