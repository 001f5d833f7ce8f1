// The console keeps its state in the hash URL (filters, sort, page, page size, date range,
// project): a reload or a shared link shows the same view, and a deep link opened while signed
// out lands there after sign-in. The header's project filters the request and usage views.
// The browser runs in Asia/Kolkata (UTC+05:30, no daylight saving), so times must be local.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, button, eventually, setUpConsole, tableRows } from './harness.mjs';
import { providerToml, startUpstream } from './upstream.mjs';

const ZONE = 'Asia/Kolkata';
const OFFSET_MS = 5.5 * 3600 * 1000;
const MODEL = 'fake/echo';
// Columns of the requests table.
const COL = { time: 0, project: 1, assistant: 2, model: 3, token: 4, status: 5 };

let upstream;
let console_;
let page;
let browser;
let server;
let seeded;

/** "YYYY-MM-DD HH:MM:SS" of an ISO timestamp in Asia/Kolkata. */
const kolkata = (iso) => new Date(Date.parse(iso) + OFFSET_MS).toISOString().replace('T', ' ').slice(0, 19);
const kolkataToday = () => kolkata(new Date().toISOString()).slice(0, 10);

before(async () => {
  upstream = await startUpstream();
  console_ = await setUpConsole({
    config: providerToml('fake', upstream.baseUrl),
    timezoneId: ZONE,
    async seed(server) {
      const alpha = await server.api.createProject('Alpha', 'first');
      const beta = await server.api.createProject('Beta', 'second');
      const alphaToken = await server.api.createProjectToken(alpha.projectId, 'alpha-bot');
      const betaToken = await server.api.createProjectToken(beta.projectId, 'beta-bot');
      // A token that may call no model: its call is refused (403) and recorded as failed.
      const denied = await server.api.ok(
        'POST',
        '/v2/projects/tokens',
        { name: 'denied-bot', allowedModels: [] },
        { 'project-id': beta.projectId },
      );
      const asAlpha = new Api(server.baseUrl, alphaToken.secret);
      await asAlpha.chat(MODEL, 'one');
      await asAlpha.chat(MODEL, 'two');
      await new Api(server.baseUrl, betaToken.secret).chat(MODEL, 'three');
      const refused = await new Api(server.baseUrl, denied.secret).raw('POST', '/v1/chat/completions', {
        model: MODEL,
        messages: [{ role: 'user', content: 'four' }],
      });
      assert.equal(refused.status, 403, refused.text);
      const records = await server.api.waitForRequests(4);
      for (let i = 1; i <= 12; i++) await server.api.createOrgToken(`ci-${String(i).padStart(2, '0')}`);
      return { alpha, beta, records };
    },
  });
  ({ page, browser, server, seeded } = console_);
});

after(async () => {
  await console_?.close();
  await upstream?.close();
});

const names = async () => (await tableRows(page)).map((cells) => cells[0]);
const hashQuery = () => new URLSearchParams(new URL(page.url()).hash.split('?')[1] ?? '');

async function expectNames(expected) {
  await eventually(
    async () => JSON.stringify(await names()) === JSON.stringify(expected),
    `rows ${JSON.stringify(expected)}`,
  );
}

/** Waits until `select` shows `value`: its options come from the project list, loaded apart. */
async function expectSelected(select, value, what) {
  await eventually(async () => (await select.inputValue()) === value, `the Project filter to show ${what}`);
}

async function readCards() {
  return page.$$eval('.cards .card', (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.querySelector('.card-label').textContent.trim(),
        el.querySelector('.card-value').textContent.trim(),
      ]),
    ),
  );
}

async function expectTotalRequests(n) {
  await eventually(
    async () =>
      (await page.locator('[aria-busy="true"]').count()) === 0 && (await readCards())['Total requests'] === String(n),
    `Total requests ${n}`,
  );
}

test('tokens: filter, sort, page size and page are in the URL and survive a reload', async () => {
  await page.goto('/#/tokens');
  await page.getByLabel('Name', { exact: true }).fill('ci-');
  await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Active' });
  await page.locator('table.data-table thead').getByRole('button', { name: /^Name/ }).click(); // ascending → descending
  await page.getByLabel('Page size', { exact: true }).selectOption('5');
  await expectNames(['ci-12', 'ci-11', 'ci-10', 'ci-09', 'ci-08']);
  await page.getByTitle('Next page').click();
  await expectNames(['ci-07', 'ci-06', 'ci-05', 'ci-04', 'ci-03']);
  const query = hashQuery();
  assert.deepEqual(Object.fromEntries(['name', 'status', 'order', 'size', 'page'].map((k) => [k, query.get(k)])), {
    name: 'ci-',
    status: 'active',
    order: 'name.desc',
    size: '5',
    page: '2',
  });

  const expectRestored = async (view) => {
    await view.getByRole('heading', { name: 'Organization Api Tokens', exact: true }).waitFor();
    await eventually(
      async () =>
        JSON.stringify((await tableRows(view)).map((cells) => cells[0])) ===
        JSON.stringify(['ci-07', 'ci-06', 'ci-05', 'ci-04', 'ci-03']),
      'page 2 of the ci- tokens, newest name first',
    );
    assert.equal(await view.getByLabel('Name', { exact: true }).inputValue(), 'ci-');
    assert.equal(await view.getByLabel('Status', { exact: true }).inputValue(), 'active');
    assert.equal(await view.getByLabel('Page size', { exact: true }).inputValue(), '5');
    assert.equal(
      await view.locator('table.data-table thead th', { hasText: 'Name' }).getAttribute('aria-sort'),
      'descending',
    );
    assert.match(await view.locator('.pager-status').textContent(), /^Page 2 of 3 · 12 total$/);
  };
  await page.reload();
  await expectRestored(page);

  // The same link in another tab of the signed-in browser shows the same view.
  const url = page.url();
  const other = await browser.context.newPage();
  try {
    await other.goto(url);
    await expectRestored(other);
  } finally {
    await other.close();
  }
  browser.assertNoErrors();
});

test("typing that goes on just as a filter's delay runs out is kept", async () => {
  await page.goto('/#/tokens');
  await page.getByRole('heading', { name: 'Organization Api Tokens', exact: true }).waitFor();
  const name = page.getByLabel('Name', { exact: true });
  await name.fill('ci-0');
  // Once the page has painted that text, its timer (250 ms) runs.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done()))));
  // The page is then busy past the delay, and the next keystroke comes in the same task: the
  // first text's timer falls due before the page replaces it for the new text.
  await name.evaluate((input) => {
    const until = performance.now() + 400;
    while (performance.now() < until);
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, 'ci-1');
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await expectNames(['ci-10', 'ci-11', 'ci-12']);
  assert.equal(hashQuery().get('name'), 'ci-1');
  assert.equal(await name.inputValue(), 'ci-1');
});

test('requests: filters and the date range are in the URL and survive a reload', async () => {
  await page.goto('/#/requests');
  await page.getByRole('heading', { name: 'Requests', exact: true }).waitFor();
  const today = kolkataToday();
  await page.getByLabel('API token', { exact: true }).fill('alpha-bot');
  await page.getByLabel('Status', { exact: true }).selectOption('succeeded');
  await page.getByLabel('From', { exact: true }).fill(today);
  await page.getByLabel('To', { exact: true }).fill(today);
  await eventually(async () => (await tableRows(page)).length === 2, 'the two alpha-bot requests');
  const query = hashQuery();
  assert.deepEqual(Object.fromEntries(['token', 'status', 'from', 'to'].map((k) => [k, query.get(k)])), {
    token: 'alpha-bot',
    status: 'succeeded',
    from: today,
    to: today,
  });
  await page.reload();
  await page.getByRole('heading', { name: 'Requests', exact: true }).waitFor();
  await eventually(async () => (await tableRows(page)).length === 2, 'the two alpha-bot requests after reload');
  assert.ok((await tableRows(page)).every((cells) => cells[COL.token] === 'alpha-bot'));
  assert.equal(await page.getByLabel('API token', { exact: true }).inputValue(), 'alpha-bot');
  assert.equal(await page.getByLabel('Status', { exact: true }).inputValue(), 'succeeded');
  assert.equal(await page.getByLabel('From', { exact: true }).inputValue(), today);
  assert.equal(await page.getByLabel('To', { exact: true }).inputValue(), today);
  // The filters say how they match.
  assert.equal(await page.getByLabel('Assistant match').inputValue(), 'Equals');
  assert.equal(await page.getByLabel('API token match').inputValue(), 'Equals');
  browser.assertNoErrors();
});

test('usage: date range and project are in the URL and survive a reload', async () => {
  await page.goto('/#/usage');
  await expectTotalRequests(4);
  const filters = page.getByRole('search', { name: 'Usage filters' });
  const today = kolkataToday();
  await filters.getByLabel('From').fill(today);
  await filters.getByLabel('Project').selectOption({ label: 'Beta' });
  await expectTotalRequests(2);
  assert.equal(hashQuery().get('from'), today);
  assert.equal(hashQuery().get('project'), seeded.beta.projectId);
  await page.reload();
  await expectTotalRequests(2);
  assert.equal(await filters.getByLabel('From').inputValue(), today);
  await expectSelected(filters.getByLabel('Project'), seeded.beta.projectId, 'Beta');
  assert.equal((await readCards())['Request errors'], '1');
  browser.assertNoErrors();
});

test("usage: the chart's grouping, metric and layout are in the URL, defaults left out", async () => {
  await page.goto('/#/usage');
  await expectTotalRequests(4);
  const chart = page.getByRole('region', { name: 'Breakdown over time' });
  const chartState = () =>
    chart.evaluate((el) => [el.dataset.state, el.dataset.groupBy, el.dataset.metric, el.dataset.layout].join(' '));
  const expectChart = (state) => eventually(async () => (await chartState()) === state, `chart ${state}`);
  await expectChart('ready token requests stacked');
  for (const key of ['by', 'metric', 'layout']) assert.equal(hashQuery().get(key), null, `no ${key} by default`);

  await chart.getByLabel('Chart by').selectOption({ label: 'Model' });
  await chart.getByLabel('Metric').selectOption({ label: 'Prompt tokens' });
  await chart.getByRole('group', { name: 'Layout' }).getByRole('button', { name: 'Small multiples' }).click();
  await expectChart('ready model promptTokens multiples');
  assert.equal(hashQuery().get('by'), 'model');
  assert.equal(hashQuery().get('metric'), 'promptTokens');
  assert.equal(hashQuery().get('layout'), 'multiples');

  // A reload, and the link in another tab, show the same chart.
  await page.reload();
  await expectChart('ready model promptTokens multiples');
  assert.equal(await chart.getByLabel('Chart by').inputValue(), 'model');
  assert.equal(await chart.getByLabel('Metric').inputValue(), 'promptTokens');
  const other = await browser.context.newPage();
  try {
    await other.goto(page.url());
    const otherChart = other.getByRole('region', { name: 'Breakdown over time' });
    await eventually(
      async () =>
        (await otherChart.evaluate((el) => [el.dataset.state, el.dataset.groupBy, el.dataset.layout].join(' '))) ===
        'ready model multiples',
      'the same chart in another tab',
    );
  } finally {
    await other.close();
  }

  // Back to the defaults: they leave the URL.
  await chart.getByLabel('Chart by').selectOption({ label: 'Token' });
  await chart.getByLabel('Metric').selectOption({ label: 'Requests' });
  await chart.getByRole('group', { name: 'Layout' }).getByRole('button', { name: 'Stacked' }).click();
  await expectChart('ready token requests stacked');
  for (const key of ['by', 'metric', 'layout']) assert.equal(hashQuery().get(key), null, `${key} back to the default`);
  browser.assertNoErrors();
});

test("the header's project filters the request and usage views, and stays chosen from page to page", async () => {
  await page.goto('/#/requests');
  await eventually(async () => (await tableRows(page)).length === 4, 'all four requests');
  await page.getByLabel(/^Project: /).selectOption({ label: 'Beta' });
  await eventually(async () => {
    const rows = await tableRows(page);
    return rows.length === 2 && rows.every((cells) => cells[COL.project] === 'Beta');
  }, "Beta's two requests");
  assert.equal(await page.getByLabel('Project', { exact: true }).inputValue(), seeded.beta.projectId);
  assert.equal(hashQuery().get('project'), seeded.beta.projectId);

  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Usage', exact: true }).click();
  await page.getByRole('heading', { name: 'Usage', exact: true, level: 1 }).waitFor();
  const filters = page.getByRole('search', { name: 'Usage filters' });
  assert.equal(await filters.getByLabel('Project').inputValue(), seeded.beta.projectId);
  await expectTotalRequests(2);
  await page.getByLabel(/^Project: /).selectOption({ label: 'Alpha' });
  // Beta also made two requests: wait for Alpha's own figures (no errors), not just the total,
  // which the page still shows from Beta until the new summary arrives.
  await eventually(async () => {
    if ((await filters.getByLabel('Project').inputValue()) !== seeded.alpha.projectId) return false;
    if ((await page.locator('[aria-busy="true"]').count()) !== 0) return false;
    const cards = await readCards();
    return cards['Total requests'] === '2' && cards['Request errors'] === '0';
  }, "Alpha's two requests without errors");
  await filters.getByLabel('Project').selectOption({ label: 'All projects' });
  await expectTotalRequests(4);
  browser.assertNoErrors();
});

test("a failed request's detail shows its error; times are in the browser's zone, labelled (the token lifecycle's hover: UTC)", async () => {
  await page.goto('/#/requests?status=failed');
  await eventually(async () => (await tableRows(page)).length === 1, 'the one failed request');
  const record = seeded.records.find((r) => r.status === 'failed');
  assert.ok(record, 'the export has the refused call');
  const headers = await page.$$eval('table.data-table thead th', (ths) => ths.map((th) => th.textContent.trim()));
  // Chromium names the zone by its older IANA alias.
  assert.match(headers[COL.time], /^Time \(Asia\/(Kolkata|Calcutta)\)$/);
  const [cells] = await tableRows(page);
  assert.equal(cells[COL.time], kolkata(record.startTimestamp));
  assert.equal(cells[COL.token], 'denied-bot');

  await page.locator('table.data-table tbody tr').getByRole('button').click();
  const dialog = page.getByRole('dialog', { name: 'Request detail' });
  const details = await dialog.locator('dl.detail-list').evaluate((dl) => {
    const out = {};
    for (const dt of dl.querySelectorAll('dt')) out[dt.textContent.trim()] = dt.nextElementSibling?.textContent.trim();
    return out;
  });
  assert.equal(details.Status, 'failed (HTTP 403)');
  assert.equal(details.Error, 'HTTP 403: not allowed for this ApiToken (model, assistant or address)');
  assert.equal(details.Started, `${kolkata(record.startTimestamp)} GMT+5:30`);
  await button('CLOSE', dialog).click();
  await dialog.waitFor({ state: 'detached' });

  // The audit trail and the projects list use the same zone.
  await page.goto('/#/audit');
  await eventually(async () => (await tableRows(page)).length > 0, 'audit rows');
  assert.match((await tableRows(page))[0][0], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} GMT\+5:30$/);

  // The token lifecycle's relative times keep the exact UTC time on hover, in any zone.
  await page.goto('/#/tokens');
  await eventually(async () => (await tableRows(page)).length > 0, 'token rows');
  const created = page.locator('table.data-table tbody tr').first().locator('td[data-label="Created"] time');
  const datetime = await created.getAttribute('datetime');
  assert.equal(
    await created.getAttribute('title'),
    new Date(datetime)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC'),
  );
  browser.assertNoErrors();
});

test('a deep link opened while signed out lands on that page after sign-in', async () => {
  await button('SIGN OUT', page).click();
  await page.waitForURL(/#\/signin/);
  const asked = `/requests?status=failed&project=${seeded.beta.projectId}`;
  const deepLink = `/#${asked}`;
  await page.goto(deepLink);
  await page.waitForURL((url) => url.hash === `#/signin?${new URLSearchParams({ next: asked })}`);
  await page.getByLabel('Organization API token', { exact: true }).fill(server.orgSecret);
  await button('SIGN IN', page).click();
  await page.getByRole('heading', { name: 'Requests', exact: true, level: 1 }).waitFor({ timeout: 20000 });
  assert.ok(page.url().endsWith(deepLink.slice(1)), page.url());
  assert.equal(await page.getByLabel('Status', { exact: true }).inputValue(), 'failed');
  // The project list is fetched again after sign-in, after the page itself has rendered.
  await expectSelected(page.getByLabel('Project', { exact: true }), seeded.beta.projectId, 'Beta');
  await eventually(async () => (await tableRows(page)).length === 1, 'the failed request of Beta');
  browser.assertNoErrors();
});
