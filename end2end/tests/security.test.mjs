// The page under its Content-Security-Policy in Chromium: it hydrates, goes live and changes
// things with no violation logged, and another site cannot frame it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, launchBrowser, startCorral, waitForNames, waitLive } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('the page carries its security headers and works under its policy', async () => {
  const server = await startCorral();
  try {
    await createModel(server, 'Under policy', '/models/policy.gguf');
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    page.on('pageerror', (err) => errors.push(String(err)));
    const response = await page.goto(server.url);
    const headers = response.headers();
    const policy = headers['content-security-policy'];
    assert.match(policy, /script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}' 'wasm-unsafe-eval'/);
    assert.match(policy, /frame-ancestors 'none'/);
    assert.doesNotMatch(policy, /unsafe-inline/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.equal(headers['x-frame-options'], 'DENY');

    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 15000 });
    await waitLive(page);
    // A server function and a live update, both under the policy.
    await page.getByRole('button', { name: 'Add model' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add model' });
    await dialog.getByLabel('Name').fill('Added under policy');
    await dialog.getByLabel('Model path').fill('/models/added.gguf');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await waitForNames(page, ['Added under policy', 'Under policy']);
    await page.goto(`${server.url}/monitoring`);
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 15000 });
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await server.stop();
  }
});

test('another site cannot frame the page', async () => {
  const server = await startCorral();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const messages = [];
    page.on('console', (msg) => messages.push(msg.text()));
    await page.setContent(`<iframe id="framed" src="${server.url}/"></iframe>`);
    await page.waitForTimeout(1500);
    const framed = page.frames().find((f) => f !== page.mainFrame());
    const hydrated = framed
      ? await framed.evaluate(() => document.body?.dataset?.hydrated ?? null).catch(() => null)
      : null;
    assert.equal(hydrated, null, 'the framed page never ran');
    assert.ok(messages.some((m) => m.includes('frame-ancestors')), messages.join('\n'));
    await context.close();
  } finally {
    await server.stop();
  }
});
