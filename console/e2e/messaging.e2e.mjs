// Messaging, segment overlap and dashboard editing end to end in Debian's chromium, driven by
// playwright-core against a running stack's console (tests/test_console_e2e_messaging.py starts it
// and passes what it made in the environment):
//
//   CONSOLE_URL, WORKSPACE, ADMIN_EMAIL, ADMIN_PASSWORD,
//   HOOK_URL, HOOK_SECRET, CHANNEL_NAME (a webhook channel to create with that secret),
//   TEMPLATE_NAME, PERSON_USER_ID and PERSON_NAME (the preview's person and the trait it must show),
//   SEGMENT_A and SEGMENT_B (ids of saved segments `traits.vip = true` and `traits.gender = "female"`),
//   DASHBOARD_NAME (a saved dashboard with one trends tile),
//   ARTEFACTS (screenshots and report.json go there)
//
// Exits non-zero on the first expectation that fails; report.json holds what the pages showed.
import { env, expect, finish, launch, recordFailure, recorder, signIn } from './support.mjs';

const ARTEFACTS = env('ARTEFACTS');
const SECRET = env('HOOK_SECRET');
const MASK = '********';

const report = { screenshots: [], steps: [] };
const { shot, step, started } = recorder(report, ARTEFACTS);

// The GraphQL request whose document contains `text`, and its answer.
const graphqlCall = (page, text) =>
  page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() || '').includes(text));

// Nowhere in the page, not even in an input's value.
async function secretAbsent(page) {
  const html = await page.content();
  const values = await page.$$eval('input, textarea', (els) => els.map((e) => e.value));
  return !html.includes(SECRET) && !values.some((v) => v.includes(SECRET));
}

async function tab(page, name) {
  await page.click(`[role=tab]:has-text("${name}")`);
}

const browser = await launch();
try {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));

  step('sign in as admin');
  await page.goto(env('CONSOLE_URL'), { waitUntil: 'load' });
  await signIn(page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'), env('WORKSPACE'));
  expect((await page.textContent('nav')).includes('Messaging'), 'English navigation');

  step('overview: orders broken down by a trait add up to the whole');
  await page.waitForFunction(() => {
    const text = document.querySelector('[data-testid=metric-orders] .big')?.textContent ?? '0';
    return Number(text.replace(/[^\d.]/g, '')) > 0;
  });
  await page.selectOption('select[aria-label="Breakdown"]', 'trait');
  const splitAnswer = graphqlCall(page, 'split: trends');
  await page.fill('input[aria-label="Property name"]', 'gender');
  const splitBody = await (await splitAnswer).json();
  expect(!splitBody.errors, `broken down: ${JSON.stringify(splitBody.errors)}`);
  await page.waitForSelector('[data-testid=split-orders]');
  const whole = Number((await page.textContent('[data-testid=metric-orders] .big')).replace(/[^\d.]/g, ''));
  const parts = (await page.textContent('[data-testid=split-orders]')).split(' · ').map((p) => Number(p.split(' ').at(-1).replace(/,/g, '')));
  report.overviewOrders = { whole, byGender: await page.textContent('[data-testid=split-orders]') };
  expect(parts.length > 1 && parts.reduce((a, b) => a + b, 0) === whole, `orders by gender ${parts} add up to ${whole}`);
  await page.waitForTimeout(300);
  await shot(page, 'overview-breakdown');

  step('messaging: a webhook channel with a secret, masked after a reload');
  await page.click('nav a[href="#/messaging"]');
  await tab(page, 'Channels');
  await page.waitForSelector('[data-testid=channel-list]');
  await page.fill('#channel-name', env('CHANNEL_NAME'));
  await page.selectOption('#channel-type', 'webhook');
  await page.fill('#channel-url', env('HOOK_URL'));
  await page.fill('#channel-api_key', SECRET);
  const created = graphqlCall(page, 'upsertChannel');
  await page.click('form[aria-label="Channel settings"] button[type=submit]');
  const createdBody = await (await created).json();
  expect(!createdBody.errors, `channel saved: ${JSON.stringify(createdBody.errors)}`);
  expect(createdBody.data.upsertChannel.config.api_key === MASK, 'the answer masks the secret');
  await page.waitForSelector('[role=status]:has-text("Saved")');
  expect(await secretAbsent(page), 'the secret is not in the page after saving');

  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('nav');
  await tab(page, 'Channels');
  const row = `[data-testid=channel-list] tr[data-channel="${env('CHANNEL_NAME')}"]`;
  await page.waitForSelector(row);
  const rowText = await page.textContent(row);
  expect(rowText.includes(`api_key: ${MASK}`), `the listed channel shows the mask: ${rowText}`);
  expect(rowText.includes(env('HOOK_URL')), 'the listed channel shows its url');
  expect(await secretAbsent(page), 'the secret is not in the page after a reload');
  report.channelRow = rowText;
  await shot(page, 'channels');

  step('messaging: the channel saved again without its secret typed');
  await page.click(`${row} button:has-text("Edit")`);
  expect((await page.inputValue('#channel-api_key')) === '', 'the secret field is empty when editing');
  expect(((await page.getAttribute('#channel-api_key', 'placeholder')) || '').includes('kept'), 'it says the stored one is kept');
  await page.check('#channel-idempotent');
  const resaved = page.waitForRequest((r) => r.url().endsWith('/graphql') && (r.postData() || '').includes('upsertChannel'));
  await page.click('form[aria-label="Channel settings"] button[type=submit]');
  const sent = JSON.parse((await resaved).postData()).variables;
  expect(sent.config.api_key === MASK && sent.config.idempotent === true, `the mask went back: ${JSON.stringify(sent.config)}`);
  await page.waitForSelector(`${row}:has-text("idempotent: true")`);
  report.resavedConfig = sent.config;

  step('messaging: a template previewed live for a chosen person');
  await tab(page, 'Templates');
  await page.waitForSelector('[data-testid=template-list]');
  await page.fill('#template-name', env('TEMPLATE_NAME'));
  await page.selectOption('#template-channel', 'webhook');
  await page.fill('#template-title', '618 fruit');
  await page.fill('[aria-label="Preview person identifier"]', env('PERSON_USER_ID'));
  await page.click('#template-body');
  await page.keyboard.type('Hi {{ traits.name }}', { delay: 20 });
  const bodyShown = '[data-testid=rendered] [data-field=body]';
  await page.waitForFunction(
    ([selector, want]) => document.querySelector(selector)?.textContent === want,
    [bodyShown, `Hi ${env('PERSON_NAME')}`],
  );
  // The preview follows further typing: the time from the last key to the new text on screen.
  const t0 = Date.now();
  await page.keyboard.type(', cherries today', { delay: 20 });
  const typedAt = Date.now();
  await page.waitForFunction(
    ([selector, want]) => document.querySelector(selector)?.textContent === want,
    [bodyShown, `Hi ${env('PERSON_NAME')}, cherries today`],
  );
  report.previewAfterLastKeyMs = Date.now() - typedAt;
  report.previewTypingMs = typedAt - t0;
  report.previewBody = await page.textContent(bodyShown);
  const saved = graphqlCall(page, 'createTemplate');
  await page.click('form[aria-label="Template content"] button[type=submit]');
  const savedBody = await (await saved).json();
  expect(!savedBody.errors, `template saved: ${JSON.stringify(savedBody.errors)}`);
  report.templateId = savedBody.data.createTemplate.id;
  await page.waitForSelector(`[data-testid=template-list] tr:has-text("${env('TEMPLATE_NAME')}")`);
  await shot(page, 'templates');

  step('messaging: quiet hours, a wrong value first');
  await tab(page, 'Caps and quiet hours');
  await page.waitForSelector('#policy-quietStart');
  await page.fill('#policy-quietStart', '25:00');
  await page.click('form[aria-label="Caps and quiet hours"] button[type=submit]');
  await page.waitForSelector('[data-testid=error-quietStart]');
  expect((await page.getAttribute('#policy-quietStart', 'aria-invalid')) === 'true', 'the field is marked');
  const alert = await page.textContent('[role=alert]');
  expect(alert.startsWith('quiet_start:') && alert.includes('25:00'), `the error names its field: ${alert}`);
  report.policyError = alert;
  await shot(page, 'policy-error');
  await page.fill('#policy-quietStart', '23:30');
  await page.fill('#policy-quietEnd', '07:15');
  await page.click('button:has-text("Add cap")');
  await page.fill('[aria-label="At most 1"]', '3');
  await page.fill('[aria-label="Days 1"]', '7');
  await page.click('form[aria-label="Caps and quiet hours"] button[type=submit]');
  await page.waitForSelector('form[aria-label="Caps and quiet hours"] [role=status]:has-text("Saved")');
  expect((await page.$$('[data-testid=policy] [role=alert]')).length === 0, 'no error once the value is right');
  await shot(page, 'policy');

  step('segments: two segments overlapped, and text back to rows');
  await page.click('nav a[href="#/segments"]');
  await page.waitForSelector(`[aria-label="Segments to compare"] option[value="${env('SEGMENT_B')}"]`);
  await page.selectOption('[aria-label="Segments to compare"]', [env('SEGMENT_A'), env('SEGMENT_B')]);
  const overlapAnswer = graphqlCall(page, 'segmentOverlap');
  await page.click('[data-testid=overlap] button:has-text("Compare")');
  const answered = (await (await overlapAnswer).json()).data.all;
  await page.waitForSelector('[data-testid=overlap-intersection]');
  const number = async (selector) => Number((await page.textContent(selector)).replace(/\D/g, ''));
  report.overlap = {
    intersection: await number('[data-testid=overlap-intersection]'),
    union: await number('[data-testid=overlap-union]'),
    sizes: [await number('[data-testid=overlap-size-0]'), await number('[data-testid=overlap-size-1]')],
  };
  const same = ['intersection', 'union', 'sizes'].every((k) => String(report.overlap[k]) === String(answered[k]));
  expect(same, `shown ${JSON.stringify(report.overlap)} = answered ${JSON.stringify(answered)}`);
  await page.fill('textarea', 'traits.vip = true AND traits.gender = "female"');
  await page.waitForFunction(() => document.querySelector('input[aria-label="path 2"]')?.value === 'traits.gender');
  expect((await page.inputValue('input[aria-label="value 2"]')) === 'female', 'the second row holds the value');
  await page.fill('textarea', 'traits.vip = true OR traits.gender = "female"');
  await page.waitForSelector('[role=note]');
  expect(await page.$eval('[data-testid=condition-rows]', (el) => el.disabled), 'rows locked for a text-only rule');
  await page.waitForSelector('[data-testid=preview-count][data-rule="traits.vip = true OR traits.gender = \\"female\\""]');
  // The two segments' rules joined by OR count the overlap's union.
  report.orCount = await number('[data-testid=preview-count]');
  expect(report.orCount === answered.union, `OR counts ${report.orCount}, the union is ${answered.union}`);
  await page.$eval('[data-testid=overlap]', (el) => el.scrollIntoView());
  await shot(page, 'segments-overlap');

  step('dashboards: add a tile, remove one');
  await page.click('nav a[href="#/dashboards"]');
  await page.click(`[data-testid=dashboard-list] button:has-text("${env('DASHBOARD_NAME')}")`);
  await page.waitForSelector('[data-testid=tile-0]');
  await page.selectOption('#tile-kind', 'funnel');
  await page.fill('#tile-title', 'E2E funnel');
  const added = graphqlCall(page, 'updateDashboard');
  await page.click('form[aria-label="Add tile"] button[type=submit]');
  const addedBody = await (await added).json();
  expect(!addedBody.errors, `tile added: ${JSON.stringify(addedBody.errors)}`);
  await page.waitForSelector('[data-testid=tile-1]:has-text("E2E funnel")');
  await shot(page, 'dashboard-added');
  await page.click('button[aria-label="Remove tile 1"]');
  await page.waitForFunction(() => !document.querySelector('[data-testid=tile-1]'));
  await page.waitForSelector('[data-testid=tile-0]:has-text("E2E funnel")');
  report.dashboardTiles = await page.$$eval('[data-testid^=tile-] h4', (els) => els.map((e) => e.textContent.trim()));
  await shot(page, 'dashboard-edited');
  expect((await page.$$('[role=alert]')).length === 0, 'no API error on the dashboard');

  step('messaging in Chinese');
  await page.click('nav button.lang');
  await page.click('nav a[href="#/messaging"]');
  await tab(page, '频控与免打扰');
  await page.waitForSelector('#policy-quietStart');
  expect((await page.inputValue('#policy-quietStart')) === '23:30', 'the saved quiet hours are shown');
  expect((await page.textContent('[data-testid=policy]')).includes('免打扰开始'), 'Chinese labels');
  await tab(page, '模板');
  await page.waitForSelector(`[data-testid=template-list] tr:has-text("${env('TEMPLATE_NAME')}")`);
  await shot(page, 'templates-zh');
} catch (error) {
  await recordFailure(browser, report, shot);
  throw error;
} finally {
  await finish(browser, report, ARTEFACTS, started);
}
