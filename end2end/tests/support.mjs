// Starts a real Corral (release build) on a free port with its own data directory, and a real
// Chromium; helpers for the API and for reading pages.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BIN = process.env.CORRAL_BIN ?? 'target/release/corral';
const SITE_ROOT = process.env.CORRAL_SITE_ROOT ?? 'target/site';

/** Starts Corral; `port` and `dataDir` let a test restart it in place, `extra` adds flags, `env` variables. */
export async function startCorral({ port = 0, dataDir = mkdtempSync(join(tmpdir(), 'corral-e2e-')), extra = [], env = {} } = {}) {
  // Model processes get ports of their own, away from Corral's usual range.
  const args = ['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--site-root', SITE_ROOT, '--ports', '23100-23199', ...extra];
  const child = spawn(BIN, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RUST_LOG: 'info', ...env },
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Corral did not start:\n${log}`)), 20000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = log.match(/listening on (http:\/\/[0-9.:]+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`Corral exited with ${code}:\n${log}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    dataDir,
    log: () => log,
    /** Stops Corral; its data is removed unless `keepData`. */
    async stop({ keepData = false } = {}) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page that records console errors and uncaught exceptions. */
export async function openPage(browser, url, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') page.errors.push(msg.text()); });
  page.on('pageerror', (err) => page.errors.push(String(err)));
  await page.goto(url);
  if (options.javaScriptEnabled !== false) {
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 15000 });
  }
  return page;
}

export async function api(server, path, body = {}) {
  const response = await fetch(`${server.url}/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function createModel(server, name, path) {
  const reply = await api(server, 'models/create', { model: { name, path } });
  if (reply.status !== 200) throw new Error(`create ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Waits until the header says the live channel is connected. */
export async function waitLive(page) {
  await page.locator('.connection[data-state="live"]').waitFor({ timeout: 15000 });
}

/** Waits until the table shows exactly these names (in table order). */
export async function waitForNames(page, names) {
  await page.waitForFunction(
    (expected) => JSON.stringify([...document.querySelectorAll('table.models tbody td.col-name')].map((td) => td.innerText)) === JSON.stringify(expected),
    names,
    { timeout: 10000 },
  );
}

/** The names in the models table, in order. */
export async function tableNames(page) {
  return page.locator('table.models tbody tr td.col-name').allInnerTexts();
}
