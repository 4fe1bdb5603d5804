// The Tags page and Settings' operators and audit log, end to end in a real browser: Debian's
// chromium driven by playwright-core against a running stack's console
// (tests/test_console_e2e_tags.py starts it and passes what it made in the environment).
//
//   CONSOLE_URL, WORKSPACE, ADMIN_EMAIL, ADMIN_PASSWORD, VIEWER_EMAIL, VIEWER_PASSWORD,
//   RULE_TAG, TAG_RULE, BAD_RULE (a tag defined with a rule; the bad rule first, refused),
//   GIFT_TAG (a tag without a rule, bulk-assigned), SEGMENT_ID and SEGMENT_COUNT (whom it goes to),
//   EXPIRES_LOCAL (its expiry, typed in the workspace's zone), NEW_OPERATOR_EMAIL,
//   ARTEFACTS (screenshots and report.json go there)
//
// Exits non-zero on the first expectation that fails.
import { env, expect, finish, launch, recordFailure, recorder, signIn } from './support.mjs';

const URL_ = env('CONSOLE_URL');
const ARTEFACTS = env('ARTEFACTS');
const WORKSPACE = env('WORKSPACE');

const report = { screenshots: [], steps: [], jobStates: [] };
const { shot, step, started } = recorder(report, ARTEFACTS);

async function openAndSignIn(page, email, password) {
  await page.goto(URL_, { waitUntil: 'load' });
  await signIn(page, email, password, WORKSPACE);
}

const browser = await launch();
try {
  const admin = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1400, height: 1000 } });
  const page = await admin.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  // The job as assignTags started it and every tagJob answer after: the progress the page was shown.
  page.on('response', async (r) => {
    const body = r.request().postData() || '';
    if (!r.url().endsWith('/graphql') || !(body.includes('tagJob(') || body.includes('assignTags('))) return;
    const data = (await r.json().catch(() => ({})))?.data;
    const job = data?.tagJob ?? data?.assignTags?.job;
    if (job) report.jobStates.push({ state: job.state, done: job.done, total: job.total, tagged: job.tagged });
  });

  step('sign in as admin; the Tags page');
  await openAndSignIn(page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
  await page.click('nav a[href="#/tags"]');
  await page.waitForSelector('h2:has-text("标签")');
  // The template library is there before anything is defined.
  await page.waitForSelector('[data-testid=tag-library] tr[data-tag=high_spender]');
  await page.waitForSelector('[data-testid=tag-library] tr[data-tag=smart_shopper]');

  step('define a tag: a wrong rule first, refused with the API message and field');
  const editor = '[data-testid=tag-editor]';
  await page.fill(`${editor} input[aria-label="标签名"]`, env('RULE_TAG'));
  await page.fill(`${editor} input[aria-label="中文名"]`, '复购两次 (e2e)');
  await page.fill(`${editor} input[aria-label="英文名"]`, 'Two orders (e2e)');
  await page.selectOption(`${editor} select[aria-label="类别"]`, 'value');
  await page.fill(`${editor} textarea`, env('BAD_RULE'));
  await page.click(`${editor} button[type=submit]`);
  await page.waitForSelector('[data-testid=define-error] [role=alert]');
  report.badRuleError = (await page.textContent('[data-testid=define-error] [role=alert]')).trim();
  expect(report.badRuleError.startsWith('rule: ') && report.badRuleError.includes('BAD_USER_INPUT'), `the refusal names the rule: ${report.badRuleError}`);
  expect((await page.$(`[data-testid=own-tags] tr[data-tag=${env('RULE_TAG')}]`)) === null, 'nothing defined');
  await shot(page, 'tags-rule-refused');

  step('the right rule, written by the condition row');
  await page.fill(`${editor} textarea`, '');
  const [path, op, value] = env('TAG_RULE').split(' ');
  await page.fill(`${editor} input[aria-label="condition path"]`, path);
  await page.selectOption(`${editor} select[aria-label="condition op"]`, op);
  await page.fill(`${editor} input[aria-label="condition value"]`, value);
  await page.click(`${editor} button.add-condition`);
  expect((await page.inputValue(`${editor} textarea`)) === env('TAG_RULE'), 'the row wrote the rule');
  await page.click(`${editor} button[type=submit]`);
  await page.waitForSelector(`[data-testid=own-tags] tr[data-tag=${env('RULE_TAG')}]`);
  expect((await page.$('[data-testid=define-error] [role=alert]')) === null, 'the refusal is gone');
  const ruleRow = await page.textContent(`[data-testid=own-tags] tr[data-tag=${env('RULE_TAG')}]`);
  expect(ruleRow.includes(env('TAG_RULE')) && ruleRow.includes('复购两次 (e2e)'), `listed with its rule: ${ruleRow}`);

  step('an assignable tag (no rule)');
  await page.fill(`${editor} input[aria-label="标签名"]`, env('GIFT_TAG'));
  await page.fill(`${editor} input[aria-label="中文名"]`, '双十二礼品 (e2e)');
  await page.fill(`${editor} input[aria-label="英文名"]`, 'Gift (e2e)');
  await page.selectOption(`${editor} select[aria-label="类别"]`, 'campaign');
  await page.fill(`${editor} textarea`, '');
  await page.click(`${editor} button[type=submit]`);
  await page.waitForSelector(`[data-testid=own-tags] tr[data-tag=${env('GIFT_TAG')}]`);

  step('bulk tagging of a segment, confirmed, its progress followed to done');
  const bulk = '[data-testid=bulk]';
  await page.selectOption(`${bulk} select[aria-label="标签"]`, env('GIFT_TAG'));
  await page.fill(`${bulk} input[type=number]`, '0.8');
  await page.selectOption(`${bulk} select[aria-label="来源"]`, 'partner');
  await page.fill(`${bulk} input[type=datetime-local]`, env('EXPIRES_LOCAL'));
  await page.selectOption(`${bulk} select[aria-label="人群"]`, env('SEGMENT_ID'));
  await page.click(`${bulk} button.danger`);
  await page.waitForSelector('[role=dialog]');
  const question = await page.textContent('[role=dialog]');
  expect(question.includes(env('GIFT_TAG')) && question.includes(env('SEGMENT_COUNT')), `the confirmation names tag and size: ${question}`);
  await shot(page, 'tags-bulk-confirm');
  await page.click('[role=dialog] button.danger');
  await page.waitForSelector('[data-testid=tag-job]');
  await page.waitForSelector('[data-testid=tag-job][data-state=done]', { timeout: 90000 });
  const progress = await page.getAttribute('[data-testid=tag-job] progress', 'value');
  expect(progress === '100', `the bar is full: ${progress}`);
  const n = env('SEGMENT_COUNT');
  report.jobProgress = (await page.textContent('[data-testid=job-progress]')).trim();
  // All done, all tagged: the page shows the last answer of tagJob.
  const last = report.jobStates[report.jobStates.length - 1];
  expect(last && last.state === 'done' && last.done === last.total && last.total > 0, `job: ${JSON.stringify(last)}`);
  expect(report.jobProgress.includes(`${last.total} / ${last.total}`) && report.jobProgress.includes(`打上标签 ${last.tagged} 人`), `progress: ${report.jobProgress}`);
  // A sample of who got it, with the source, confidence and expiry asked.
  await page.waitForSelector('[data-testid=tagged] tr[data-person]');
  const sampleRows = await page.$$eval('[data-testid=tagged] tr[data-person]', (rows) => rows.map((r) => r.textContent));
  expect(sampleRows.length === Math.min(10, Number(n)), `sample rows: ${sampleRows.length}`);
  expect(sampleRows.every((r) => r.includes('合作方') && r.includes('0.8') && r.includes('2030')), `sample: ${sampleRows[0]}`);
  await shot(page, 'tags');

  step('settings: add an operator with a role');
  await page.click('nav a[href="#/settings"]');
  await page.waitForSelector('[data-testid=operators]');
  await page.waitForSelector('[data-testid=audit-log]');
  const add = '[data-testid=add-operator]';
  await page.fill(`${add} input[type=email]`, env('NEW_OPERATOR_EMAIL'));
  await page.fill(`${add} input[type=password]`, `pw-${Date.now()}-long enough`);
  await page.selectOption(`${add} select`, 'marketer');
  await page.click(`${add} button[type=submit]`);
  const row = `[data-testid=operators] tr[data-email="${env('NEW_OPERATOR_EMAIL')}"]`;
  await page.waitForSelector(`${row} td.role:has-text("营销人员")`);

  step('change the role');
  await page.selectOption(`${row} select`, 'analyst');
  await page.click(`${row} button.set-role`);
  await page.waitForSelector(`${row} td.role:has-text("分析师")`);

  step('the audit log lists both');
  await page.waitForSelector('[data-testid=audit-log] tr[data-action="operator.add"][data-outcome=ok]:has-text("marketer")');
  await page.waitForSelector('[data-testid=audit-log] tr[data-action="operator.role"][data-outcome=ok]:has-text("analyst")');
  await page.selectOption('[data-testid=audit-section] select', 'operator.role');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid=audit-log] tbody tr')];
    return rows.length > 0 && rows.every((r) => r.getAttribute('data-action') === 'operator.role');
  });
  await shot(page, 'settings-operators-audit');
  await page.selectOption('[data-testid=audit-section] select', '');

  step('remove the operator, after confirming');
  await page.click(`${row} button.danger`);
  await page.waitForSelector('[role=dialog]');
  expect((await page.textContent('[role=dialog]')).includes(env('NEW_OPERATOR_EMAIL')), 'the confirmation names the operator');
  await page.click('[role=dialog] button.danger');
  await page.waitForSelector(row, { state: 'detached' });
  await page.waitForSelector('[data-testid=audit-log] tr[data-action="operator.remove"][data-outcome=ok]');
  await shot(page, 'settings');

  step('a viewer is refused adding an operator');
  const viewer = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1400, height: 900 } });
  const vpage = await viewer.newPage();
  await openAndSignIn(vpage, env('VIEWER_EMAIL'), env('VIEWER_PASSWORD'));
  await vpage.click('nav a[href="#/settings"]');
  await vpage.waitForSelector('[data-testid=add-operator]');
  await vpage.fill(`${add} input[type=email]`, `refused-${Date.now()}@console.test`);
  await vpage.fill(`${add} input[type=password]`, 'a long enough password');
  await vpage.click(`${add} button[type=submit]`);
  await vpage.waitForSelector('[data-testid=operators-error] [role=alert]');
  report.viewerRefusal = (await vpage.textContent('[data-testid=operators-error] [role=alert]')).trim();
  expect(report.viewerRefusal.includes('FORBIDDEN') && report.viewerRefusal.includes('admin'), `a refusal: ${report.viewerRefusal}`);
  expect((await vpage.$('[data-testid=operators]')) === null, 'the viewer sees no operator list');
  await shot(vpage, 'viewer-refused-operator');
} catch (error) {
  await recordFailure(browser, report, shot);
  throw error;
} finally {
  await finish(browser, report, ARTEFACTS, started);
}
