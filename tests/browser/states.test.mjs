// Loading, empty and error states of every table (components/TableState.tsx): a busy status
// while a page loads, the last rows dimmed while the next one loads, rows cleared with RETRY on
// a failure, and empty lists that tell "nothing yet" from "nothing matches these filters".
// Requests are delayed and failed with Playwright routing; the data is a real server's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { button, eventually, failRequests, holdRequests, setUpConsole, tableRows } from './harness.mjs';

let console_;
let page;
let browser;
let server;

before(async () => {
  console_ = await setUpConsole();
  ({ page, browser, server } = console_);
});

after(async () => {
  await console_?.close();
});

const names = async () => (await tableRows(page)).map((cells) => cells[0]);
const busyStatus = () => page.locator('.load-status[role="status"]');

async function open(hash, heading) {
  await page.goto(`/${hash}`);
  await page.getByRole('heading', { name: heading, exact: true, level: 1 }).waitFor();
}

async function expectNotice(text) {
  await page.locator('.notice').filter({ hasText: text }).waitFor();
}

test('empty lists say so, and tell "nothing yet" from "nothing matches these filters"', async () => {
  await open('#/projects', 'Projects');
  await expectNotice('No projects yet. Create one to issue project Api Tokens.');

  await open('#/tokens/project', 'Project Api Tokens');
  await expectNotice('No Api Tokens yet.');
  await open('#/tokens', 'Organization Api Tokens');
  await page.getByLabel('Name', { exact: true }).fill('no-such-token');
  await expectNotice('No Api Tokens match these filters.');
  assert.deepEqual(await tableRows(page), []);

  await open('#/requests', 'Requests');
  await expectNotice('No requests yet.');
  await page.getByLabel('Status', { exact: true }).selectOption('failed');
  await expectNotice('No requests match these filters.');

  await open('#/usage', 'Usage');
  await expectNotice('No requests yet in the last 30 days.');
  const filters = page.getByRole('search', { name: 'Usage filters' });
  await filters.getByLabel('From').fill(await filters.getByLabel('To').inputValue());
  await expectNotice('No requests match this range and project.');

  await open('#/limits', 'Usage Limits');
  await expectNotice('No usage limits yet.');

  const { json: audit } = await server.api.raw('GET', '/v2/audit?startPage=1&pageSize=1');
  if (audit.count === 0) {
    await open('#/audit', 'Audit');
    await expectNotice('No audit events yet.');
  }
  browser.assertNoErrors();
});

test('a table shows a busy status while it loads, then its rows', async () => {
  await server.api.createProject('states-proj', 'for the state tests');
  for (let i = 1; i <= 8; i++) await server.api.createOrgToken(`state-${String(i).padStart(2, '0')}`);
  await open('#/projects', 'Projects');
  const hold = await holdRequests(page, /\/v2\/tokens\?/);
  await page.goto('/#/tokens?name=state-');
  await hold.arrived();
  await busyStatus().filter({ hasText: 'Loading Api Tokens…' }).waitFor();
  assert.equal(await page.locator('.table-wrap').getAttribute('aria-busy'), 'true');
  await browser.screenshot('tokens-loading');
  await hold.release();
  await eventually(async () => (await names()).length === 8, 'the 8 state- tokens');
  assert.equal(await page.locator('.table-wrap').getAttribute('aria-busy'), 'false');
  assert.equal((await busyStatus().textContent()).trim(), '');
  browser.assertNoErrors();
});

test('while the next page loads, the last rows stay, dimmed; then the new page replaces them', async () => {
  await page.goto('/#/tokens?name=state-&size=5');
  await eventually(
    async () =>
      JSON.stringify(await names()) === JSON.stringify(['state-01', 'state-02', 'state-03', 'state-04', 'state-05']),
    'page 1 of the state- tokens',
  );
  const hold = await holdRequests(page, /\/v2\/tokens\?/);
  await page.getByTitle('Next page').click();
  await hold.arrived();
  await page.locator('.table-wrap.stale').waitFor();
  assert.deepEqual(
    (await tableRows(page, { whileLoading: true })).map((cells) => cells[0]),
    ['state-01', 'state-02', 'state-03', 'state-04', 'state-05'],
    'the old rows stay',
  );
  // The dimming is a short CSS transition: its first frame may not have run yet.
  const staleBody = page.locator('.table-wrap.stale tbody');
  await eventually(
    async () => (await staleBody.evaluate((el) => Number(getComputedStyle(el).opacity))) < 1,
    'the stale rows dimmed',
  );
  await hold.release();
  await eventually(
    async () => JSON.stringify(await names()) === JSON.stringify(['state-06', 'state-07', 'state-08']),
    'page 2 of the state- tokens',
  );
  assert.equal(await page.locator('.table-wrap.stale').count(), 0);
  browser.assertNoErrors();
});

test('a failed load clears the rows and shows the error; RETRY loads again', async () => {
  await page.goto('/#/tokens?name=state-');
  await eventually(async () => (await names()).length === 8, 'the 8 state- tokens');
  browser.allowError((text) => /status of 500/.test(text));
  const restore = await failRequests(page, /\/v2\/tokens\?/);
  await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Active' });
  const alert = page.getByRole('alert').filter({ hasText: 'Could not load Api Tokens: Internal Server Error' });
  await alert.waitFor();
  assert.deepEqual(await tableRows(page), [], 'no rows from before the failure');
  assert.equal(await page.getByRole('navigation', { name: 'Pagination' }).count(), 0);
  await browser.screenshot('tokens-error');
  await restore();
  await button('RETRY', alert).click();
  await eventually(async () => (await names()).length === 8, 'the rows after RETRY');
  assert.equal(await page.getByRole('alert').count(), 0);
  browser.assertNoErrors();
});

// Each table's endpoint fails, the page says so with RETRY, and RETRY shows the page.
const PAGES = [
  { hash: '#/projects', heading: 'Projects', endpoint: /\/v1\/organization\/projects/, noun: 'projects' },
  { hash: '#/requests', heading: 'Requests', endpoint: /\/v1\/organization\/request\/export/, noun: 'requests' },
  { hash: '#/usage', heading: 'Usage', endpoint: /\/v2\/usage\/summary/, noun: 'usage', ready: '.cards' },
  { hash: '#/audit', heading: 'Audit', endpoint: /\/v2\/audit/, noun: 'the audit log' },
  { hash: '#/limits', heading: 'Usage Limits', endpoint: /\/v2\/usageLimits\//, noun: 'usage limits' },
];

for (const { hash, heading, endpoint, noun, ready } of PAGES) {
  test(`${heading}: a failed load shows the error with RETRY, which recovers`, async () => {
    await open('#/tokens', 'Organization Api Tokens');
    browser.allowError((text) => /status of 503/.test(text));
    const restore = await failRequests(page, endpoint, 503, 'Service Unavailable');
    await open(hash, heading);
    const alert = page.getByRole('alert').filter({ hasText: `Could not load ${noun}: Service Unavailable` });
    await alert.waitFor();
    assert.equal(await page.locator('table.data-table tbody tr').count(), 0);
    await restore();
    await button('RETRY', alert).click();
    await alert.waitFor({ state: 'detached' });
    await page
      .locator(ready ?? 'table.data-table')
      .first()
      .waitFor();
    await eventually(
      async () => (await page.locator('[aria-busy="true"]').count()) === 0,
      `${heading} to finish loading`,
    );
    assert.equal(await page.getByRole('alert').count(), 0);
    browser.assertNoErrors();
  });
}

test('a long name is cut in its cell and whole in its title', async () => {
  const long = `long-${'x'.repeat(90)}`;
  await server.api.createOrgToken(long, 'a very long name');
  await page.goto(`/#/tokens?name=${long}`);
  const cell = page.locator('table.data-table tbody tr td.cell-name').first();
  await eventually(async () => (await cell.textContent()) === long, 'the long-named token');
  assert.ok((await cell.getAttribute('title')).startsWith(`${long} · `), await cell.getAttribute('title'));
  const { scrollWidth, clientWidth } = await cell.evaluate((el) => ({
    scrollWidth: el.scrollWidth,
    clientWidth: el.clientWidth,
  }));
  assert.ok(scrollWidth > clientWidth, `the cell is cut (${scrollWidth} > ${clientWidth})`);
  browser.assertNoErrors();
});
