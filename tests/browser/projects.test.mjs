import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { button, eventually, expectProjectContext, rowByName, setUpConsole, tableRows } from './harness.mjs';

let console_;
let server;
let browser;
let page;

before(async () => {
  console_ = await setUpConsole({
    async seed(server) {
      await server.api.createProject('existing-proj', 'made through the API');
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
});

const findProject = async (name) => (await server.api.listProjects()).find((p) => p.projectName === name);

async function openProjects() {
  // Leave and come back so the page mounts afresh and lists projects made through the API.
  await page.goto('/#/tokens');
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Projects', exact: true }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
}

test('the projects page lists the organization projects', async () => {
  await openProjects();
  await rowByName(page, 'existing-proj').waitFor();
  assert.deepEqual((await tableRows(page))[0].slice(0, 3), ['existing-proj', 'made through the API', 'Active']);
  await browser.screenshot('projects');
  browser.assertNoErrors();
});

test('create a project with name, description and administrator email', async () => {
  await openProjects();
  await button('CREATE NEW', page).click();
  const form = page.getByRole('dialog', { name: 'Project' });
  assert.ok(await button('CONFIRM', form).isDisabled(), 'CONFIRM waits for a name');
  await form.getByLabel('Name *', { exact: true }).fill('ui-proj');
  await form.getByLabel('Description', { exact: true }).fill('made in the browser');
  await form.getByLabel('Project administrator (User Email)', { exact: true }).fill('not-an-email');
  assert.ok(await button('CONFIRM', form).isDisabled(), 'CONFIRM waits for a valid email');
  await form.getByLabel('Project administrator (User Email)', { exact: true }).fill('admin@example.com');
  await browser.screenshot('project-form-create');
  await button('CONFIRM', form).click();

  // The default project token's secret is shown once.
  const secretDialog = page.getByRole('dialog', { name: 'Project created' });
  const secret = (await secretDialog.getByTestId('new-secret').textContent()).trim();
  assert.match(secret, /^gtp_/);
  assert.equal(await server.api.validateStatus(secret), 200);
  await button('CLOSE', secretDialog).click();

  await rowByName(page, 'ui-proj').waitFor();
  const created = await findProject('ui-proj');
  assert.equal(created.projectDescription, 'made in the browser');
  assert.equal(created.projectActive, true);
  // The new project becomes the header's project context.
  await expectProjectContext(page, /^Project: ui-proj \(Default\)$/);
  browser.assertNoErrors();
});

test('update a project: description and the Active checkbox', async () => {
  await openProjects();
  await button('Update project ui-proj', page).click();
  const form = page.getByRole('dialog', { name: 'Project' });
  assert.equal(await form.getByLabel('Name *', { exact: true }).inputValue(), 'ui-proj');
  const active = form.getByRole('checkbox', { name: 'Active', exact: true });
  assert.ok(await active.isChecked());
  await form.getByLabel('Description', { exact: true }).fill('changed in the browser');
  await active.uncheck();
  await browser.screenshot('project-form-update');
  await button('CONFIRM', form).click();
  await form.waitFor({ state: 'detached' });
  await eventually(
    async () => (await tableRows(page)).some((r) => r[0] === 'ui-proj' && r[2] === 'Hidden'),
    'ui-proj Hidden',
  );
  let project = await findProject('ui-proj');
  assert.equal(project.projectActive, false);
  assert.equal(project.projectStatus, 2);
  assert.equal(project.projectDescription, 'changed in the browser');

  await button('Update project ui-proj', page).click();
  await page.getByRole('dialog', { name: 'Project' }).getByRole('checkbox', { name: 'Active', exact: true }).check();
  await button('CONFIRM', page.getByRole('dialog', { name: 'Project' })).click();
  await eventually(
    async () => (await tableRows(page)).some((r) => r[0] === 'ui-proj' && r[2] === 'Active'),
    'ui-proj Active',
  );
  project = await findProject('ui-proj');
  assert.equal(project.projectActive, true);
  browser.assertNoErrors();
});

test('delete a project after confirmation; its tokens stop working', async () => {
  const doomed = await server.api.createProject('doomed-proj', 'to delete');
  const secret = doomed.tokens[0].secret;
  await openProjects();
  await button('Delete project doomed-proj', page).click();
  const confirm = page.getByRole('dialog', { name: 'Delete project' });
  await confirm.getByText('doomed-proj').waitFor();
  await browser.screenshot('project-delete-confirm');
  await button('CANCEL', confirm).click();
  await confirm.waitFor({ state: 'detached' });
  assert.ok(await findProject('doomed-proj'), 'CANCEL keeps the project');

  await button('Delete project doomed-proj', page).click();
  await button('DELETE', page.getByRole('dialog', { name: 'Delete project' })).click();
  await rowByName(page, 'doomed-proj').waitFor({ state: 'detached' });
  assert.equal(await findProject('doomed-proj'), undefined);
  assert.equal(await server.api.validateStatus(secret), 401, 'the deleted project token is revoked');
  browser.assertNoErrors();
});

test('each project links to its usage limits', async () => {
  await openProjects();
  const project = await findProject('existing-proj');
  const link = page.getByRole('link', { name: 'Usage limits of project existing-proj', exact: true });
  assert.equal(await link.getAttribute('href'), `#/limits?project=${project.projectId}`);
  browser.assertNoErrors();
});
