// Journeys and campaigns end to end in a real browser: Debian's chromium driven by playwright-core,
// against a running stack's console (tests/test_console_e2e_journeys.py starts it, sets up a webhook
// channel, a template and a segment through GraphQL, and passes them in the environment).
//
//   CONSOLE_URL, WORKSPACE, ADMIN_EMAIL, ADMIN_PASSWORD,
//   TEMPLATE_ID and CHANNEL (the campaign's template, on a webhook channel of that name),
//   JOURNEY_TEMPLATE_ID and JOURNEY_CHANNEL (the journey's, on a channel of its own),
//   ENTER_PERSON_IDS (comma-separated: people entered into the published journey, to be in flight),
//   SEGMENT_NAME and SEGMENT_SIZE (the campaign's audience),
//   JOURNEY_NAME, CAMPAIGN_NAME, PREVIEW_USER_ID (a shopper's user_id),
//   ARTEFACTS (screenshots and report.json go there)
//
// Exits non-zero on the first expectation that fails; the report holds what was seen.
import { join } from 'node:path';
import { env, expect, finish, launch, recordFailure, recorder, signIn } from './support.mjs';

const URL_ = env('CONSOLE_URL');
const ARTEFACTS = env('ARTEFACTS');
const WORKSPACE = env('WORKSPACE');

const report = { screenshots: [], steps: [], accountingSeen: [], statsSentSeen: [] };
const { shot, step, started } = recorder(report, ARTEFACTS);

// The journey as drafted: a message on the group-buy template, a wait for an order, the end.
// The wait's timeout is the one wrong field at first ("soon" is no duration).
function definition(timeout) {
  return {
    entry: { event: { name: 'Group Buy Joined' } },
    start: 'welcome',
    nodes: {
      welcome: { type: 'send', template: env('JOURNEY_TEMPLATE_ID'), channel: env('JOURNEY_CHANNEL'), next: 'wait_order', label: 'Group buy invite' },
      wait_order: { type: 'wait_event', event: 'Order Completed', timeout, on_event: 'done', on_timeout: 'reminder' },
      reminder: { type: 'send', template: env('JOURNEY_TEMPLATE_ID'), channel: env('JOURNEY_CHANNEL'), next: 'done', label: 'Reminder' },
      done: { type: 'exit' },
    },
  };
}

// The Messaging page's count of messages sent on the group-buy template.
async function templateSent(page) {
  await page.click('nav a[href="#/messaging"]');
  await page.selectOption('main form.toolbar select', 'templateId');
  await page.fill('main form.toolbar input', env('TEMPLATE_ID'));
  const answer = page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() || '').includes('messageStats'));
  await page.click('main form.toolbar button[type=submit]');
  const api = (await (await answer).json()).data.messageStats.sent;
  await page.waitForSelector('[data-testid=message-stats]');
  const shown = await page.$$eval('[data-testid=message-stats] tr', (rows) => rows.find((r) => r.querySelector('th')?.textContent === 'Sent')?.querySelector('td')?.textContent);
  expect(Number(shown.replace(/\D/g, '')) === api, `the Messaging page shows ${shown} sent, the API ${api}`);
  return api;
}

const browser = await launch();
try {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));

  step('sign in');
  await page.goto(URL_, { waitUntil: 'load' });
  await signIn(page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'), WORKSPACE);
  expect((await page.textContent('nav')).includes('Campaigns'), 'a Campaigns page in the navigation');

  step('journey builder: a draft with one wrong field');
  await page.click('nav a[href="#/journeys"]');
  await page.click('main button:has-text("New journey")');
  await page.waitForSelector('[data-testid=journey-builder]');
  await page.fill('[data-testid=journey-builder] input[aria-label=Name]', env('JOURNEY_NAME'));
  await page.fill('[data-testid=definition]', JSON.stringify(definition('soon'), null, 2));
  // The graph follows the JSON as it is typed, before anything is saved.
  await page.waitForFunction(() => document.querySelector('[data-testid=builder-graph]')?.getAttribute('data-nodes') === 'welcome,wait_order,done,reminder');
  await page.waitForSelector('[data-testid=builder-graph] canvas');
  await page.click('[data-testid=journey-builder] button:has-text("Create")');
  await page.waitForSelector('[data-testid=journey-builder] [role=alert]');
  report.draftError = await page.textContent('[data-testid=journey-builder] [role=alert]');
  const path = (await page.textContent('[data-testid=error-path] code')).trim();
  report.draftErrorPath = path;
  expect(path === 'nodes.wait_order.timeout', `the error names the JSON path of the wrong field: ${path}`);
  await shot(page, 'journey-builder-error');

  step('journey builder: fixed, created, published');
  await page.fill('[data-testid=definition]', JSON.stringify(definition('2d'), null, 2));
  await page.click('[data-testid=journey-builder] button:has-text("Create")');
  await page.waitForSelector('[data-testid=journey-builder] button:has-text("Publish")');
  expect((await page.$('[data-testid=journey-builder] [role=alert]')) === null, 'no error once fixed');
  await page.waitForSelector(`[data-testid=journey-list] button:has-text("${env('JOURNEY_NAME')}")`);
  await page.click('[data-testid=journey-builder] button:has-text("Publish")');
  await page.waitForSelector('[data-testid=journey-builder] p[role=status]:has-text("Published version 1")');
  await page.waitForSelector(`[data-testid=journey-list] tr:has-text("${env('JOURNEY_NAME')}") .status-active`);
  await page.waitForSelector('[data-testid=journey-steps] tr[data-node=wait_order]');
  await shot(page, 'journey-published');

  step("journey builder: a person's path previewed");
  await page.selectOption('[data-testid=preview] select', 'user_id');
  await page.fill('[data-testid=preview] input[aria-label=Identifier]', env('PREVIEW_USER_ID'));
  await page.click('[data-testid=preview] button[type=submit]');
  await page.waitForSelector('[data-testid=preview-steps] tbody tr');
  const kinds = await page.$$eval('[data-testid=preview-steps] tbody tr', (rows) => rows.map((r) => `${r.getAttribute('data-node')}:${r.getAttribute('data-kind')}`));
  report.previewSteps = kinds;
  // No order in the preview's events: invited, the wait times out after two days, the reminder, the end.
  const want = ['welcome:entered', 'welcome:send', 'wait_order:wait_event', 'wait_order:timeout', 'reminder:send', 'done:exit'];
  expect(JSON.stringify(kinds) === JSON.stringify(want), `preview steps ${kinds.join(' ')}`);
  const times = await page.$$eval('[data-testid=preview-steps] tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
  report.previewTimes = times;
  expect(times[0] !== times[3], 'the timeout is later on the simulated clock than the entry');
  await page.locator('[data-testid=preview]').scrollIntoViewIfNeeded();
  await shot(page, 'journey-preview');

  step('journey builder: publish version 2 with people in flight, moving them');
  // Three shoppers entered through the public API with the operator's own token, as a script would.
  const entered = env('ENTER_PERSON_IDS').split(',');
  const journeyId = await page.evaluate(async ({ name, persons }) => {
    const { token } = JSON.parse(sessionStorage.getItem('cdp.console.session'));
    const ask = async (query, variables) => {
      const r = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      const body = await r.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };
    const { journeys } = await ask('{ journeys(limit: 100) { id name } }', {});
    const id = journeys.find((j) => j.name === name).id;
    for (const p of persons) {
      const { enterJourney } = await ask('mutation($id: ID!, $p: ID!) { enterJourney(id: $id, personId: $p) { entered reason } }', { id, p });
      if (!enterJourney.entered) throw new Error(`not entered: ${enterJourney.reason}`);
    }
    return id;
  }, { name: env('JOURNEY_NAME'), persons: entered });
  report.journeyId = journeyId;
  // Until the journey's steps show them waiting for an order (the page asked afresh each time).
  for (let i = 0; ; i++) {
    await page.click('nav a[href="#/campaigns"]');
    await page.click('nav a[href="#/journeys"]');
    await page.click(`[data-testid=journey-list] button:has-text("${env('JOURNEY_NAME')}")`);
    await page.waitForSelector('[data-testid=journey-steps] tr[data-node=wait_order]');
    const waiting = (await page.textContent('[data-testid=journey-steps] tr[data-node=wait_order] td:nth-child(3)')).trim();
    if (waiting === String(entered.length)) break;
    expect(i < 30, `${waiting} waiting at wait_order, ${entered.length} entered`);
    await page.waitForTimeout(500);
  }
  await page.click(`[data-testid=journey-list] tr:has-text("${env('JOURNEY_NAME')}") button.edit`);
  await page.waitForSelector('[data-testid=journey-builder] :text("Version 1")');
  await page.fill('[data-testid=definition]', JSON.stringify(definition('1d'), null, 2));
  await page.click('[data-testid=journey-builder] button:has-text("Publish")');
  await page.waitForSelector('[data-testid=migration] [data-testid=moves] tr[data-node=stay]');
  const stay = (await page.textContent('[data-testid=moves] tr[data-node=stay] td:nth-child(2)')).trim();
  expect(stay === String(entered.length), `the dry run keeps ${stay} on version 1 when they finish there`);
  await page.check('[data-testid=migration] input[type=radio] >> nth=1');
  await page.fill('[data-testid=migration] textarea', '{"wait_order": "wait_order"}');
  await page.locator('[data-testid=migration] textarea').blur();
  await page.waitForSelector('[data-testid=moves] tr[data-node=wait_order]');
  const moving = (await page.textContent('[data-testid=moves] tr[data-node=wait_order] td:nth-child(2)')).trim();
  expect(moving === String(entered.length), `the dry run moves ${moving} to wait_order`);
  report.dryRunMoves = await page.$$eval('[data-testid=moves] tbody tr', (rows) => rows.map((r) => r.textContent));
  await shot(page, 'journey-migration');
  await page.click('[data-testid=migration] button:has-text("Publish this way")');
  await page.waitForSelector(`[data-testid=journey-builder] p[role=status]:has-text("Published version 2 (${entered.length} people moved)")`);
  expect((await page.$('[data-testid=migration]')) === null, 'the migration choice is gone once published');

  step('messaging: nothing sent on the group-buy template yet (the preview sends nothing)');
  report.templateSentBefore = await templateSent(page);
  expect(report.templateSentBefore === 0, `sent before the campaign: ${report.templateSentBefore}`);
  await shot(page, 'messaging-before');

  step('campaigns: the group-buy campaign with a 10% holdout');
  await page.click('nav a[href="#/campaigns"]');
  await page.waitForSelector('form.campaign-form');
  await page.waitForSelector(`form.campaign-form select[name=segment] option:has-text("${env('SEGMENT_NAME')}")`, { state: 'attached' });
  await page.fill('form.campaign-form input[name=name]', env('CAMPAIGN_NAME'));
  await page.selectOption('form.campaign-form select[name=segment]', { label: `${env('SEGMENT_NAME')} (${env('SEGMENT_SIZE')})` });
  await page.selectOption('form.campaign-form select[name=template]', env('TEMPLATE_ID'));
  await page.fill('form.campaign-form input[name=channel]', env('CHANNEL'));
  await page.fill('form.campaign-form input[name=holdoutPct]', '10');
  await page.fill('form.campaign-form input[name=ratePerSecond]', '50');
  // Every accounting line and message count the page shows, from before the campaign exists.
  await page.evaluate(() => {
    window.__seen = { accounting: [], sent: [] };
    const observer = new MutationObserver(() => {
      const check = document.querySelector('[data-testid=accounting-check]')?.textContent;
      if (check && window.__seen.accounting.at(-1) !== check) window.__seen.accounting.push(check);
      const sent = document.querySelector('[data-testid=campaign-message-stats] td[data-field=sent]')?.textContent;
      if (sent && window.__seen.sent.at(-1) !== sent) window.__seen.sent.push(sent);
    });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
  });
  await page.click('form.campaign-form button[type=submit]');
  await page.waitForSelector('[data-testid=campaign] [data-testid=campaign-accounting]');
  await shot(page, 'campaign-sending');
  await page.waitForSelector('[data-testid=accounting-check][data-closed=true]', { timeout: 90000 });
  // The messages' own count catches up with the accounting's (it is read just after it).
  await page.waitForFunction(() => {
    const sent = document.querySelector('[data-testid=campaign-accounting] tr[data-field=sent] td')?.textContent;
    return sent && document.querySelector('[data-testid=campaign-message-stats] td[data-field=sent]')?.textContent === sent;
  });
  const seen = await page.evaluate(() => window.__seen);
  report.accountingSeen = seen.accounting;
  report.statsSentSeen = seen.sent;
  const field = async (name) => Number((await page.textContent(`[data-testid=campaign-accounting] tr[data-field=${name}] td`)).replace(/\D/g, ''));
  const shown = {};
  for (const name of ['audience', 'sent', 'skipped', 'failed', 'cancelled', 'pending', 'holdout']) shown[name] = await field(name);
  report.campaignShown = shown;
  expect(shown.audience === Number(env('SEGMENT_SIZE')), `audience ${shown.audience} is the segment's ${env('SEGMENT_SIZE')}`);
  expect(shown.sent + shown.skipped + shown.failed + shown.cancelled === shown.audience, `the accounting closes: ${JSON.stringify(shown)}`);
  // The holdout's size is checked exactly by the test (a salted hash can hold out nobody of 60).
  expect(shown.sent > 0, `sends: ${JSON.stringify(shown)}`);
  expect(Number((await page.getAttribute('[data-testid=campaign-progress]', 'value'))) === shown.audience, 'the progress bar is full');
  // The stats moved: the first message count the page showed is below the last one.
  const sentSeen = seen.sent.map((s) => Number(s.replace(/\D/g, '')));
  expect(sentSeen.length >= 1 && sentSeen.at(-1) === shown.sent, `message stats reached ${shown.sent}: ${seen.sent}`);
  expect(seen.accounting.length >= 2 && !seen.accounting[0].includes('✓'), `the accounting was seen moving: ${seen.accounting.join(' | ')}`);
  await page.waitForSelector(`[data-testid=campaign-list] tr:has-text("${env('CAMPAIGN_NAME')}") .status-finished`);
  await page.waitForSelector(shown.holdout > 0 ? '[data-testid=experiment-arms] tr[data-arm=holdout]' : '[data-testid=experiment]');
  report.experiment = await page.textContent('[data-testid=experiment]');
  await shot(page, 'campaign-closed');

  step('messaging: the template\'s stats moved by what the campaign sent');
  report.templateSentAfter = await templateSent(page);
  expect(report.templateSentAfter === shown.sent, `sent after the campaign: ${report.templateSentAfter}, the campaign sent ${shown.sent}`);
  await shot(page, 'messaging-after');
  await page.click('nav a[href="#/campaigns"]');
  await page.click(`[data-testid=campaign-list] button:has-text("${env('CAMPAIGN_NAME')}")`);
  await page.waitForSelector('[data-testid=accounting-check][data-closed=true]');

  step('the same page in Chinese');
  await page.click('nav button.lang');
  await page.waitForSelector('h2:has-text("营销活动")');
  expect((await page.textContent('[data-testid=campaign-accounting]')).includes('受众'), 'the accounting in Chinese');
  await shot(page, 'campaign-zh');
  await page.click('nav button.lang');
} catch (error) {
  await recordFailure(browser, report, shot);
  throw error;
} finally {
  await finish(browser, report, ARTEFACTS, started);
}
