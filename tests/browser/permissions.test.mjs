// The token form's Permissions section (API.md §3): models and assistants chosen from what the
// project has, model patterns as free text, a validated CIDR list; the restrictions shown as
// badges in the token list; every change audited with before and after.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, button, eventually, rowByName, setUpConsole, tableRows } from './harness.mjs';
import { providerToml } from './upstream.mjs';

let console_;
let server;
let browser;
let page;
const seeded = {};

before(async () => {
  // The provider is never called here: only its model list is read.
  const models = [
    { name: 'echo', input: 1, output: 2 },
    { name: 'mini', input: 1, output: 2 },
  ];
  console_ = await setUpConsole({
    config: providerToml('fake', 'http://127.0.0.1:9', models),
    async seed(server) {
      seeded.project = await server.api.createProject('perm-proj', 'permissions');
      const projectApi = new Api(server.baseUrl, seeded.project.tokens[0].secret);
      await projectApi.createAssistant('helper', 'You help.', 'fake', 'echo');
      await projectApi.createAssistant('writer', 'You write.', 'fake', 'echo');
      seeded.restricted = await server.api.ok(
        'POST',
        '/v2/projects/tokens',
        { name: 'perm-existing', allowedModels: ['fake/echo'], allowedCidrs: ['10.0.0.0/8'] },
        { 'project-id': seeded.project.projectId },
      );
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
});

const dialog = () => page.getByRole('dialog');

async function openProjectTokens() {
  await page.goto('/#/tokens/project');
  await page.getByRole('heading', { name: 'Project Api Tokens', exact: true }).waitFor();
  await page.getByLabel(/^Project: /).selectOption({ label: 'perm-proj' });
}

async function tokenNamed(name) {
  const page1 = await server.api.ok('GET', `/v2/tokens?scope=project&name=${encodeURIComponent(name)}`);
  return page1.tokens.find((t) => t.name === name);
}

test('a project token is created with models, patterns, assistants and networks from the form', async () => {
  await openProjectTokens();
  await button('CREATE NEW', page).click();
  const form = dialog();
  await form.getByLabel('Name *', { exact: true }).fill('perm-created');
  const permissions = form.getByRole('group', { name: 'Permissions' });
  await permissions.getByLabel('Models restriction').selectOption('some');
  // The models the server offers are listed to choose from.
  await permissions.getByLabel('fake/echo', { exact: true }).check();
  assert.equal(await permissions.getByLabel('fake/mini', { exact: true }).isChecked(), false);
  await permissions.getByLabel(/^Model patterns/).fill('other/*');
  await permissions.getByLabel('Assistants restriction').selectOption('some');
  await permissions.getByLabel('helper', { exact: true }).check();
  await permissions.getByLabel('Networks restriction').selectOption('some');
  await permissions.getByLabel(/^CIDR blocks/).fill('10.1.2.3/8\n2001:db8::/32');
  await browser.screenshot('token-permissions-form');
  await button('CONFIRM', form).click();
  const secretDialog = page.getByRole('dialog', { name: 'Api Token created' });
  await button('CLOSE', secretDialog).click();

  const token = await eventually(() => tokenNamed('perm-created'), 'the created token');
  assert.deepEqual(token.allowedModels, ['fake/echo', 'other/*']);
  assert.deepEqual(token.allowedAssistants, ['helper']);
  assert.deepEqual(token.allowedCidrs, ['10.0.0.0/8', '2001:db8::/32']);
  browser.assertNoErrors();
});

test('an invalid CIDR is shown in the form and CONFIRM stays disabled until it is fixed', async () => {
  await openProjectTokens();
  await button('CREATE NEW', page).click();
  const form = dialog();
  await form.getByLabel('Name *', { exact: true }).fill('perm-bad-cidr');
  await form.getByLabel('Networks restriction').selectOption('some');
  const cidrs = form.getByLabel(/^CIDR blocks/);
  await cidrs.fill('10.0.0.0/33\n192.0.2.1');
  await form.getByText('Not a CIDR block: 10.0.0.0/33').waitFor();
  assert.equal(await cidrs.getAttribute('aria-invalid'), 'true');
  // The list's validity reaches the form through an effect, a frame after the message shows.
  await eventually(() => button('CONFIRM', form).isDisabled(), 'CONFIRM disabled');
  await cidrs.fill('10.0.0.0/32\n192.0.2.1\n::1');
  await eventually(() => button('CONFIRM', form).isEnabled(), 'CONFIRM enabled');
  await button('CANCEL', form).click();
  await form.waitFor({ state: 'detached' });
  browser.assertNoErrors();
});

test('the token list shows restrictions as badges and unrestricted tokens without any', async () => {
  await openProjectTokens();
  await page.getByLabel('Name', { exact: true }).fill('perm-');
  const row = rowByName(page, 'perm-existing');
  await row.waitFor();
  const badges = row.locator('.badge-permission');
  await eventually(async () => (await badges.count()) === 2, 'two permission badges');
  assert.deepEqual(await badges.allTextContents(), ['models: 1', 'networks: 1']);
  assert.equal(await row.locator('.badge-permission-models').getAttribute('title'), 'fake/echo');
  await page.getByLabel('Name', { exact: true }).fill('Default');
  const plain = rowByName(page, 'Default');
  await plain.waitFor();
  assert.equal(await plain.locator('.badge-permission').count(), 0);
  browser.assertNoErrors();
});

test('updating permissions in the form changes the token and audits before and after', async () => {
  await openProjectTokens();
  await page.getByLabel('Name', { exact: true }).fill('perm-existing');
  const row = rowByName(page, 'perm-existing');
  // The unfiltered list shows the row too: click only once the filtered list has replaced it.
  await eventually(async () => {
    const rows = await tableRows(page);
    return rows.length === 1 && rows[0][0] === 'perm-existing';
  }, 'the list filtered to perm-existing');
  await button('Update token perm-existing', page).click();
  const form = dialog();
  const permissions = form.getByRole('group', { name: 'Permissions' });
  assert.equal(await permissions.getByLabel('Models restriction').inputValue(), 'some');
  assert.ok(await permissions.getByLabel('fake/echo', { exact: true }).isChecked());
  await permissions.getByLabel('fake/mini', { exact: true }).check();
  await permissions.getByLabel('Networks restriction').selectOption('all');
  await button('CONFIRM', form).click();
  await form.waitFor({ state: 'detached' });

  const token = await server.api.ok('GET', `/v2/projects/tokens/${seeded.restricted.id}`);
  assert.deepEqual(token.allowedModels, ['fake/echo', 'fake/mini']);
  assert.equal(token.allowedCidrs, null);
  const audit = await server.api.ok('GET', `/v2/audit?targetId=${seeded.restricted.id}&action=token.update`);
  assert.deepEqual(audit.events[0].details.allowedModels, { from: ['fake/echo'], to: ['fake/echo', 'fake/mini'] });
  assert.deepEqual(audit.events[0].details.allowedCidrs, { from: ['10.0.0.0/8'], to: null });
  await eventually(
    async () => (await row.locator('.badge-permission').allTextContents()).join() === 'models: 2',
    'updated badges',
  );
  browser.assertNoErrors();
});

test('an organization token form offers networks only', async () => {
  await page.goto('/#/tokens');
  await page.getByRole('heading', { name: 'Organization Api Tokens', exact: true }).waitFor();
  await button('CREATE NEW', page).click();
  const form = dialog();
  await form.getByLabel('Networks restriction').waitFor();
  assert.equal(await form.getByLabel('Models restriction').count(), 0);
  assert.equal(await form.getByLabel('Assistants restriction').count(), 0);
  await button('CANCEL', form).click();
  browser.assertNoErrors();
});
