// Model folders in Chromium: a GGUF file in a --models-dir folder shows as Found with what its
// header says, Add makes it a model, and a file copied in later appears by itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
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
    assert.match(text, /corral-test/);
    assert.match(text, /148 K/);

    await page.getByRole('button', { name: 'Add org/tiny.gguf' }).click();
    await waitForNames(page, ['tiny']);
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
    await page.getByRole('button', { name: 'Add all 3' }).click();
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

test('two copies of one GGUF become two models named from the file; a file that is not GGUF is listed and never offered', async () => {
  const folder = realpathSync(mkdtempSync(join(tmpdir(), 'corral-models-')));
  for (const sub of ['a', 'b']) {
    mkdirSync(join(folder, sub));
    execFileSync(BIN, ['test-model', join(folder, sub, 'Tiny-Model-Q8_0.gguf')]);
  }
  writeFileSync(join(folder, 'broken.gguf'), 'this is not a model');
  const server = await startCorral({ extra: ['--models-dir', folder] });
  try {
    const page = await openPage(browser, server.url);
    await waitLive(page);
    const found = page.getByRole('table', { name: 'Found files' });
    await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Found files"] tbody tr').length === 3, null, { timeout: 10000 });
    // A first run with files found: adding them is the primary action, the path form is not.
    const addAll = page.getByRole('button', { name: 'Add all 2' });
    assert.match(await addAll.getAttribute('class'), /primary/);
    assert.doesNotMatch(await page.getByRole('button', { name: 'Add model', exact: true }).getAttribute('class') ?? '', /primary/);
    // The name each file will get, beside what the file calls itself.
    const rows = await found.locator('tbody tr').allInnerTexts();
    assert.equal(rows.filter((r) => /tiny-model-q8_0\b/.test(r) && /corral-test/.test(r)).length, 2, rows.join(' | '));
    assert.equal(rows.filter((r) => /tiny-model-q8_0-2/.test(r)).length, 1, rows.join(' | '));
    // The two copies are told apart by their folders.
    assert.ok(rows.some((r) => r.includes('a/Tiny-Model-Q8_0.gguf')) && rows.some((r) => r.includes('b/Tiny-Model-Q8_0.gguf')), rows.join(' | '));
    const brokenRow = found.getByRole('row').filter({ hasText: 'broken.gguf' });
    assert.match(await brokenRow.innerText(), /Not a model file/);
    assert.equal(await brokenRow.getByRole('button').count(), 0, 'no Add for a file that is not GGUF');

    await addAll.click();
    await waitForNames(page, ['tiny-model-q8_0', 'tiny-model-q8_0-2']);
    // The broken file stays listed, still not offered.
    await found.getByRole('row').filter({ hasText: 'broken.gguf' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Add all/ }).count(), 0);

    // The Add dialog checks the path as it is typed, names the model from the file, and
    // offers found files.
    execFileSync(BIN, ['test-model', join(folder, 'Third-One.gguf')]);
    await found.getByRole('row').filter({ hasText: 'Third-One.gguf' }).waitFor({ timeout: 5000 });
    await page.getByRole('button', { name: 'Add model', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Add model' });
    const path = dialog.getByLabel('Model path');
    // Typed key by key, as a person does: each check leaves the field (and its focus) alone.
    await path.click();
    await page.keyboard.type(join(folder, 'missing.gguf'), { delay: 15 });
    assert.equal(await path.inputValue(), join(folder, 'missing.gguf'));
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'add-path');
    await dialog.getByText('no file at this path').waitFor({ timeout: 5000 });
    await path.fill(join(folder, 'broken.gguf'));
    await dialog.getByText('not a GGUF file').waitFor({ timeout: 5000 });
    await path.fill('');
    await dialog.getByRole('button', { name: `Use ${join(folder, 'Third-One.gguf')}` }).click({ timeout: 10000 });
    await dialog.getByText(/A GGUF model: 148 K/).waitFor({ timeout: 5000 });
    await page.waitForFunction(() => document.querySelector('#add-name')?.value === 'third-one', null, { timeout: 5000 });
    await dialog.getByRole('button', { name: 'Save' }).click();
    await waitForNames(page, ['third-one', 'tiny-model-q8_0', 'tiny-model-q8_0-2']);
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
