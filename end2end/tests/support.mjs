// Starts a real Corral (release build) on a free port with its own data directory, and a real
// Chromium; helpers for the API and for reading pages.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.CORRAL_BIN ?? 'target/release/corral';
const SITE_ROOT = process.env.CORRAL_SITE_ROOT ?? 'target/site';

export async function startCorral() {
  const dataDir = mkdtempSync(join(tmpdir(), 'corral-e2e-'));
  const child = spawn(BIN, ['--bind', '127.0.0.1:0', '--data-dir', dataDir, '--site-root', SITE_ROOT], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RUST_LOG: 'info' },
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
    log: () => log,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
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

/** The names in the models table, in order. */
export async function tableNames(page) {
  return page.locator('table.models tbody tr td.col-name').allInnerTexts();
}
