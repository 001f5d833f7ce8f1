// Requests, usage, limits and audit read endpoints that land with later issues. Each page
// must render either its data or a clear "not available" state, without console errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setUpConsole } from './harness.mjs';

let console_;
let server;
let browser;
let page;

before(async () => {
  console_ = await setUpConsole({
    async seed(server) {
      await server.api.createProject('pages-proj', 'for the monitoring pages');
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
});

async function available(urlPath) {
  const { status } = await server.api.raw('GET', urlPath);
  return status !== 404 && status !== 405;
}

async function openPage(link, heading) {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { name: heading, exact: true }).waitFor();
}

/** Waits for the page to settle into its data view or its "not available" notice. */
async function settle(isAvailable, unavailableText, readySelector) {
  if (isAvailable) await page.locator(readySelector).first().waitFor();
  else await page.getByText(unavailableText).waitFor();
}

test('requests page: table with filters and EXPORT CSV, or "not available"', async () => {
  const isAvailable = await available('/v1/organization/request/export?format=json&count=1');
  await openPage('Requests', 'Requests');
  for (const label of ['Assistant', 'API token', 'Status', 'From', 'To']) {
    await page.getByLabel(label, { exact: true }).waitFor();
  }
  await page.getByRole('button', { name: 'EXPORT CSV', exact: true }).waitFor();
  await settle(isAvailable, 'The request log is not available on this server yet.', 'table.data-table');
  await browser.screenshot('requests');
  // Each row's time is a button that opens the request's detail.
  const details = page.locator('table.data-table tbody tr').getByRole('button');
  if (isAvailable && (await details.count()) > 0) {
    await details.first().click();
    const dialog = page.getByRole('dialog', { name: 'Request detail' });
    for (const heading of ['Input', 'Output'])
      await dialog.getByRole('heading', { name: heading, exact: true }).waitFor();
    await browser.screenshot('requests-detail');
    await dialog.getByRole('button', { name: 'CLOSE', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
  }
  browser.assertNoErrors();
});

test('usage page: totals, timeline and breakdowns, or "not available"', async () => {
  const isAvailable = await available('/v1/organization/request/export?format=json&count=1');
  await openPage('Usage', 'Usage');
  await settle(isAvailable, 'Usage data is not available on this server yet.', '.cards');
  if (isAvailable) {
    for (const label of [
      'Total cost',
      'Average cost per request',
      'Average request time',
      'Total requests',
      'Request errors',
      'Error rate',
    ]) {
      await page.getByText(label, { exact: true }).waitFor();
    }
    await page.locator('.chart canvas').waitFor();
  }
  await browser.screenshot('usage');
  browser.assertNoErrors();
});

test('usage limits page: list of limits, or "not available"', async () => {
  const isAvailable = await available(`/v2/usageLimits/organizations/${server.organizationId}/limits`);
  await openPage('Usage Limits', 'Usage Limits');
  await settle(isAvailable, 'Usage limits are not available on this server yet.', 'table.data-table');
  await browser.screenshot('limits');
  browser.assertNoErrors();
});

test('audit page: the audit trail, or "not available"', async () => {
  const isAvailable = await available('/v2/audit?startPage=1&pageSize=1');
  await openPage('Audit', 'Audit');
  await settle(isAvailable, 'The audit log is not available on this server yet.', 'table.data-table');
  await browser.screenshot('audit');
  browser.assertNoErrors();
});

test('the console fits 1024 px without horizontal scrolling on every page', async () => {
  for (const hash of ['#/tokens', '#/tokens/project', '#/projects', '#/requests', '#/usage', '#/limits', '#/audit']) {
    await page.goto(`/${hash}`);
    await page.locator('main h1').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${hash} overflows by ${overflow}px at 1024 px`);
  }
  browser.assertNoErrors();
});
