// Request log, usage and audit pages against real data: a gatehouse configured with a fake
// OpenAI-compatible upstream (upstream.mjs), two chat calls through the gateway with a project
// token (one direct model call, one through an assistant), then the console's views of them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { Api, button, eventually, setUpConsole, tableRows } from './harness.mjs';
import { providerToml, startUpstream } from './upstream.mjs';

const PROJECT = 'chat-proj';
const TOKEN = 'chat-token';
const ASSISTANT = 'support-bot';
const SYSTEM_PROMPT = 'You are the support bot.';
const MODEL = 'fake/echo';
// 12 prompt tokens at $1/Mtok + 5 completion tokens at $2/Mtok.
const COST = (12 * 1.0 + 5 * 2.0) / 1e6;
const COST_TEXT = `$${COST.toPrecision(2)}`; // formatCost: "$0.000022"

// Columns of the requests table.
const COL = { time: 0, project: 1, assistant: 2, model: 3, token: 4, status: 5, elapsed: 6, cost: 7 };

let console_;
let upstream;
let server;
let browser;
let page;
let records; // the export's items, newest first
const seeded = {};

before(async () => {
  upstream = await startUpstream();
  console_ = await setUpConsole({
    config: providerToml('fake', upstream.baseUrl),
    async seed(server) {
      seeded.project = await server.api.createProject(PROJECT, 'for the request log');
      seeded.token = await server.api.createProjectToken(seeded.project.projectId, TOKEN, 'calls the gateway');
      const projectApi = new Api(server.baseUrl, seeded.token.secret);
      await projectApi.createAssistant(ASSISTANT, SYSTEM_PROMPT, 'fake', 'echo');

      const direct = await projectApi.chat(MODEL, 'hello direct');
      assert.equal(direct.choices[0].message.content, 'echo: hello direct');
      const viaAssistant = await projectApi.chat(`saia:assistant:${ASSISTANT}`, 'hello assistant');
      assert.equal(viaAssistant.choices[0].message.content, 'echo: hello assistant');
      assert.equal(upstream.calls.length, 2, 'both calls reached the upstream');

      records = await server.api.waitForRequests(2);
      assert.equal(records.length, 2);
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
  await upstream?.close();
});

const byAssistant = (rows, name) => rows.find((cells) => cells[COL.assistant] === name);

async function openPage(link, heading) {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { name: heading, exact: true }).waitFor();
}

/** Waits until the requests table shows exactly `n` body rows (0: the "no match" notice). */
async function waitForRowCount(n) {
  if (n === 0) {
    await page.getByText('No requests match these filters.', { exact: true }).waitFor();
    assert.equal((await tableRows(page)).length, 0);
    return [];
  }
  return eventually(async () => {
    const rows = await tableRows(page);
    return rows.length === n ? rows : false;
  }, `${n} request rows`);
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body.map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i]])));
}

/** Clicks EXPORT CSV and returns the downloaded file's parsed rows and suggested name. */
async function exportCsv() {
  const [download] = await Promise.all([page.waitForEvent('download'), button('EXPORT CSV', page).click()]);
  const file = await download.path();
  assert.ok(file, `download failed: ${await download.failure()}`);
  return { name: download.suggestedFilename(), rows: parseCsv(await readFile(file, 'utf8')) };
}

test('the gateway wrote one record per call, as API.md §4 describes', () => {
  // API.md §4: a direct model call names the model as its assistant (never null) and no intent.
  const direct = records.find((r) => r.assistant === MODEL && r.intent === null);
  const assisted = records.find((r) => r.assistant === ASSISTANT);
  assert.ok(direct && assisted, JSON.stringify(records));
  for (const record of records) {
    assert.equal(record.projectId, seeded.project.projectId);
    assert.equal(record.apiToken, TOKEN);
    assert.equal(record.apiTokenId, seeded.token.id);
    assert.equal(record.model, MODEL);
    assert.equal(record.status, 'succeeded');
    assert.equal(record.httpStatus, 200);
    assert.equal(record.promptTokens, 12);
    assert.equal(record.completionTokens, 5);
    assert.equal(record.totalTokens, 17);
    assert.ok(Math.abs(record.cost - COST) < 1e-12, `cost ${record.cost}`);
  }
  assert.equal(direct.inputText, 'hello direct');
  assert.equal(direct.output, 'echo: hello direct');
  assert.equal(assisted.inputText, 'hello assistant');
  assert.equal(assisted.output, 'echo: hello assistant');
  assert.equal(assisted.prompt, SYSTEM_PROMPT);
  // The assistant's prompt went upstream as the system message.
  assert.deepEqual(upstream.calls[1].body.messages[0], { role: 'system', content: SYSTEM_PROMPT });
});

test('requests page lists both records with assistant, token, model, status and cost', async () => {
  await openPage('Requests', 'Requests');
  const rows = await waitForRowCount(2);
  const assisted = byAssistant(rows, ASSISTANT);
  const direct = byAssistant(rows, MODEL);
  assert.ok(assisted && direct, JSON.stringify(rows));
  for (const cells of [assisted, direct]) {
    assert.equal(cells[COL.project], PROJECT);
    assert.equal(cells[COL.model], MODEL);
    assert.equal(cells[COL.token], TOKEN);
    assert.equal(cells[COL.status], 'succeeded');
    assert.equal(cells[COL.cost], COST_TEXT);
    assert.match(cells[COL.elapsed], /^\d[\d,]*$/);
    assert.match(cells[COL.time], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  }
  // Newest first: the assistant call was made second.
  assert.equal(rows[0][COL.assistant], ASSISTANT);
  await browser.screenshot('requests-with-data');
  browser.assertNoErrors();
});

test('the detail dialog shows input, output, system prompt, model, tokens, cost and timing', async () => {
  await page.goto('/#/requests');
  await waitForRowCount(2);
  const record = records.find((r) => r.assistant === ASSISTANT);
  const row = page.locator('table.data-table tbody tr').filter({ hasText: ASSISTANT });
  await row.getByRole('button').click();
  const dialog = page.getByRole('dialog', { name: 'Request detail' });
  await dialog.getByRole('heading', { name: 'Input', exact: true }).waitFor();

  const blocks = await dialog.locator('pre.text-block').allTextContents();
  assert.deepEqual(blocks, ['hello assistant', 'echo: hello assistant', SYSTEM_PROMPT]);
  const details = await dialog.locator('dl.detail-list').evaluate((dl) => {
    const out = {};
    for (const dt of dl.querySelectorAll('dt')) out[dt.textContent.trim()] = dt.nextElementSibling?.textContent.trim();
    return out;
  });
  assert.equal(details.Request, record.requestId);
  assert.equal(details.Project, PROJECT);
  assert.equal(details.Status, 'succeeded (HTTP 200)');
  assert.equal(details.Model, MODEL);
  assert.equal(details.Assistant, `${ASSISTANT} / default`);
  assert.equal(details['API token'], TOKEN);
  assert.equal(details.Tokens, '12 prompt + 5 completion = 17');
  assert.equal(details.Cost, COST_TEXT);
  assert.equal(details.Elapsed, `${record.elapsedTimeMs.toLocaleString('en-US')} ms`);
  assert.equal(details.Started, record.startTimestamp.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  assert.equal(details.Ended, record.endTimestamp.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  await browser.screenshot('requests-detail');
  await button('CLOSE', dialog).click();
  await dialog.waitFor({ state: 'detached' });
  browser.assertNoErrors();
});

test('filters by assistant and by status; EXPORT CSV downloads the filtered rows', async () => {
  await page.goto('/#/requests');
  await waitForRowCount(2);

  // Unfiltered export: both records, every column of the JSON item.
  const all = await exportCsv();
  assert.match(all.name, /\.csv$/);
  assert.equal(all.rows.length, 2);
  assert.deepEqual(new Set(all.rows.map((r) => r.requestId)), new Set(records.map((r) => r.requestId)));
  for (const csv of all.rows) {
    const json = records.find((r) => r.requestId === csv.requestId);
    assert.equal(csv.apiToken, TOKEN);
    assert.equal(csv.model, MODEL);
    assert.equal(csv.status, 'succeeded');
    assert.equal(csv.assistant, json.assistant ?? '');
    assert.equal(csv.inputText, json.inputText);
    assert.equal(csv.output, json.output);
    assert.ok(Math.abs(Number(csv.cost) - COST) < 1e-12, `csv cost ${csv.cost}`);
  }

  // Assistant (exact name, as the export's assistantName filter).
  const assistantField = page.getByLabel('Assistant', { exact: true });
  await assistantField.fill(ASSISTANT);
  let rows = await waitForRowCount(1);
  assert.equal(rows[0][COL.assistant], ASSISTANT);
  const filtered = await exportCsv();
  assert.deepEqual(
    filtered.rows.map((r) => r.assistant),
    [ASSISTANT],
  );
  await browser.screenshot('requests-filtered');
  await assistantField.fill('no-such-assistant');
  await waitForRowCount(0);
  await assistantField.fill('');
  await waitForRowCount(2);

  // Status.
  const statusField = page.getByLabel('Status', { exact: true });
  await statusField.selectOption('failed');
  await waitForRowCount(0);
  const none = await exportCsv();
  assert.equal(none.rows.length, 0);
  await statusField.selectOption('succeeded');
  rows = await waitForRowCount(2);
  assert.ok(rows.every((cells) => cells[COL.status] === 'succeeded'));
  await statusField.selectOption('');

  // API token (name) and project.
  const tokenField = page.getByLabel('API token', { exact: true });
  await tokenField.fill('someone-else');
  await waitForRowCount(0);
  await tokenField.fill(TOKEN);
  await waitForRowCount(2);
  await tokenField.fill('');
  await page.getByLabel('Project', { exact: true }).selectOption({ label: PROJECT });
  await waitForRowCount(2);
  await page.getByLabel('Project', { exact: true }).selectOption('');
  await waitForRowCount(2);
  browser.assertNoErrors();
});

test('usage page totals the two records', async () => {
  await openPage('Usage', 'Usage');
  await page.locator('.cards').waitFor();
  const cards = await page.$$eval('.cards .card', (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.querySelector('.card-label').textContent.trim(),
        el.querySelector('.card-value').textContent.trim(),
      ]),
    ),
  );
  assert.equal(cards['Total requests'], '2');
  assert.equal(cards['Request errors'], '0');
  assert.equal(cards['Error rate'], '0.0%');
  const totalCost = Number(cards['Total cost'].replace('$', ''));
  assert.ok(totalCost > 0, `total cost ${cards['Total cost']}`);
  assert.ok(Math.abs(totalCost - 2 * COST) < 1e-9, `total cost ${cards['Total cost']}`);
  assert.equal(cards['Average cost per request'], COST_TEXT);
  assert.match(cards['Average request time'], /^\d[\d,]* ms$/);
  await page.locator('.chart canvas').waitFor();

  const breakdowns = await page.$$eval('.breakdown', (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.querySelector('h2').textContent.trim(),
        [...el.querySelectorAll('li .bar-label')].map((label) => [...label.children].map((s) => s.textContent.trim())),
      ]),
    ),
  );
  assert.deepEqual(breakdowns['By API token'], [[`${TOKEN} · ${PROJECT}`, `2 · $${(2 * COST).toPrecision(2)}`]]);
  assert.deepEqual(breakdowns['By model'], [[MODEL, `2 · $${(2 * COST).toPrecision(2)}`]]);
  assert.deepEqual(
    new Set(breakdowns['By assistant'].map(([key, value]) => `${key}=${value}`)),
    new Set([`${ASSISTANT}=1 · ${COST_TEXT}`, `${MODEL}=1 · ${COST_TEXT}`]),
  );
  await browser.screenshot('usage-with-data');
  browser.assertNoErrors();
});

test('audit page lists events, including a token created through the console', async () => {
  await page.goto('/#/tokens');
  await page.getByRole('heading', { name: 'Organization Api Tokens', exact: true }).waitFor();
  await button('CREATE NEW', page).click();
  const form = page.getByRole('dialog');
  await form.getByLabel('Name *', { exact: true }).fill('audited-token');
  await button('CONFIRM', form).click();
  const secretDialog = page.getByRole('dialog', { name: 'Api Token created' });
  await button('CLOSE', secretDialog).click();
  await secretDialog.waitFor({ state: 'detached' });

  const { json: audit } = await server.api.raw('GET', '/v2/audit?startPage=1&pageSize=50');
  assert.ok(audit && Array.isArray(audit.events), `GET /v2/audit: ${JSON.stringify(audit)}`);

  await openPage('Audit', 'Audit');
  const rows = await eventually(async () => {
    const found = await tableRows(page);
    return found.some((cells) => cells[1] === 'token.create' && cells[3] === 'audited-token') ? found : false;
  }, 'the token.create row of audited-token');
  // Columns: Time, Action, Actor, Target, Details. Newest first.
  const created = rows.find((cells) => cells[1] === 'token.create' && cells[3] === 'audited-token');
  assert.equal(created[2], 'DefaultOrganization', 'the console acts as the signed-in organization token');
  assert.match(created[0], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
  assert.deepEqual(rows[0], created, 'newest first');
  assert.ok(
    rows.some((cells) => cells[1] === 'project.create' && cells[3] === PROJECT),
    JSON.stringify(rows),
  );
  assert.ok(
    rows.some((cells) => cells[1] === 'token.create' && cells[3] === TOKEN),
    JSON.stringify(rows),
  );
  await page.getByText(new RegExp(`Page 1 of 1 · ${audit.count} total`)).waitFor();
  await browser.screenshot('audit-with-data');
  browser.assertNoErrors();
});
