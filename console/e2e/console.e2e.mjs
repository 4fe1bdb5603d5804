// End to end in a real browser: Debian's chromium driven by playwright-core, against a running
// stack's console (tests/test_console_e2e.py starts it and passes what it made in the environment).
//
//   CONSOLE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, VIEWER_EMAIL, VIEWER_PASSWORD, WORKSPACE,
//   PERSON_USER_ID (searched; the viewer is refused forgetting it), FORGET_USER_ID (the admin forgets it),
//   SEGMENT_RULE and SEGMENT_COUNT (typed; the count it must show), DROP_OFF_NAME,
//   DASHBOARD_NAME (a saved dashboard, its first tile a trends one), TREND_DASHBOARD (the name the
//   trends page saves its query under),
//   JOURNEY_NAME and JOURNEY_ENTERED (a published journey and how many people entered its first step),
//   ARTEFACTS (screenshots and report.json go there)
//
// Exits non-zero on the first expectation that fails; the report holds the measured figures.
import { env, expect, finish, launch, recordFailure, recorder, signIn } from './support.mjs';

const URL_ = env('CONSOLE_URL');
const ARTEFACTS = env('ARTEFACTS');
const WORKSPACE = env('WORKSPACE');

const report = { screenshots: [], keystrokeToCountMs: [], steps: [] };
const { shot, step, started } = recorder(report, ARTEFACTS);

// The rule is typed key by key; the time from the last keydown to the count of exactly that
// rule on screen is taken in the page (performance.now on both ends).
async function timeCount(page, keys) {
  await page.evaluate(() => {
    window.__lastKey = 0;
    window.__shown = new Promise((resolve) => {
      const target = document.querySelector('[data-testid=preview-count]');
      const observer = new MutationObserver(() => {
        const rule = target.getAttribute('data-rule');
        if (rule && rule === document.querySelector('textarea').value.trim()) {
          observer.disconnect();
          resolve({ at: performance.now(), rule, text: target.textContent });
        }
      });
      observer.observe(target, { attributes: true, childList: true, characterData: true, subtree: true });
    });
    document.querySelector('textarea').addEventListener('keydown', () => (window.__lastKey = performance.now()));
  });
  for (const key of keys) {
    if (key.length === 1) await page.keyboard.type(key, { delay: 0 });
    else await page.keyboard.press(key);
    await page.waitForTimeout(25); // a fast typist: 40 keys a second
  }
  const shown = await page.evaluate(() => window.__shown.then((s) => ({ ...s, ms: s.at - window.__lastKey })));
  report.keystrokeToCountMs.push(Math.round(shown.ms * 10) / 10);
  return shown;
}

const browser = await launch();
try {
  // A Chinese browser (the demo workspace opens in Chinese in any browser: src/app.test.tsx).
  const admin = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1400, height: 900 } });
  const page = await admin.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));

  step('first load');
  const t0 = Date.now();
  await page.goto(URL_, { waitUntil: 'load' });
  await page.waitForSelector('input[name=email]');
  report.firstLoadMs = Date.now() - t0;
  report.navigation = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const bytes = performance.getEntriesByType('resource').reduce((sum, r) => sum + (r.transferSize || 0), nav.transferSize || 0);
    return { domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd), loadMs: Math.round(nav.loadEventEnd), transferBytes: bytes };
  });
  await shot(page, 'login');

  step('sign in as admin');
  await signIn(page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'), WORKSPACE);
  expect((await page.getAttribute('html', 'lang')) === 'zh-CN', 'Chinese first');
  expect((await page.textContent('nav')).includes('概览'), 'Chinese navigation');

  step('overview');
  await page.waitForSelector('[data-testid=metric-orders] canvas');
  await page.waitForFunction(() => {
    const text = document.querySelector('[data-testid=metric-orders] .big')?.textContent ?? '0';
    return Number(text.replace(/[^\d.]/g, '')) > 0;
  });
  report.overviewOrders = await page.textContent('[data-testid=metric-orders] .big');
  // AARRR for the 90 days asked next: the acquisition row shows the API's new people.
  const aarrrAnswer = page.waitForResponse((r) => {
    const body = r.request().postData() || '';
    if (!r.url().endsWith('/graphql') || !body.includes('aarrr(')) return false;
    const { dateFrom, dateTo } = JSON.parse(body).variables.input;
    return (Date.parse(dateTo) - Date.parse(dateFrom)) / 86400000 > 60;
  });
  await page.selectOption('select[aria-label="时间范围"]', '90');
  const aarrr = (await (await aarrrAnswer).json()).data.aarrr;
  const newShown = `[data-testid=aarrr] tr[data-field=newPersons] td:nth-child(3)`;
  await page.waitForFunction(
    ([selector, want]) => document.querySelector(selector)?.textContent === want,
    [newShown, aarrr.current.newPersons.toLocaleString('zh-CN')],
  );
  expect(aarrr.current.newPersons > 0, `AARRR new people over 90 days: ${aarrr.current.newPersons}`);
  report.aarrrNewPersons = aarrr.current.newPersons;
  for (const tile of ['newReturning', 'lifecycleStages', 'rfmGroups', 'ltvByChannel']) {
    await page.waitForSelector(`[data-testid=tile-${tile}] canvas`);
  }
  expect((await page.$$('[role=alert]')).length === 0, 'no API error on the overview');
  await page.waitForTimeout(300);
  await shot(page, 'overview');

  step('people: search a person');
  await page.click('nav a[href="#/people"]');
  await page.selectOption('select[aria-label="标识类型"]', 'user_id');
  await page.fill('input[aria-label="标识值"]', env('PERSON_USER_ID'));
  await page.click('form[role=search] button[type=submit]');
  await page.waitForSelector('[data-testid=person]');
  const person = await page.textContent('[data-testid=person]');
  expect(person.includes(env('PERSON_USER_ID')), 'the 360 lists the identifier searched');
  await shot(page, 'person-360');

  step('segments: the count follows the rule as it is typed');
  await page.click('nav a[href="#/segments"]');
  await page.click('textarea');
  const rule = env('SEGMENT_RULE');
  const first = await timeCount(page, [...rule]);
  expect(first.rule === rule, `count shown for the typed rule (${first.rule})`);
  expect(first.text.replace(/\D/g, '') === env('SEGMENT_COUNT'), `count ${first.text} is ${env('SEGMENT_COUNT')}`);
  // More samples: flip the last literal back and forth (true <-> false), each a new rule.
  for (let i = 0; i < 4; i++) {
    const toFalse = i % 2 === 0;
    const keys = [...Array(toFalse ? 4 : 5).fill('Backspace'), ...(toFalse ? 'false' : 'true')];
    const shown = await timeCount(page, keys);
    expect(shown.rule.endsWith(toFalse ? 'false' : 'true'), 'count for the flipped rule');
  }
  await page.fill('input[aria-label="名称"]', '618 VIP (console)');
  await page.click('form.toolbar button[type=submit]');
  await page.waitForSelector('text=618 VIP (console)', { state: 'attached' });
  await page.waitForSelector('[data-testid=segment-list] >> text=618 VIP (console)');
  await page.click('[data-testid=segment-list] tr:has-text("618 VIP (console)") button.members');
  await page.waitForSelector('[data-testid=members] li');
  const members = (await page.$$('[data-testid=members] li')).length;
  expect(members === Math.min(20, Number(env('SEGMENT_COUNT'))), `members listed: ${members}`);
  await shot(page, 'segments');

  step('funnel: run it and save a drop-off as a segment');
  await page.click('nav a[href="#/funnels"]');
  await page.click('form.card button[type=submit]');
  await page.waitForSelector('[data-testid=funnel-steps] tbody tr');
  await page.waitForSelector('canvas');
  await page.fill('input[aria-label="名称"]', env('DROP_OFF_NAME'));
  await page.click('[data-testid=funnel-steps] tbody tr:nth-child(2) button');
  await page.waitForSelector('p[role=status]:has-text("已保存人群")');
  report.dropOff = await page.textContent('p[role=status]');
  // The segment holds exactly the people the table shows dropping off between steps 1 and 2.
  const shownDrop = await page.textContent('[data-testid=funnel-steps] tbody tr:nth-child(2) td:nth-child(4)');
  const savedPersons = report.dropOff.match(/(\d[\d,]*) 人/)[1];
  expect(savedPersons === shownDrop.trim(), `saved ${savedPersons} people, the table shows ${shownDrop} dropping off`);
  await shot(page, 'funnel');

  step('retention: the cohort table shows the API\'s numbers; a cell saved as a segment');
  await page.click('nav a[href="#/retention"]');
  const retentionAnswer = page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() || '').includes('retentionMatrix'));
  await page.click('form.card button[type=submit]');
  const matrix = (await (await retentionAnswer).json()).data.retentionMatrix;
  expect(matrix.rows.length > 0, 'retention has cohorts');
  await page.waitForSelector('[data-testid=retention] tbody tr');
  // A cell past period 0 with people in it when there is one (period 0 of first-time retention is the cohort).
  let rowAt = 0;
  let periodAt = 0;
  matrix.rows.forEach((r, i) => r.counts.forEach((c, p) => {
    if (p > 0 && c > 0 && periodAt === 0) [rowAt, periodAt] = [i, p];
  }));
  const row = matrix.rows[rowAt];
  const cellSelector = `[data-testid=retention] tbody tr:nth-child(${rowAt + 1}) td:nth-child(${periodAt + 3})`;
  const shownSize = (await page.textContent(`[data-testid=retention] tbody tr:nth-child(${rowAt + 1}) td:nth-child(2)`)).trim();
  expect(shownSize === row.size.toLocaleString('zh-CN'), `cohort size shown ${shownSize}, API ${row.size}`);
  const shownShare = (await page.textContent(cellSelector)).trim();
  expect(shownShare === `${(row.shares[periodAt] * 100).toFixed(1)}%`, `period ${periodAt} shown ${shownShare}, API ${row.shares[periodAt]}`);
  report.retentionCell = { cohort: row.cohort, period: periodAt, persons: row.counts[periodAt], share: row.shares[periodAt] };
  await page.click(`${cellSelector} button`);
  await page.waitForSelector('p[role=status]:has-text("已保存人群")');
  const savedCell = (await page.textContent('p[role=status]')).match(/(\d[\d,]*) 人/)[1];
  expect(savedCell === row.counts[periodAt].toLocaleString('zh-CN'), `saved ${savedCell} people, the cell holds ${row.counts[periodAt]}`);
  await shot(page, 'retention');

  step('paths: a Sankey from the first product view');
  await page.click('nav a[href="#/paths"]');
  const pathsAnswer = page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() || '').includes('paths('));
  await page.click('form.card button[type=submit]');
  const paths = (await (await pathsAnswer).json()).data.paths;
  await page.waitForSelector('[data-testid=paths-total]');
  await page.waitForSelector('canvas');
  const shownTotal = await page.textContent('[data-testid=paths-total]');
  expect(shownTotal.includes(paths.totalPersons.toLocaleString('zh-CN')) && paths.totalPersons > 0, `paths total ${shownTotal}, API ${paths.totalPersons}`);
  expect((await page.$$('[data-testid=paths] tbody tr')).length === paths.paths.length, 'one row per path');
  await shot(page, 'paths');

  step('trends: two series and a formula, the totals the API answered, saved as a dashboard');
  await page.click('nav a[href="#/trends"]');
  await page.click('button:has-text("添加指标")');
  await page.fill('input[aria-label="事件 B"]', 'Product Viewed');
  await page.selectOption('select[aria-label="统计方式 B"]', 'persons');
  await page.fill('input[aria-label="公式"]', 'A / B');
  const trendAnswer = page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() || '').includes('trends('));
  await page.click('form.card button[type=submit]');
  const trendResponse = await trendAnswer;
  const trend = (await trendResponse.json()).data.trends;
  report.trendInput = JSON.parse(trendResponse.request().postData()).variables.input;
  await page.waitForSelector('[data-testid=trend-totals]');
  await page.waitForSelector('canvas');
  const orders = trend.series[0].total;
  const shownTrend = await page.textContent('[data-testid=trend-totals] tbody tr:first-child td:nth-child(2)');
  expect(orders > 0 && shownTrend.trim() === orders.toLocaleString('zh-CN'), `trend total ${shownTrend}, API ${orders}`);
  expect(trend.series.length === 3 && trend.series[2].math === 'formula', 'two series and the formula line');
  report.trendTotals = trend.series.map((line) => line.total);
  await page.fill('input[aria-label="卡片名称"]', env('TREND_DASHBOARD'));
  await page.click('button:has-text("保存为看板")');
  await page.waitForSelector('[role=status]');
  await shot(page, 'trends');

  step('dashboards: a saved dashboard drawn with its tile figure');
  await page.click('nav a[href="#/dashboards"]');
  await page.waitForSelector(`[data-testid=dashboard-list] button:has-text("${env('DASHBOARD_NAME')}")`);
  const boardAnswer = page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() || '').includes('dashboard('));
  const boardAsked = Date.now();
  await page.click(`[data-testid=dashboard-list] button:has-text("${env('DASHBOARD_NAME')}")`);
  const board = (await (await boardAnswer).json()).data.dashboard;
  await page.waitForSelector('[data-testid=tile-0] canvas');
  report.dashboardLoadMs = Date.now() - boardAsked;
  const tileTotal = board.tiles[0].result.series[0].total;
  const tileShown = (await page.textContent('[data-testid=tile-0] .big')).trim();
  expect(tileTotal > 0 && tileShown === tileTotal.toLocaleString('zh-CN', { maximumFractionDigits: 2 }), `tile shows ${tileShown}, API ${tileTotal}`);
  await shot(page, 'dashboard');

  step('switch to English; journeys and settings');
  await page.click('nav button.lang');
  expect((await page.textContent('nav')).includes('Overview'), 'English navigation');
  await page.click('nav a[href="#/journeys"]');
  await page.waitForSelector('h2:has-text("Journeys")');
  await page.click(`[data-testid=journey-list] button:has-text("${env('JOURNEY_NAME')}")`);
  await page.waitForSelector('[data-testid=journey-steps] tr[data-node=wait_order]');
  await page.waitForSelector('[data-testid=journey] canvas');
  const enteredStep = (await page.textContent('[data-testid=journey-steps] tr[data-node=wait_order] td:nth-child(2)')).trim();
  expect(enteredStep === env('JOURNEY_ENTERED'), `the first step shows ${enteredStep} entered, ${env('JOURNEY_ENTERED')} were`);
  await shot(page, 'journey-graph');
  await page.click('[data-testid=journey] button.danger:has-text("Pause")');
  await page.waitForSelector('[role=dialog]');
  await page.click('[role=dialog] button.danger');
  await page.waitForSelector('[data-testid=journey] button.danger:has-text("Resume")');
  await page.waitForSelector(`[data-testid=journey-list] tr:has-text("${env('JOURNEY_NAME')}") .status-paused`);
  await shot(page, 'journeys');
  await page.click('nav a[href="#/messaging"]');
  await page.fill('main form.toolbar input', 'campaign-without-sends');
  await page.click('main form.toolbar button[type=submit]');
  await page.waitForSelector('[data-testid=rate-deliveryRate]');
  await shot(page, 'messaging');
  await page.click('nav a[href="#/settings"]');
  await page.waitForSelector('[data-testid=api-keys]');
  await page.fill('form.toolbar input', 'e2e key');
  await page.click('form.toolbar button[type=submit]');
  const secret = await page.textContent('p.secret code');
  expect(secret.startsWith('cdp_sk_'), 'the new key is shown');
  await page.waitForSelector('[data-testid=api-keys] tr:has-text("e2e key")');
  await shot(page, 'settings-key-shown-once');
  // Shown once: gone after leaving the page, and never in the list.
  await page.click('nav a[href="#/journeys"]');
  await page.click('nav a[href="#/settings"]');
  await page.waitForSelector('[data-testid=api-keys] tr:has-text("e2e key")');
  expect((await page.$('p.secret')) === null, 'the secret is not shown again');
  expect(!(await page.content()).includes(secret), 'the secret is nowhere on the page');
  await page.click('[data-testid=api-keys] tr:has-text("e2e key") button.danger');
  await page.click('[role=dialog] button.danger');
  await page.waitForSelector('[data-testid=api-keys] tr:has-text("e2e key"):has-text("Revoked")');
  await shot(page, 'settings');
  await page.click('nav button.lang'); // back to Chinese for the rest

  step('admin forgets a person, after confirming');
  await page.click('nav a[href="#/people"]');
  await page.fill('input[aria-label="标识值"]', env('FORGET_USER_ID'));
  await page.click('form[role=search] button[type=submit]');
  await page.waitForSelector('[data-testid=person]');
  await page.click('[data-testid=person] > button.danger');
  await page.waitForSelector('[role=dialog]');
  await shot(page, 'forget-confirm');
  await page.click('[role=dialog] button.danger');
  await page.waitForSelector('p[role=status]:has-text("已删除")');

  step('a viewer is refused forgetting');
  const viewer = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1400, height: 900 } });
  const vpage = await viewer.newPage();
  await vpage.goto(URL_);
  await signIn(vpage, env('VIEWER_EMAIL'), env('VIEWER_PASSWORD'), WORKSPACE);
  await vpage.click('nav a[href="#/people"]');
  await vpage.fill('input[aria-label="标识值"]', env('PERSON_USER_ID'));
  await vpage.click('form[role=search] button[type=submit]');
  await vpage.waitForSelector('[data-testid=person]');
  await vpage.click('[data-testid=person] > button.danger');
  await vpage.click('[role=dialog] button.danger');
  await vpage.waitForSelector('[role=alert]');
  report.viewerRefusal = await vpage.textContent('[role=alert]');
  expect(/FORBIDDEN|PERMISSION|admin|scope/i.test(report.viewerRefusal), `a refusal: ${report.viewerRefusal}`);
  await shot(vpage, 'viewer-refused');
} catch (error) {
  await recordFailure(browser, report, shot);
  throw error;
} finally {
  await finish(browser, report, ARTEFACTS, started);
}
