// The Usage Limits page end to end (API.md §7): reached from a project's LIMITS button, it
// creates the project's limit, shows the active limit with its used / remaining bar (after real
// chat calls through the gateway), changes soft limit, hard limit and renewal, and cancels it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, button, eventually, rowByName, setUpConsole, tableRows } from './harness.mjs';
import { providerToml, startUpstream } from './upstream.mjs';

const PROJECT = 'limited-proj';

let console_;
let upstream;
let server;
let browser;
let page;
let project;
let projectApi;

before(async () => {
  upstream = await startUpstream();
  console_ = await setUpConsole({
    config: providerToml('fake', upstream.baseUrl),
    async seed(server) {
      project = await server.api.createProject(PROJECT, 'has a usage limit');
      projectApi = new Api(server.baseUrl, project.tokens[0].secret);
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
  await upstream?.close();
});

const limitsPath = () => `/v2/usageLimits/organizations/${server.organizationId}/projects/${project.projectId}/limits`;
const summary = () => page.getByRole('region', { name: 'Active usage limit' });

async function openProjectLimits() {
  await page.goto('/#/tokens');
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Projects', exact: true }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  await page.getByRole('link', { name: `Usage limits of project ${PROJECT}`, exact: true }).click();
  await page.getByRole('heading', { name: 'Usage Limits', exact: true }).waitFor();
}

test('the LIMITS button opens the project limits; CREATE NEW makes an active limit', async () => {
  await openProjectLimits();
  await page.getByText('No active usage limit.').waitFor();
  await button('CREATE NEW', page).click();
  const form = page.getByRole('dialog', { name: 'Usage Limit' });
  await form.getByLabel('Subscription type', { exact: true }).selectOption('Daily');
  await form.getByLabel('Soft limit', { exact: true }).fill('2');
  await form.getByLabel('Hard limit', { exact: true }).fill('3');
  await browser.screenshot('limit-form-create');
  await button('CONFIRM', form).click();
  await form.waitFor({ state: 'detached' });
  await summary().getByText('Remaining 3 requests').waitFor();
  const active = await server.api.ok('GET', `${limitsPath()}/active`);
  assert.equal(active.subscriptionType, 'Daily');
  assert.deepEqual([active.softLimit, active.hardLimit, active.usedAmount], [2, 3, 0]);
  browser.assertNoErrors();
});

test('calls through the gateway move the used / remaining bar; the hard limit refuses', async () => {
  await projectApi.chat('fake/echo', 'one');
  await projectApi.chat('fake/echo', 'two');
  await openProjectLimits();
  await summary().getByText('Used 2 requests').waitFor();
  await summary().getByText('Remaining 1 requests').waitFor();
  const meter = summary().locator('meter');
  assert.ok(Math.abs(Number(await meter.getAttribute('value')) - 2 / 3) < 1e-6);
  await browser.screenshot('limits-active');
  await projectApi.chat('fake/echo', 'three');
  const refused = await projectApi.raw('POST', '/v1/chat/completions', {
    model: 'fake/echo',
    messages: [{ role: 'user', content: 'four' }],
  });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.errors[0].id, 154);
  browser.assertNoErrors();
});

test('CHANGE sets the soft limit, hard limit and renewal', async () => {
  await openProjectLimits();
  await button('CHANGE', summary()).click();
  const form = page.getByRole('dialog', { name: 'Change Usage Limit' });
  await form.getByLabel('Hard limit', { exact: true }).fill('10');
  await form.getByLabel('Soft limit', { exact: true }).fill('8');
  await form.getByLabel('Renewal status', { exact: true }).selectOption('NonRenewable');
  await browser.screenshot('limit-form-change');
  await button('CONFIRM', form).click();
  await form.waitFor({ state: 'detached' });
  await summary().getByText('Remaining 7 requests').waitFor();
  const active = await server.api.ok('GET', `${limitsPath()}/active`);
  assert.deepEqual(
    [active.softLimit, active.hardLimit, active.renewalStatus, active.status],
    [8, 10, 'NonRenewable', 1],
  );
  // The table shows the same limit.
  const rows = await tableRows(page);
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0].slice(0, 5), ['Daily', 'Requests', '8', '10', '3']);
  browser.assertNoErrors();
});

test('CANCEL LIMIT cancels it; the audit page shows each change with its details', async () => {
  await openProjectLimits();
  await button('CANCEL LIMIT', summary()).click();
  await page.getByText('No active usage limit.').waitFor();
  await eventually(async () => (await tableRows(page))[0]?.includes('Cancelled'), 'the cancelled row');
  const latest = await server.api.ok('GET', `${limitsPath()}/latest`);
  assert.equal(latest.status, 4);
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit', exact: true }).click();
  await page.getByRole('heading', { name: 'Audit', exact: true }).waitFor();
  await page.getByText('hardLimit: 3 → 10').waitFor();
  const actions = (await tableRows(page)).map((row) => row[1]);
  for (const action of ['limit.cancel', 'limit.update', 'limit.create']) assert.ok(actions.includes(action), action);
  await browser.screenshot('audit-limits');
  browser.assertNoErrors();
});
