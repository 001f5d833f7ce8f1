import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { button, eventually, expectProjectContext, rowByName, setUpConsole, tableRows } from './harness.mjs';

let console_;
let server;
let browser;
let page;
const seeded = {};

before(async () => {
  console_ = await setUpConsole({
    async seed(server) {
      const { api } = server;
      seeded.alpha = await api.createProject('alpha-proj', 'first project');
      seeded.beta = await api.createProject('beta-proj', 'second project');
      // Project tokens for filter and sort tests: names, descriptions and statuses in distinct orders.
      seeded.srtC = await api.createProjectToken(seeded.alpha.projectId, 'srt-c', 'desc-z', 'Active');
      seeded.srtA = await api.createProjectToken(seeded.alpha.projectId, 'srt-a', 'desc-m', 'Blocked');
      seeded.srtB = await api.createProjectToken(seeded.beta.projectId, 'srt-b', 'desc-a', 'Active');
      seeded.srtD = await api.createProjectToken(seeded.beta.projectId, 'srt-d', 'desc-b', 'Blocked');
      // Organization tokens for paging: 25 of them.
      for (let i = 1; i <= 25; i++) await api.createOrgToken(`page-${String(i).padStart(3, '0')}`, `paging ${i}`);
      seeded.copy = await api.createOrgToken('copy-me', 'for the clipboard test');
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
});

const names = async () => (await tableRows(page)).map((cells) => cells[0]);
const dialog = () => page.getByRole('dialog');

async function openView(view) {
  await page.goto(view === 'project' ? '/#/tokens/project' : '/#/tokens');
  await page
    .getByRole('heading', { name: view === 'project' ? 'Project Api Tokens' : 'Organization Api Tokens', exact: true })
    .waitFor();
}

async function setFilters({ name = '', projectName, status = 'All' }) {
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (projectName !== undefined) await page.getByLabel('Project Name', { exact: true }).fill(projectName);
  await page.getByLabel('Status', { exact: true }).selectOption({ label: status });
}

/** Waits until the table shows exactly `expected` first-column values (in any order unless ordered). */
async function expectNames(expected, { ordered = false } = {}) {
  await eventually(
    async () => {
      const got = await names();
      const a = ordered ? got : [...got].sort();
      const b = ordered ? expected : [...expected].sort();
      return JSON.stringify(a) === JSON.stringify(b) ? got : false;
    },
    `rows ${JSON.stringify(expected)}`,
    10000,
  );
}

test('the page has the reference layout: sidebar group, project header, views, filters, columns', async () => {
  await openView('organization');
  const nav = page.getByRole('navigation', { name: 'Console' });
  await nav.getByRole('heading', { name: 'Organization Options' }).waitFor();
  assert.equal(await nav.getByRole('link', { name: 'API Tokens', exact: true }).getAttribute('aria-current'), 'page');
  // The header names its project once the project list has loaded.
  await expectProjectContext(page, /^Project: alpha-proj \(Default\)$/);
  await page.getByLabel(/^Project: /).selectOption({ label: 'beta-proj' });
  await expectProjectContext(page, /^Project: beta-proj \(Default\)$/);
  await page.getByLabel(/^Project: /).selectOption({ label: 'alpha-proj' });

  await button('CREATE NEW', page).waitFor();
  assert.deepEqual(
    await page.$$eval('table.data-table thead th', (ths) =>
      ths.map((th) => th.textContent.trim()).filter((t) => t && t !== 'Actions'),
    ),
    ['Name ↑', 'Description', 'Status', 'Last used', 'Created', 'Expires'],
  );
  assert.deepEqual(await page.getByLabel('Status', { exact: true }).locator('option').allTextContents(), [
    'All',
    'Active',
    'Blocked',
  ]);
  assert.equal(await page.getByLabel('Name match').inputValue(), 'Contains');
  assert.equal(
    await page.getByLabel('Project Name', { exact: true }).count(),
    0,
    'no project filter in the organization view',
  );
  await expectNames([
    'DefaultOrganization',
    'copy-me',
    ...Array.from({ length: 18 }, (_, i) => `page-${String(i + 1).padStart(3, '0')}`),
  ]);
  await browser.screenshot('tokens-organization');

  await page.getByRole('link', { name: 'Project Api Tokens', exact: true }).click();
  await page.getByRole('heading', { name: 'Project Api Tokens', exact: true }).waitFor();
  assert.deepEqual(
    await page.$$eval('table.data-table thead th', (ths) =>
      ths.map((th) => th.textContent.trim()).filter((t) => t && t !== 'Actions'),
    ),
    ['Name ↑', 'Description', 'Status', 'Project', 'Last used', 'Created', 'Expires'],
  );
  assert.equal(await page.getByLabel('Project Name match').inputValue(), 'Contains');
  // The header's project (alpha-proj, chosen above) filters the project view; "All projects" lists every one.
  const projectFilter = page.getByLabel('Project', { exact: true });
  assert.equal(await projectFilter.inputValue(), seeded.alpha.projectId);
  await expectNames(['Default', 'srt-a', 'srt-c']);
  await projectFilter.selectOption({ label: 'All projects' });
  await expectNames(['Default', 'Default', 'srt-a', 'srt-b', 'srt-c', 'srt-d']);
  await browser.screenshot('tokens-project');
  browser.assertNoErrors();
});

test('with an empty name CONFIRM is disabled and "Api Token Name is required." is shown', async () => {
  await openView('organization');
  await button('CREATE NEW', page).click();
  const form = dialog();
  await form.getByRole('heading', { name: 'Api Token', exact: true }).waitFor();
  const nameBox = form.getByLabel('Name *', { exact: true });
  assert.equal(await nameBox.inputValue(), '');
  assert.ok(await button('CONFIRM', form).isDisabled());
  await form.getByText('Api Token Name is required.', { exact: true }).waitFor();

  await nameBox.fill('x');
  await form.getByText('Api Token Name is required.', { exact: true }).waitFor({ state: 'detached' });
  assert.ok(await button('CONFIRM', form).isEnabled());
  await nameBox.fill('   ');
  await form.getByText('Api Token Name is required.', { exact: true }).waitFor();
  assert.ok(await button('CONFIRM', form).isDisabled());

  // Scope is preset by the view and not editable; Status offers Active / Blocked.
  const scope = form.getByLabel('Scope', { exact: true });
  assert.equal(await scope.inputValue(), 'Organization');
  assert.ok(await scope.isDisabled());
  assert.deepEqual(await form.getByLabel('Status', { exact: true }).locator('option').allTextContents(), [
    'Active',
    'Blocked',
  ]);
  await form.getByLabel('Description', { exact: true }).waitFor();
  await browser.screenshot('token-form-empty');
  await button('CANCEL', form).click();
  await form.waitFor({ state: 'detached' });
  browser.assertNoErrors();
});

test('creating an organization token adds the row and shows its working secret once', async () => {
  await openView('organization');
  await button('CREATE NEW', page).click();
  const form = dialog();
  await form.getByLabel('Name *', { exact: true }).fill('ui-created');
  await form.getByLabel('Description', { exact: true }).fill('made in the browser');
  await button('CONFIRM', form).click();

  const secretDialog = page.getByRole('dialog', { name: 'Api Token created' });
  const secret = (await secretDialog.getByTestId('new-secret').textContent()).trim();
  assert.match(secret, /^gto_[0-9A-Za-z]{49}$/);
  await button('COPY', secretDialog).waitFor();
  await browser.screenshot('token-secret-dialog');
  await button('COPY', secretDialog).click();
  await secretDialog.getByText('Copied to clipboard.').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await button('CLOSE', secretDialog).click();
  await secretDialog.waitFor({ state: 'detached' });

  assert.equal(await page.content().then((html) => html.includes(secret)), false, 'the secret is gone from the page');
  await setFilters({ name: 'ui-created' });
  await expectNames(['ui-created']);
  assert.deepEqual((await tableRows(page))[0].slice(0, 3), ['ui-created', 'made in the browser', 'Active']);
  assert.equal(await server.api.validateStatus(secret), 200, 'the shown secret authenticates');
  browser.assertNoErrors();
});

test('creating a project token puts it in the header project', async () => {
  await openView('project');
  await page.getByLabel(/^Project: /).selectOption({ label: 'beta-proj' });
  await button('CREATE NEW', page).click();
  const form = dialog();
  assert.equal(await form.getByLabel('Scope', { exact: true }).inputValue(), 'Project');
  assert.equal(await form.getByLabel('Project', { exact: true }).inputValue(), 'beta-proj');
  await form.getByLabel('Name *', { exact: true }).fill('ui-project-token');
  await form.getByLabel('Status', { exact: true }).selectOption('Blocked');
  await button('CONFIRM', form).click();
  const secretDialog = page.getByRole('dialog', { name: 'Api Token created' });
  const secret = (await secretDialog.getByTestId('new-secret').textContent()).trim();
  assert.match(secret, /^gtp_/);
  await button('CLOSE', secretDialog).click();
  // The view lists the header's project only, so its Project Name filter is off.
  assert.equal(await page.getByLabel('Project Name', { exact: true }).isDisabled(), true);
  await setFilters({ name: 'ui-project' });
  await expectNames(['ui-project-token']);
  assert.deepEqual((await tableRows(page))[0].slice(0, 4), ['ui-project-token', '', 'Blocked', 'beta-proj']);
  await page.getByLabel(/^Project: /).selectOption({ label: 'alpha-proj' });
  browser.assertNoErrors();
});

test('a duplicate name is reported in the form', async () => {
  await openView('organization');
  browser.allowError((text) => /status of 409/.test(text));
  await button('CREATE NEW', page).click();
  const form = dialog();
  await form.getByLabel('Name *', { exact: true }).fill('copy-me');
  await button('CONFIRM', form).click();
  await form.getByRole('alert').filter({ hasText: 'ApiToken name already exists' }).waitFor();
  await button('CANCEL', form).click();
  browser.assertNoErrors();
});

test('filters: name contains, project name contains, status', async () => {
  await openView('organization');
  await setFilters({ name: 'AGE-02' });
  await expectNames(['page-020', 'page-021', 'page-022', 'page-023', 'page-024', 'page-025']);
  await setFilters({ name: 'opy' });
  await expectNames(['copy-me']);

  await openView('project');
  await setFilters({ name: 'srt', projectName: 'ETA-PR' });
  await expectNames(['srt-b', 'srt-d']);
  assert.ok((await tableRows(page)).every((cells) => cells[3] === 'beta-proj'));
  await setFilters({ name: '', projectName: 'alpha' });
  await expectNames(['Default', 'srt-a', 'srt-c']);

  await setFilters({ name: 'srt', projectName: '', status: 'Blocked' });
  await expectNames(['srt-a', 'srt-d']);
  await setFilters({ name: 'srt', projectName: '', status: 'Active' });
  await expectNames(['srt-b', 'srt-c']);
  await setFilters({ name: 'srt', projectName: '', status: 'All' });
  await expectNames(['srt-a', 'srt-b', 'srt-c', 'srt-d']);
  await browser.screenshot('tokens-filtered');
  browser.assertNoErrors();
});

test('each column sorts both ways and shows ↑ / ↓', async () => {
  await openView('project');
  await setFilters({ name: 'srt', projectName: '' });
  await expectNames(['srt-a', 'srt-b', 'srt-c', 'srt-d'], { ordered: true });

  const columns = [
    // `asc` lists the expected Name column when sorting ascending by this column.
    { label: 'Name', index: 0, asc: ['srt-a', 'srt-b', 'srt-c', 'srt-d'] },
    { label: 'Description', index: 1, asc: ['srt-b', 'srt-d', 'srt-a', 'srt-c'] }, // desc-a, desc-b, desc-m, desc-z
    { label: 'Status', index: 2 },
    { label: 'Project', index: 3 },
  ];
  const header = (label) =>
    page.locator('table.data-table thead').getByRole('button', { name: new RegExp(`^${label}( [↑↓])?$`) });

  for (const column of columns) {
    for (const direction of ['asc', 'desc']) {
      const arrow = direction === 'asc' ? '↑' : '↓';
      // Clicking a column makes it ascending; clicking it again flips it.
      const isActive = async () => /[↑↓]/.test(await header(column.label).textContent());
      if (direction === 'asc' && (await isActive())) await header(column.label).click(); // leave a column active from before
      await header(column.label).click();
      await eventually(
        async () => (await header(column.label).textContent()).trim() === `${column.label} ${arrow}`,
        `${column.label} ${arrow}`,
      );
      const th = page.locator('table.data-table thead th').filter({
        hasText: new RegExp(`^${column.label} [↑↓]$`),
      });
      assert.equal(await th.getAttribute('aria-sort'), direction === 'asc' ? 'ascending' : 'descending');
      await eventually(async () => {
        const rows = await tableRows(page);
        if (rows.length !== 4) return false;
        if (column.asc) {
          const want = direction === 'asc' ? column.asc : [...column.asc].reverse();
          return JSON.stringify(rows.map((cells) => cells[0])) === JSON.stringify(want);
        }
        const values = rows.map((cells) => cells[column.index]);
        const sorted = [...values].sort();
        if (direction === 'desc') sorted.reverse();
        return JSON.stringify(values) === JSON.stringify(sorted) && new Set(values).size > 1;
      }, `${column.label} sorted ${direction}`);
      // Only one column shows an arrow at a time.
      const arrows = await page.$$eval(
        'table.data-table thead th',
        (ths) => ths.filter((th) => /[↑↓]/.test(th.textContent)).length,
      );
      assert.equal(arrows, 1);
    }
  }
  browser.assertNoErrors();
});

test('paging: |< < > >| with page/total and a page-size select', async () => {
  await openView('organization');
  await setFilters({ name: 'page-' });
  await page.getByLabel('Page size', { exact: true }).selectOption('10');
  const pageNames = (from, to) =>
    Array.from({ length: to - from + 1 }, (_, i) => `page-${String(from + i).padStart(3, '0')}`);
  const status = page.locator('.pager-status');
  const expectPage = async (k, from, to) => {
    await expectNames(pageNames(from, to), { ordered: true });
    await eventually(async () => (await status.textContent()).startsWith(`Page ${k} of 3`), `Page ${k} of 3`);
  };
  await expectPage(1, 1, 10);
  assert.match(await status.textContent(), /25 total/);
  assert.ok(await button('|<', page).isDisabled());
  assert.ok(await button('<', page).isDisabled());
  await button('>', page).click();
  await expectPage(2, 11, 20);
  await button('>|', page).click();
  await expectPage(3, 21, 25);
  assert.ok(await button('>', page).isDisabled());
  assert.ok(await button('>|', page).isDisabled());
  await button('<', page).click();
  await expectPage(2, 11, 20);
  await button('|<', page).click();
  await expectPage(1, 1, 10);
  await browser.screenshot('tokens-paging');
  await page.getByLabel('Page size', { exact: true }).selectOption('50');
  await expectNames(pageNames(1, 25), { ordered: true });
  browser.assertNoErrors();
});

test('UPDATE blocks a token and sets it active again', async () => {
  await openView('project');
  await setFilters({ name: 'srt-c', projectName: '' });
  await expectNames(['srt-c']);
  assert.equal(await server.api.validateStatus(seeded.srtC.secret), 200);

  const update = async (status) => {
    await button('Update token srt-c', page).click();
    const form = dialog();
    assert.equal(await form.getByLabel('Name *', { exact: true }).inputValue(), 'srt-c');
    assert.equal(await form.getByLabel('Description', { exact: true }).inputValue(), 'desc-z');
    assert.equal(await form.getByLabel('Scope', { exact: true }).inputValue(), 'Project');
    await form.getByLabel('Status', { exact: true }).selectOption(status);
    if (status === 'Blocked') await browser.screenshot('token-form-update');
    await button('CONFIRM', form).click();
    await form.waitFor({ state: 'detached' });
    await eventually(async () => (await tableRows(page))[0]?.[2] === status, `srt-c ${status} in the table`);
  };

  await update('Blocked');
  assert.equal((await server.api.ok('GET', `/v2/projects/tokens/${seeded.srtC.id}`)).status, 'Blocked');
  assert.equal(await server.api.validateStatus(seeded.srtC.secret), 401, 'a blocked token is rejected');
  await update('Active');
  assert.equal((await server.api.ok('GET', `/v2/projects/tokens/${seeded.srtC.id}`)).status, 'Active');
  assert.equal(await server.api.validateStatus(seeded.srtC.secret), 200, 'the token works again');
  browser.assertNoErrors();
});

test('COPY puts the real secret on the clipboard and never shows it', async () => {
  await openView('organization');
  await page.evaluate(() => navigator.clipboard.writeText('placeholder'));
  await setFilters({ name: 'copy-me' });
  await expectNames(['copy-me']);
  await button('Copy secret of token copy-me', page).click();
  await page.getByText('Secret of copy-me copied to clipboard.').waitFor();
  await browser.screenshot('tokens-copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), seeded.copy.secret);
  const html = await page.content();
  assert.equal(html.includes(seeded.copy.secret), false, 'the secret is not in the page');
  browser.assertNoErrors();
});

test('row actions keep the reference labels and name their token for screen readers', async () => {
  await openView('project');
  await setFilters({ name: 'srt', projectName: '' });
  await expectNames(['srt-a', 'srt-b', 'srt-c', 'srt-d']);
  for (const name of ['srt-a', 'srt-b', 'srt-c', 'srt-d']) {
    const row = rowByName(page, name);
    const update = row.getByRole('button', { name: `Update token ${name}`, exact: true });
    const copy = row.getByRole('button', { name: `Copy secret of token ${name}`, exact: true });
    assert.equal((await update.textContent()).trim(), 'UPDATE');
    assert.equal((await copy.textContent()).trim(), 'COPY');
  }
  browser.assertNoErrors();
});

test('the form is keyboard-usable: Enter opens it, Escape closes it', async () => {
  await openView('organization');
  await button('CREATE NEW', page).focus();
  await page.keyboard.press('Enter');
  const form = dialog();
  await form.getByRole('heading', { name: 'Api Token', exact: true }).waitFor();
  assert.equal(
    await page.evaluate(() => document.activeElement?.id),
    await form.getByLabel('Name *', { exact: true }).getAttribute('id'),
  );
  await page.keyboard.type('kbd-token');
  await eventually(() => button('CONFIRM', form).isEnabled(), 'CONFIRM enabled');
  await page.keyboard.press('Enter');
  const secretDialog = page.getByRole('dialog', { name: 'Api Token created' });
  await secretDialog.waitFor();
  await page.keyboard.press('Escape');
  await secretDialog.waitFor({ state: 'detached' });
  await setFilters({ name: 'kbd-token' });
  await expectNames(['kbd-token']);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at 1024 px (overflow ${overflow}px)`);
  browser.assertNoErrors();
});
