// What the browser tests share: Chromium (Debian's, driven by playwright-core), one context per
// user, console errors collected per page, and small waits on what the user sees.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const PASSWORD = 'Correct-Horse-9';

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

export function artifactsDir() {
  const dir = process.env.BROWSER_ARTIFACTS ?? mkdtempSync(path.join(os.tmpdir(), 'starling-browser-artifacts-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A user in a browser context of their own, with every console error and page error kept. */
export async function openUser(browser, baseUrl, name, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ baseURL: baseUrl, viewport });
  const page = await context.newPage();
  const user = { name, context, page, errors: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') user.errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => user.errors.push(`page error: ${e.message}`));
  return user;
}

export async function signUp(user, email, username) {
  const { page } = user;
  await page.goto('/');
  await page.getByRole('heading', { name: 'Log in to Starling' }).waitFor();
  await page.getByRole('link', { name: 'Create one' }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/** The hostname of the node the page's websocket is on, as the channel header shows it. */
export async function wsNode(page) {
  const el = page.getByTestId('ws-node');
  await el.filter({ hasText: 'node:' }).waitFor({ timeout: 10_000 });
  return (await el.textContent()).replace('node:', '').trim();
}

export async function post(page, text, box = 'post-box') {
  const input = page.getByTestId(box);
  await input.fill(text);
  await input.press('Enter');
}

export function postsWith(page, text, scope = 'post-list') {
  return page.getByTestId(scope).getByTestId('post').filter({ hasText: text });
}

export async function waitForPost(page, text, timeout = 10_000, scope = 'post-list') {
  await postsWith(page, text, scope).first().waitFor({ timeout });
}

export async function openChannel(page, displayName) {
  await page.getByRole('navigation', { name: 'Channels' }).getByRole('link', { name: displayName, exact: false }).first().click();
  await page.getByTestId('channel-title').filter({ hasText: displayName }).waitFor();
}

export function sidebarLink(page, channelName) {
  return page.locator(`.sidebar-channel[data-channel-name="${channelName}"]`);
}

export async function waitUntil(what, fn, timeout = 10_000, every = 50) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
