// The Usage page adds up on the server (GET /v2/usage/summary): two projects whose default
// tokens are both called "Default" are two bars with their own numbers, and the project
// filter narrows every figure to one project.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { Api, DESKTOP, eventually, setUpConsole } from './harness.mjs';
import { providerToml, startUpstream } from './upstream.mjs';

const MODEL = 'fake/echo';

let console_;
let upstream;
let server;
let browser;
let page;
const projects = {};

before(async () => {
  upstream = await startUpstream();
  console_ = await setUpConsole({
    viewport: DESKTOP,
    config: providerToml('fake', upstream.baseUrl),
    async seed(server) {
      for (const [name, calls] of [
        ['Alpha', 3],
        ['Beta', 2],
      ]) {
        const created = await server.api.createProject(name, 'usage by token');
        projects[name] = created;
        const api = new Api(server.baseUrl, created.tokens[0].secret);
        for (let i = 0; i < calls; i++) await api.chat(MODEL, `${name} call ${i}`);
      }
      await server.api.waitForRequests(5);
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
  await upstream?.close();
});

async function readUsage() {
  await page.locator('.cards').waitFor();
  const cards = await page.$$eval('.cards .card', (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.querySelector('.card-label').textContent.trim(),
        el.querySelector('.card-value').textContent.trim(),
      ]),
    ),
  );
  const byToken = await page.$$eval('.breakdown', (els) => {
    const tokens = els.find((el) => el.querySelector('h2').textContent.trim() === 'By API token');
    // [bar label, its request count] — the value reads "<requests> · <cost>".
    return [...tokens.querySelectorAll('li .bar-label')].map((label) => [
      label.children[0].textContent.trim(),
      label.children[1].textContent.trim().split(' · ')[0],
    ]);
  });
  return { cards, byToken };
}

test("usage by token keeps two projects' Default tokens apart, with their own numbers", async () => {
  await page.getByRole('link', { name: 'Usage', exact: true }).click();
  await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
  const { cards, byToken } = await readUsage();
  assert.equal(cards['Total requests'], '5');
  assert.deepEqual(byToken, [
    ['Default · Alpha', '3'],
    ['Default · Beta', '2'],
  ]);
  browser.assertNoErrors();
});

test('the project filter narrows the figures and the bars to one project', async () => {
  await page.getByRole('search', { name: 'Usage filters' }).getByLabel('Project').selectOption({ label: 'Beta' });
  await page.getByText('Total requests', { exact: true }).waitFor();
  const expectBeta = async () => {
    const { cards, byToken } = await readUsage();
    return cards['Total requests'] === '2' && byToken.length === 1 && byToken[0][0] === 'Default · Beta';
  };
  const deadline = Date.now() + 5000;
  while (!(await expectBeta())) {
    assert.ok(Date.now() < deadline, 'the Usage page did not narrow to project Beta');
    await page.waitForTimeout(100);
  }
  browser.assertNoErrors();
});

test('EXPORT CSV downloads the summary: the totals, each day and every token by id', async () => {
  await page
    .getByRole('search', { name: 'Usage filters' })
    .getByLabel('Project')
    .selectOption({ label: 'All projects' });
  // The file is built from the figures on the page: wait for every project's (Beta alone had 2).
  await eventually(async () => (await readUsage()).cards['Total requests'] === '5', 'all projects figures');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'EXPORT CSV', exact: true }).click(),
  ]);
  const file = await download.path();
  assert.ok(file, `download failed: ${await download.failure()}`);
  assert.match(download.suggestedFilename(), /^gatehouse-usage-.*\.csv$/);
  const lines = (await readFile(file, 'utf8'))
    .trim()
    .split('\r\n')
    .map((line) => line.slice(1, -1).split('","'));
  assert.deepEqual(lines[0], [
    'dimension',
    'id',
    'name',
    'project',
    'requests',
    'failed',
    'promptTokens',
    'completionTokens',
    'cost',
    'elapsedMs',
  ]);
  const total = lines.find((cells) => cells[0] === 'total');
  assert.equal(total[4], '5');
  const days = lines.filter((cells) => cells[0] === 'day');
  assert.equal(
    days.reduce((sum, cells) => sum + Number(cells[4]), 0),
    5,
  );
  const tokens = lines.filter((cells) => cells[0] === 'token').map((cells) => [cells[1], cells[2], cells[3], cells[4]]);
  assert.deepEqual(
    new Set(tokens.map((t) => t.join('|'))),
    new Set([`${projects.Alpha.tokens[0].id}|Default|Alpha|3`, `${projects.Beta.tokens[0].id}|Default|Beta|2`]),
  );
  browser.assertNoErrors();
});

test('a one-day range draws that day, not an axis of years', async () => {
  const filters = page.getByRole('search', { name: 'Usage filters' });
  const to = await filters.getByLabel('To').inputValue();
  await filters.getByLabel('From').fill(to);
  await page.locator('.chart canvas').waitFor();
  // uPlot draws its axis labels into the canvas; the chart states its drawn range instead.
  const span = async () => {
    const [min, max] = ((await page.locator('.chart').getAttribute('data-x-range')) ?? '0,0').split(',').map(Number);
    return max - min;
  };
  const deadline = Date.now() + 5000;
  let days = (await span()) / 86400;
  while (!(days > 0 && days <= 2) && Date.now() < deadline) {
    await page.waitForTimeout(100);
    days = (await span()) / 86400;
  }
  assert.ok(days > 0 && days <= 2, `the x axis spans ${days} days`);
  browser.assertNoErrors();
});
