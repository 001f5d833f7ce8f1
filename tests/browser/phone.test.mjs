// The console on phones: at 390×844 and 360×740 the sidebar is a menu behind the header's ☰
// button, every page and dialog fits the viewport, and no width from 360 px up scrolls the page
// sideways. Data comes from real chat calls through a fake upstream (upstream.mjs).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Api,
  PHONE,
  SMALL_PHONE,
  button,
  chooseTokenAction,
  eventually,
  horizontalOverflow,
  openTokensView,
  setUpConsole,
  signIn,
} from './harness.mjs';
import { providerToml, startUpstream } from './upstream.mjs';

const PROJECT = 'phone-project-with-a-rather-long-name';
const PHONES = [
  ['390×844', PHONE],
  ['360×740', SMALL_PHONE],
];
// Every signed-in page, with what shows once its data has loaded.
const PAGES = [
  ['#/tokens', 'Organization Api Tokens', 'table.data-table tbody tr'],
  ['#/tokens/project', 'Project Api Tokens', 'table.data-table tbody tr'],
  ['#/projects', 'Projects', 'table.data-table tbody tr'],
  ['#/requests', 'Requests', 'table.data-table tbody tr'],
  ['#/usage', 'Usage', '.chart canvas'],
  ['#/limits', 'Usage Limits', 'table.data-table tbody tr'],
  ['#/audit', 'Audit', 'table.data-table tbody tr'],
];

let console_;
let upstream;
let server;
let browser;
let page;

before(async () => {
  upstream = await startUpstream();
  console_ = await setUpConsole({
    config: providerToml('fake', upstream.baseUrl),
    viewport: PHONE,
    signIn: false,
    async seed(server) {
      const project = await server.api.createProject(
        PROJECT,
        'A project whose description is long enough to wrap on a phone screen several times over.',
      );
      const ciToken = await server.api.createProjectToken(
        project.projectId,
        'ci-deploy-pipeline-token',
        'deploys from the CI pipeline',
      );
      await server.api.validateStatus(ciToken.secret);
      const admin = await server.api.createOrgToken('operations-admin', 'operators of the platform');
      await server.api.changeToken(admin, {
        expiresAt: new Date(Date.now() + 30 * 86400 * 1000).toISOString(),
        rateLimitPerMinute: 120,
      });
      await server.api.createOrgToken('legacy-script', 'replaced by ci-deploy', 'Blocked');
      const projectApi = new Api(server.baseUrl, project.tokens[0].secret);
      await projectApi.chat('fake/echo', 'hello from a phone');
      await projectApi.chat('fake/echo', 'hello again');
      await server.api.waitForRequests(2);
      await server.api.ok('POST', `/v2/usageLimits/organizations/${server.organizationId}/limits`, {
        subscriptionType: 'Monthly',
        usageUnit: 'Requests',
        softLimit: 100,
        hardLimit: 200,
        renewalStatus: 'Renewable',
      });
    },
  });
  ({ server, browser, page } = console_);
});

after(async () => {
  await console_?.close();
  await upstream?.close();
});

const menuButton = () => button('Menu', page);

/**
 * Scrolls the page so that the button named `name` sits just above the viewport's bottom edge (as
 * far as the page scrolls), and waits for the scroll event, which would close an open row menu.
 */
async function scrollNearBottom(name) {
  await page.evaluate(
    (label) =>
      new Promise((resolve) => {
        const target = [...document.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === label);
        const before = window.scrollY;
        window.addEventListener('scroll', () => resolve(), { once: true });
        window.scrollBy(0, target.getBoundingClientRect().bottom - window.innerHeight + 8);
        if (window.scrollY === before) resolve();
      }),
    name,
  );
}

/** Waits for the ☰ button's aria-expanded to become `value` ('true' | 'false'). */
const expectExpanded = (value, what) =>
  eventually(
    async () => (await menuButton().getAttribute('aria-expanded')) === value,
    `${what}: aria-expanded ${value}`,
  );
const navLink = (name) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true });

async function expectNoOverflow(what) {
  const overflow = await horizontalOverflow(page);
  assert.ok(overflow <= 0, `${what} scrolls sideways by ${overflow}px`);
}

async function openPage(hash, heading, ready) {
  await page.goto(`/${hash}`);
  await page.getByRole('heading', { name: heading, exact: true, level: 1 }).waitFor();
  await page.locator(ready).first().waitFor();
}

/** The open dialog lies inside the viewport; taller content scrolls inside it. */
async function expectDialogFits(dialog, what) {
  const box = await dialog.boundingBox();
  const { width, height } = page.viewportSize();
  assert.ok(box.x >= 0 && box.y >= 0, `${what}: dialog starts off-screen (${JSON.stringify(box)})`);
  assert.ok(box.x + box.width <= width + 0.5, `${what}: dialog wider than the viewport (${JSON.stringify(box)})`);
  assert.ok(box.y + box.height <= height + 0.5, `${what}: dialog taller than the viewport (${JSON.stringify(box)})`);
  const sideways = await dialog.evaluate((el) => el.scrollWidth - el.clientWidth);
  assert.ok(sideways <= 0, `${what}: dialog content scrolls sideways by ${sideways}px`);
  await expectNoOverflow(what);
}

test('signing in on a phone: the sign-in page fits', async () => {
  await page.setViewportSize(SMALL_PHONE);
  await page.goto('/#/signin');
  await page.getByLabel('Organization API token', { exact: true }).waitFor();
  await expectNoOverflow('the sign-in page at 360 px');
  await page.setViewportSize(PHONE);
  await signIn(page, server.orgSecret);
  await expectNoOverflow('the tokens page after sign-in');
  browser.assertNoErrors();
});

test('the ☰ menu opens and closes the navigation; a link or Escape closes it', async () => {
  for (const [label, viewport] of PHONES) {
    await page.setViewportSize(viewport);
    await openTokensView(page, 'organization');
    assert.equal(await menuButton().getAttribute('aria-expanded'), 'false', label);
    assert.equal(await navLink('Projects').isVisible(), false, `${label}: the navigation starts closed`);

    await menuButton().click();
    assert.equal(await menuButton().getAttribute('aria-expanded'), 'true', label);
    await navLink('Projects').waitFor();
    await expectNoOverflow(`${label} with the menu open`);
    if (viewport === PHONE) await browser.screenshot('phone-menu-open', { fullPage: false });
    await menuButton().click();
    assert.equal(await menuButton().getAttribute('aria-expanded'), 'false', label);
    await navLink('Projects').waitFor({ state: 'hidden' });

    await menuButton().click();
    await navLink('Projects').click();
    await page.getByRole('heading', { name: 'Projects', exact: true, level: 1 }).waitFor();
    await expectExpanded('false', `${label}: navigating closes the menu`);
    await navLink('Audit').waitFor({ state: 'hidden' });

    await menuButton().click();
    await navLink('Audit').waitFor();
    await page.keyboard.press('Escape');
    await navLink('Audit').waitFor({ state: 'hidden' });
    await expectExpanded('false', `${label}: Escape closes the menu`);
  }
  // Wide screens keep the sidebar and need no menu button.
  await page.setViewportSize({ width: 1024, height: 768 });
  await navLink('Projects').waitFor();
  assert.equal(await menuButton().isVisible(), false);
  await page.setViewportSize(PHONE);
  browser.assertNoErrors();
});

test('every page fits 390×844 and 360×740 without sideways scrolling', async () => {
  for (const [label, viewport] of PHONES) {
    await page.setViewportSize(viewport);
    for (const [hash, heading, ready] of PAGES) {
      await openPage(hash, heading, ready);
      await expectNoOverflow(`${hash} at ${label}`);
      if (viewport === PHONE) await browser.screenshot(`phone-${hash.slice(2).replace('/', '-')}`);
    }
    // Token rows are cards whose actions are on screen, not behind a sideways scroll.
    await openPage('#/tokens/project', 'Project Api Tokens', 'table.data-table tbody tr');
    const more = button('More actions for token ci-deploy-pipeline-token', page);
    const box = await more.boundingBox();
    assert.ok(box && box.x + box.width <= viewport.width, `${label}: the MORE button is on screen`);
  }
  browser.assertNoErrors();
});

test('dialogs fit the phone screen and scroll inside: forms, confirmations, secrets, details', async () => {
  for (const [label, viewport] of PHONES) {
    await page.setViewportSize(viewport);

    // The project token form with its Permissions section (models, assistants, networks).
    await openPage('#/tokens/project', 'Project Api Tokens', 'table.data-table tbody tr');
    await button('CREATE NEW', page).click();
    let dialog = page.getByRole('dialog', { name: 'Api Token' });
    await dialog.getByText('Networks').first().waitFor();
    await expectDialogFits(dialog, `${label} token form`);
    if (viewport === PHONE) await browser.screenshot('phone-token-form');
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });

    // The row menu and a lifecycle confirmation.
    await button('More actions for token ci-deploy-pipeline-token', page).click();
    const menu = page.getByRole('menu');
    const menuBox = await menu.boundingBox();
    assert.ok(menuBox.x >= 0 && menuBox.x + menuBox.width <= viewport.width, `${label}: the menu is on screen`);
    assert.ok(menuBox.y >= 0 && menuBox.y + menuBox.height <= viewport.height, `${label}: the menu is on screen`);
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });

    // A row at the bottom of the screen: the menu opens above its button, inside the viewport.
    const moreName = 'More actions for token ci-deploy-pipeline-token';
    await scrollNearBottom(moreName);
    const moreBox = await button(moreName, page).boundingBox();
    await button(moreName, page).click();
    const upBox = await menu.boundingBox();
    assert.ok(upBox.y >= 0 && upBox.y + upBox.height <= viewport.height, `${label}: the raised menu is on screen`);
    if (moreBox.y + moreBox.height + upBox.height > viewport.height) {
      assert.ok(upBox.y + upBox.height <= moreBox.y, `${label}: no room below, so the menu opens above its button`);
    }
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
    dialog = await chooseTokenAction(page, 'ci-deploy-pipeline-token', 'Rotate secret');
    await expectDialogFits(dialog, `${label} rotate confirmation`);
    if (viewport === PHONE) await browser.screenshot('phone-token-rotate');
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });
    dialog = await chooseTokenAction(page, 'ci-deploy-pipeline-token', 'Set expiry');
    await expectDialogFits(dialog, `${label} expiry form`);
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });

    // A secret shown once: long enough to need wrapping.
    await openPage('#/tokens', 'Organization Api Tokens', 'table.data-table tbody tr');
    await button('CREATE NEW', page).click();
    dialog = page.getByRole('dialog', { name: 'Api Token' });
    await dialog.getByLabel('Name *', { exact: true }).fill(`phone-made-${viewport.width}`);
    await button('CONFIRM', dialog).click();
    const secretDialog = page.getByRole('dialog', { name: 'Api Token created' });
    await secretDialog.getByTestId('new-secret').waitFor();
    await expectDialogFits(secretDialog, `${label} secret dialog`);
    await button('CLOSE', secretDialog).click();
    await secretDialog.waitFor({ state: 'detached' });

    // Projects: the form and the delete confirmation.
    await openPage('#/projects', 'Projects', 'table.data-table tbody tr');
    await button('CREATE NEW', page).click();
    dialog = page.getByRole('dialog', { name: 'Project' });
    await expectDialogFits(dialog, `${label} project form`);
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });
    await button(`Delete project ${PROJECT}`, page).click();
    dialog = page.getByRole('dialog', { name: 'Delete project' });
    await expectDialogFits(dialog, `${label} delete confirmation`);
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });

    // A request's detail: long texts in a wide dialog.
    await openPage('#/requests', 'Requests', 'table.data-table tbody tr');
    await page.locator('table.data-table tbody tr').first().getByRole('button').click();
    dialog = page.getByRole('dialog', { name: 'Request detail' });
    await dialog.getByRole('heading', { name: 'Output', exact: true }).waitFor();
    await expectDialogFits(dialog, `${label} request detail`);
    await button('CLOSE', dialog).click();
    await dialog.waitFor({ state: 'detached' });

    // The usage limit form.
    await openPage('#/limits', 'Usage Limits', 'table.data-table tbody tr');
    await button('CREATE NEW', page).click();
    dialog = page.getByRole('dialog', { name: 'Usage Limit' });
    await expectDialogFits(dialog, `${label} usage limit form`);
    await button('CANCEL', dialog).click();
    await dialog.waitFor({ state: 'detached' });
  }
  browser.assertNoErrors();
});

test('no width from 360 px to 1440 px scrolls the page sideways', async () => {
  for (const width of [360, 375, 414, 480, 600, 760, 761, 820, 900, 1024, 1280, 1440]) {
    await page.setViewportSize({ width, height: 900 });
    for (const [hash, heading, ready] of PAGES) {
      await openPage(hash, heading, ready);
      await expectNoOverflow(`${hash} at ${width} px`);
    }
  }
  browser.assertNoErrors();
});

// The pictures in docs/console.md (copied from build/screenshots/docs-*.png).
test('screenshots for docs/console.md at 1440×900 and 390×844', async () => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await openPage('#/tokens', 'Organization Api Tokens', 'table.data-table tbody tr');
  await browser.screenshot('docs-tokens-1440', { fullPage: false });
  await button('More actions for token operations-admin', page).click();
  await page.getByRole('menu').waitFor();
  await browser.screenshot('docs-token-menu-1440', { fullPage: false });
  await page.keyboard.press('Escape');
  const dialog = await chooseTokenAction(page, 'DefaultOrganization', 'Block');
  await dialog.getByTestId('own-token-warning').waitFor();
  await browser.screenshot('docs-token-block-own-1440', { fullPage: false });
  await button('CANCEL', dialog).click();
  await dialog.waitFor({ state: 'detached' });

  await page.setViewportSize(PHONE);
  await openPage('#/tokens/project', 'Project Api Tokens', 'table.data-table tbody tr');
  await browser.screenshot('docs-tokens-390', { fullPage: false });
  await menuButton().click();
  await navLink('Usage').waitFor();
  await browser.screenshot('docs-menu-390', { fullPage: false });
  await menuButton().click();
  const rotate = await chooseTokenAction(page, 'ci-deploy-pipeline-token', 'Rotate secret');
  await browser.screenshot('docs-token-rotate-390', { fullPage: false });
  await button('CANCEL', rotate).click();
  await rotate.waitFor({ state: 'detached' });
  browser.assertNoErrors();
});
