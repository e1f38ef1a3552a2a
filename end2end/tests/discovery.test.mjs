// Model folders in Chromium: a GGUF file in a --models-dir folder shows as Found with what its
// header says, Add makes it a model, and a file copied in later appears by itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitForNames, waitLive } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('a file in a model folder is found, added with one click, and a new one appears by itself', async () => {
  const folder = realpathSync(mkdtempSync(join(tmpdir(), 'corral-models-')));
  mkdirSync(join(folder, 'org'));
  execFileSync(BIN, ['test-model', join(folder, 'org', 'tiny.gguf')]);
  const server = await startCorral({ extra: ['--models-dir', folder] });
  try {
    const page = await openPage(browser, server.url);
    await waitLive(page);
    const found = page.getByRole('table', { name: 'Found files' });
    const row = found.getByRole('row').filter({ hasText: 'tiny.gguf' });
    await row.waitFor({ timeout: 10000 });
    const text = await row.innerText();
    assert.match(text, /Found/);
    assert.match(text, /corral-test/);
    assert.match(text, /148 K/);

    await page.getByRole('button', { name: 'Add tiny.gguf' }).click();
    await waitForNames(page, ['corral-test']);
    await page.getByText('Every GGUF file in them is a model here already.').waitFor();

    // Copied in while the page is open: it shows up without a reload.
    copyFileSync(join(folder, 'org', 'tiny.gguf'), join(folder, 'second.gguf'));
    await found.getByRole('row').filter({ hasText: 'second.gguf' }).waitFor({ timeout: 5000 });
  } finally {
    await server.stop();
  }
});

test('three files in a folder are three Found rows; Add all makes them models that start', async () => {
  const folder = realpathSync(mkdtempSync(join(tmpdir(), 'corral-models-')));
  for (const name of ['one.gguf', 'two.gguf', 'three.gguf']) {
    execFileSync(BIN, ['test-model', join(folder, name)]);
  }
  // Room for all three at once.
  const server = await startCorral({ extra: ['--models-dir', folder, '--max-running', '3'] });
  try {
    const page = await openPage(browser, server.url);
    await waitLive(page);
    const found = page.getByRole('table', { name: 'Found files' });
    await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Found files"] tbody tr').length === 3, null, { timeout: 10000 });
    await page.getByRole('button', { name: 'Add all' }).click();
    await page.getByText('Every GGUF file in them is a model here already.').waitFor({ timeout: 10000 });
    await page.waitForFunction(() => document.querySelectorAll('table.models tbody tr').length === 3, null, { timeout: 10000 });
    assert.equal(await found.count(), 0);
    // Each shows what its file is, and each starts.
    await page.waitForFunction(() => [...document.querySelectorAll('table.models tbody td.col-file-facts')].every((td) => td.innerText !== '—'), null, { timeout: 10000 });
    const facts = await page.locator('table.models tbody td.col-file-facts').allInnerTexts();
    assert.equal(facts.length, 3);
    for (const line of facts) assert.match(line, /148 K · .*512 context/);
    const models = (await api(server, 'models/list', {})).body;
    for (const model of models) {
      const started = await api(server, 'models/start', { id: model.id });
      assert.equal(started.status, 200, JSON.stringify(started.body));
    }
    for (const model of models) {
      await page.locator(`tr[data-model-id="${model.id}"] .status`, { hasText: 'Running' }).waitFor({ timeout: 30000 });
    }
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});

test('a Hugging Face cache on the machine is offered, and one click watches it', async () => {
  // The hub's layout: snapshots hold links into blobs.
  const hub = realpathSync(mkdtempSync(join(tmpdir(), 'corral-hub-')));
  const repo = join(hub, 'models--org--tiny');
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(join(repo, 'snapshots', 'abc123'), { recursive: true });
  execFileSync(BIN, ['test-model', join(repo, 'blobs', 'f00d')]);
  symlinkSync('../../blobs/f00d', join(repo, 'snapshots', 'abc123', 'tiny-q8.gguf'));
  const server = await startCorral({ env: { HF_HUB_CACHE: hub } });
  try {
    const page = await openPage(browser, server.url);
    await waitLive(page);
    await page.getByRole('heading', { name: 'Model downloads on this machine' }).waitFor({ timeout: 10000 });
    await page.getByRole('button', { name: `Watch ${hub}` }).click();
    const found = page.getByRole('table', { name: 'Found files' });
    await found.getByRole('row').filter({ hasText: 'tiny-q8.gguf' }).waitFor({ timeout: 10000 });
    const settings = await api(server, 'settings/get');
    assert.deepEqual(settings.body.stored.models_dirs, [hub]);
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
