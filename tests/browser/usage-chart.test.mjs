// The Usage page's breakdown over time (UsageBreakdownChart): real calls through the gateway to
// the fake upstream, added up by the server (GET /v2/usage/summary?groupBy=…&interval=day).
// Three projects, each with a token called "Default": Alpha makes 3 calls, Beta 1 good call and
// 1 that fails (its provider refuses connections), Gamma 9 calls to 9 models. The chart reads its
// state from data attributes: data-state, data-group-by, data-metric, data-layout and
// data-series (JSON [{label, total}] in drawn order).
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { after, before, test } from 'node:test';
import path from 'node:path';
import {
  Api,
  PHONE,
  SCREENSHOTS,
  eventually,
  horizontalOverflow,
  launchConsole,
  setUpConsole,
  signIn,
} from './harness.mjs';
import { providerToml, startUpstream } from './upstream.mjs';

const PROMPT = 12; // upstream.mjs: usage 12 + 5 tokens per call
const COMPLETION = 5;
const COST = (PROMPT * 1.0 + COMPLETION * 2.0) / 1e6; // USD per call at 1 / 2 USD per Mtok
const MODELS = Array.from({ length: 9 }, (_, i) => `m${i + 1}`);

let console_;
let upstream;
let server;
let browser;
let page;

before(async () => {
  upstream = await startUpstream();
  const models = ['echo', ...MODELS].map((name) => ({ name, input: 1.0, output: 2.0 }));
  const config =
    providerToml('fake', upstream.baseUrl, models) +
    '\n' +
    // Nothing listens on port 9 of 127.0.0.1: every call to this provider fails.
    providerToml('dead', 'http://127.0.0.1:9/v1', [{ name: 'echo', input: 1.0, output: 2.0 }], 2000);
  console_ = await setUpConsole({
    config,
    async seed(server) {
      const calls = {
        Alpha: ['fake/echo', 'fake/echo', 'fake/echo'],
        Beta: ['fake/echo', 'dead/echo'],
        Gamma: MODELS.map((m) => `fake/${m}`),
      };
      for (const [name, models] of Object.entries(calls)) {
        const created = await server.api.createProject(name, 'usage chart');
        const api = new Api(server.baseUrl, created.tokens[0].secret);
        for (const model of models) {
          await api.raw('POST', '/v1/chat/completions', {
            model,
            messages: [{ role: 'user', content: `${name} call` }],
          });
        }
      }
      await server.api.waitForRequests(14, {}, 15000);
    },
  });
  ({ server, browser, page } = console_);
  await page.getByRole('link', { name: 'Usage', exact: true }).click();
  await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
});

after(async () => {
  await console_?.close();
  await upstream?.close();
});

/** The chart's attributes once it is drawn for these picks. */
async function chartData(p, picks = {}) {
  const chart = p.locator('section.usage-chart');
  const deadline = Date.now() + 8000;
  for (;;) {
    const data = await chart.evaluate((el) => ({ ...el.dataset }));
    const matches = Object.entries(picks).every(([key, value]) => data[key] === value);
    if (data.state === 'ready' && matches) return { ...data, series: JSON.parse(data.series) };
    assert.ok(Date.now() < deadline, `chart never ready for ${JSON.stringify(picks)}: ${JSON.stringify(data)}`);
    await p.waitForTimeout(100);
  }
}

/** Polls until the series (label, total) are `expected`; a mismatch fails with the last seen. */
async function expectSeries(p, expected, picks = {}) {
  const deadline = Date.now() + 8000;
  let seen;
  while (Date.now() < deadline) {
    seen = (await chartData(p, picks)).series;
    if (isDeepStrictEqual(seen, expected)) return seen;
    await p.waitForTimeout(100);
  }
  assert.deepEqual(seen, expected);
}

/** build/screenshots/docs-<name>.png: the chart section alone (docs/console.md shows it). */
const docsShot = (p, name) =>
  p.locator('section.usage-chart').screenshot({ path: path.join(SCREENSHOTS, `docs-${name}.png`) });

const chartBy = (p) => p.getByRole('region', { name: 'Breakdown over time' }).getByLabel('Chart by');
const metric = (p) => p.getByRole('region', { name: 'Breakdown over time' }).getByLabel('Metric');
const layoutButton = (p, name) => p.getByRole('group', { name: 'Layout' }).getByRole('button', { name, exact: true });

test("chart by token: two projects' Default tokens are two series with their own totals", async () => {
  const data = await chartData(page, { groupBy: 'token', metric: 'requests', layout: 'stacked' });
  assert.deepEqual(data.series, [
    { label: 'Default · Gamma', total: 9 },
    { label: 'Default · Alpha', total: 3 },
    { label: 'Default · Beta', total: 2 },
  ]);
  // One stacked chart with a legend of every series and its total.
  // uPlot draws its canvas in an effect after the data is on the page.
  await eventually(
    async () => (await page.locator('.usage-chart .usage-chart-plot canvas').count()) === 1,
    'one stacked chart',
  );
  const legend = await page
    .locator('.usage-chart-legend li')
    .evaluateAll((items) => items.map((li) => li.textContent.replace(/\s+/g, ' ').trim()));
  assert.deepEqual(legend, ['Default · Gamma9', 'Default · Alpha3', 'Default · Beta2']);
  // The text alternative names each series and its total.
  const label = await page.locator('.usage-chart .usage-chart-plot').getAttribute('aria-label');
  assert.match(label, /^Requests per day by token, stacked, from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d/);
  assert.match(label, /Default · Gamma 9; Default · Alpha 3; Default · Beta 2$/);
  assert.equal(await layoutButton(page, 'Stacked').getAttribute('aria-pressed'), 'true');
  // Hovering the last day (today, where every call landed) reads out that day's values.
  const plot = page.locator('.usage-chart .usage-chart-plot .u-over');
  const box = await plot.boundingBox();
  await plot.hover({ position: { x: box.width - 2, y: box.height / 2 } });
  const readout = page.locator('.usage-chart-readout');
  await page.waitForFunction(() => document.querySelector('.usage-chart-readout')?.textContent !== '');
  assert.match(
    await readout.textContent(),
    /^\d{4}-\d\d-\d\d: Default · Gamma 9 · Default · Alpha 3 · Default · Beta 2$/,
  );
  await browser.screenshot('usage-chart-stacked');
  await docsShot(page, 'usage-chart-stacked-1024');
  await page.mouse.move(0, 0);
  browser.assertNoErrors();
});

test('switching the metric changes the totals: failures, prompt tokens, cost', async () => {
  await metric(page).selectOption({ label: 'Failures' });
  await expectSeries(
    page,
    [
      { label: 'Default · Beta', total: 1 },
      { label: 'Default · Gamma', total: 0 },
      { label: 'Default · Alpha', total: 0 },
    ],
    { metric: 'failed' },
  );

  await metric(page).selectOption({ label: 'Prompt tokens' });
  const prompt = await chartData(page, { metric: 'promptTokens' });
  assert.deepEqual(
    prompt.series.map((s) => s.label),
    ['Default · Gamma', 'Default · Alpha', 'Default · Beta'],
  );
  assert.equal(prompt.series[0].total, 9 * PROMPT);
  assert.equal(prompt.series[1].total, 3 * PROMPT);
  // Beta's good call counts its tokens; the failed one has none from the upstream.
  assert.ok([PROMPT, 2 * PROMPT].includes(prompt.series[2].total), `Beta prompt tokens ${prompt.series[2].total}`);

  await metric(page).selectOption({ label: 'Cost' });
  const cost = await chartData(page, { metric: 'cost' });
  const totals = Object.fromEntries(cost.series.map((s) => [s.label, s.total]));
  assert.ok(Math.abs(totals['Default · Gamma'] - 9 * COST) < 1e-9, `Gamma cost ${totals['Default · Gamma']}`);
  assert.ok(Math.abs(totals['Default · Alpha'] - 3 * COST) < 1e-9, `Alpha cost ${totals['Default · Alpha']}`);
  assert.ok(Math.abs(totals['Default · Beta'] - COST) < 1e-9, `Beta cost ${totals['Default · Beta']}`);
  const legend = await page.locator('.usage-chart-legend li').first().textContent();
  assert.ok(legend.includes(`$${(9 * COST).toPrecision(2)}`), `legend ${legend}`);

  await metric(page).selectOption({ label: 'Requests' });
  await chartData(page, { metric: 'requests' });
  browser.assertNoErrors();
});

test('chart by model: the top 8 by name, the rest added up as Others', async () => {
  await chartBy(page).selectOption({ label: 'Model' });
  const { series } = await chartData(page, { groupBy: 'model', metric: 'requests' });
  assert.equal(series.length, 9, JSON.stringify(series));
  assert.deepEqual(series[0], { label: 'fake/echo', total: 4 });
  assert.equal(series[8].label, 'Others');
  assert.equal(
    series.reduce((sum, s) => sum + s.total, 0),
    14,
  );
  assert.ok(
    series.slice(1, 8).every((s) => s.total === 1),
    JSON.stringify(series),
  );
  // 9 one-call models and dead/echo: 7 of them by name, 3 in Others.
  assert.equal(series[8].total, 3);
  browser.assertNoErrors();
});

test('small multiples: one titled chart per group on one y scale', async () => {
  await chartBy(page).selectOption({ label: 'Token' });
  await layoutButton(page, 'Small multiples').click();
  const { series } = await chartData(page, { groupBy: 'token', layout: 'multiples' });
  assert.equal(await layoutButton(page, 'Small multiples').getAttribute('aria-pressed'), 'true');
  assert.equal(await layoutButton(page, 'Stacked').getAttribute('aria-pressed'), 'false');
  const multiples = page.locator('.usage-multiple');
  assert.equal(await multiples.count(), series.length);
  await eventually(
    async () => (await page.locator('.usage-multiple canvas').count()) === series.length,
    'a canvas per group',
  );
  const titles = await page
    .locator('.usage-multiple h3')
    .evaluateAll((els) => els.map((h) => h.textContent.replace(/\s+/g, ' ').trim()));
  assert.deepEqual(titles, ['Default · Gamma9', 'Default · Alpha3', 'Default · Beta2']);
  // A shared y scale: every small chart draws up to the same maximum.
  // data-y-max is written by each chart's draw hook.
  const yMax = await eventually(async () => {
    const maxima = await page
      .locator('.usage-multiple .usage-chart-plot')
      .evaluateAll((els) => els.map((el) => el.dataset.yMax));
    return maxima.every((m) => m) && new Set(maxima).size === 1 ? maxima : false;
  }, 'one drawn y maximum for every small chart');
  assert.ok(Number(yMax[0]) >= 9, `y max ${yMax[0]}`);
  await browser.screenshot('usage-chart-multiples');
  await docsShot(page, 'usage-chart-multiples-1024');
  await layoutButton(page, 'Stacked').click();
  await chartData(page, { layout: 'stacked' });
  browser.assertNoErrors();
});

test('the project filter narrows the series to that project', async () => {
  const filters = page.getByRole('search', { name: 'Usage filters' });
  await filters.getByLabel('Project').selectOption({ label: 'Beta' });
  await expectSeries(page, [{ label: 'Default · Beta', total: 2 }], { groupBy: 'token' });
  await chartBy(page).selectOption({ label: 'Model' });
  await expectSeries(
    page,
    [
      { label: 'dead/echo', total: 1 },
      { label: 'fake/echo', total: 1 },
    ],
    { groupBy: 'model' },
  );
  await filters.getByLabel('Project').selectOption({ label: 'All projects' });
  await chartBy(page).selectOption({ label: 'Token' });
  await expectSeries(
    page,
    [
      { label: 'Default · Gamma', total: 9 },
      { label: 'Default · Alpha', total: 3 },
      { label: 'Default · Beta', total: 2 },
    ],
    { groupBy: 'token' },
  );
  browser.assertNoErrors();
});

test('a range without calls says so', async () => {
  const filters = page.getByRole('search', { name: 'Usage filters' });
  const from = await filters.getByLabel('From').inputValue();
  const to = await filters.getByLabel('To').inputValue();
  await filters.getByLabel('From').fill('2020-01-01');
  await filters.getByLabel('To').fill('2020-01-02');
  await expectSeries(page, []);
  await page.getByText('No calls in this range', { exact: true }).waitFor();
  assert.equal(await page.locator('.usage-chart .usage-chart-plot').count(), 0);
  await filters.getByLabel('To').fill(to);
  await filters.getByLabel('From').fill(from);
  await chartData(page);
  browser.assertNoErrors();
});

test('at 390×844 the chart fits without sideways scrolling, stacked and as small multiples', async () => {
  const phone = await launchConsole(server.baseUrl, { viewport: PHONE });
  try {
    const p = phone.page;
    await signIn(p, server.orgSecret);
    await p.goto('/#/usage');
    await p.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
    for (const [by, layout] of [
      ['Model', 'Stacked'],
      ['Model', 'Small multiples'],
      ['Token', 'Small multiples'],
    ]) {
      await chartBy(p).selectOption({ label: by });
      await layoutButton(p, layout).click();
      await chartData(p, { groupBy: by.toLowerCase(), layout: layout === 'Stacked' ? 'stacked' : 'multiples' });
      assert.equal(await horizontalOverflow(p), 0, `${by} ${layout}: the page scrolls sideways`);
      const right = await p
        .locator('.usage-chart, .usage-chart canvas')
        .evaluateAll((els) => Math.max(...els.map((el) => el.getBoundingClientRect().right)));
      assert.ok(right <= PHONE.width, `${by} ${layout}: the chart reaches ${right}px`);
      if (by === 'Model' && layout === 'Stacked') await docsShot(p, 'usage-chart-390');
    }
    await phone.screenshot('phone-usage-chart');
    phone.assertNoErrors();
  } finally {
    await phone.close();
  }
});
