// What every end-to-end script of the console shares: its settings from the environment, the
// expectation that stops a run, and the record of its steps and screenshots (report.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

export function expect(condition, message) {
  if (!condition) throw new Error(`expectation failed: ${message}`);
}

// Steps (with their time since the start) and numbered full-page screenshots, kept in `report`;
// the script writes report.json itself, with what else it measured.
export function recorder(report, artefacts) {
  mkdirSync(artefacts, { recursive: true });
  report.screenshots ??= [];
  report.steps ??= [];
  const started = Date.now();
  return {
    started,
    async shot(page, name) {
      const path = join(artefacts, `${String(report.screenshots.length + 1).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path, fullPage: true });
      report.screenshots.push(path);
      console.log(`screenshot: ${path}`);
    },
    step(name) {
      report.steps.push({ name, atMs: Date.now() - started });
      console.log(`-- ${name}`);
    },
  };
}

// The sign-in form filled and sent; resolves once the signed-in console shows its navigation.
export async function signIn(page, email, password, workspace) {
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.fill('input[name=workspace]', workspace);
  await page.click('form[aria-label] button[type=submit]');
  await page.waitForSelector('nav');
}

// Debian's chromium, headless (no browser download is possible on this machine).
export async function launch() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

// What every open page showed when the run went wrong, with its text (an API error is in it).
export async function recordFailure(browser, report, shot) {
  for (const context of browser.contexts()) {
    for (const open of context.pages()) {
      await shot(open, 'failure').catch(() => null);
      report.failureText = (await open.innerText('body').catch(() => '')).slice(0, 2000);
    }
  }
  console.error(`page text: ${report.failureText}`);
}

// report.json written (with the run's total time) and the browser closed, whatever happened.
export async function finish(browser, report, artefacts, started) {
  report.totalMs = Date.now() - started;
  writeFileSync(join(artefacts, 'report.json'), JSON.stringify(report, null, 2));
  console.log(`report: ${join(artefacts, 'report.json')}`);
  await browser.close();
}
