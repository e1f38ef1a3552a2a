// The Settings page in Chromium: a change applies at once and is there after a reload; a flag
// given at start wins and the page says so; the llama-server in use is described.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, launchBrowser, openPage, startCorral } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

function effective(page, label) {
  return page.getByRole('table', { name: 'Settings in effect' }).getByRole('row').filter({ hasText: label });
}

test('a setting saved on the page applies at once and is still there after a restart', async () => {
  let server = await startCorral();
  try {
    const page = await openPage(browser, `${server.url}/settings`);
    await page.getByRole('heading', { name: 'llama-server' }).waitFor();
    await page.getByText(/built with/).waitFor({ timeout: 15000 });
    await page.locator('#settings-max_running').fill('1');
    await page.locator('#settings-when_full').selectOption('refuse');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await effective(page, 'Models running at once').getByText('1', { exact: true }).waitFor({ timeout: 5000 });
    const now = await api(server, 'settings/get');
    assert.equal(now.body.effective.max_running, 1);
    assert.equal(now.body.effective.when_full, 'refuse');

    // A value the rules refuse is named beside its field, and nothing changes.
    // (The ports are set by the harness's --ports flag: that field is read-only.)
    assert.equal(await page.locator('#settings-ports').getAttribute('readonly'), '');
    await page.locator('#settings-max_running').fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText(/Models running at once must/).waitFor();
    assert.equal((await api(server, 'settings/get')).body.stored.max_running, 1);

    const { port, dataDir } = server;
    await server.stop({ keepData: true });
    server = await startCorral({ port, dataDir });
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.locator('#settings-max_running').waitFor();
    assert.equal(await page.locator('#settings-max_running').inputValue(), '1');
    assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  } finally {
    await server.stop();
  }
});

test('the settings in effect fit their card at 1280 and 400 px, light and dark, with a long folder path', async () => {
  const folder = join(mkdtempSync(join(tmpdir(), 'corral-long-')), 'a-model-folder-with-a-very-long-name-'.repeat(5));
  mkdirSync(folder, { recursive: true });
  const server = await startCorral({ extra: ['--models-dir', folder] });
  try {
    for (const [width, colorScheme] of [[1280, 'light'], [1280, 'dark'], [400, 'light'], [400, 'dark']]) {
      const page = await openPage(browser, `${server.url}/settings`, { viewport: { width, height: 900 }, colorScheme });
      const table = page.getByRole('table', { name: 'Settings in effect' });
      await table.getByText('A change applies at once.').first().waitFor({ timeout: 15000 });
      const fit = await table.evaluate((t) => ({
        table: t.scrollWidth,
        card: t.closest('section').clientWidth,
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      }));
      assert.ok(fit.table <= fit.card, `${width} ${colorScheme}: the table (${fit.table} px) is wider than its card (${fit.card} px)`);
      assert.equal(fit.page, 0, `${width} ${colorScheme}: the page scrolls sideways`);
      await effective(page, 'Model folders').getByText(folder).waitFor();
      await page.context().close();
    }
  } finally {
    await server.stop();
  }
});

test('a flag given at start wins over the page, which says so', async () => {
  const server = await startCorral({ extra: ['--max-running', '3'] });
  try {
    const page = await openPage(browser, `${server.url}/settings`);
    // The field shows the value in effect, read-only, and which flag set it.
    const field = page.locator('#settings-max_running');
    await field.waitFor({ timeout: 15000 });
    assert.equal(await field.inputValue(), '3');
    assert.equal(await field.getAttribute('readonly'), '');
    assert.match(await page.locator('#settings-max_running-help').innerText(), /Set by --max-running/);
    await effective(page, 'Models running at once').getByText(/3 \(set by --max-running\)/).waitFor({ timeout: 5000 });
    // Saving the rest leaves the flag's value where it was.
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved the settings; they apply now').waitFor({ timeout: 5000 });
    assert.equal((await api(server, 'settings/get')).body.effective.max_running, 3);
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});

// llama-swap's own published example, trimmed to what a person's file holds (macros, aliases,
// ttl, a model it cannot run as a llama.cpp model).
const LLAMA_SWAP = `healthCheckTimeout: 120
macros:
  server: /opt/llama.cpp/build/bin/llama-server --port \${PORT}
models:
  coder:
    cmd: \${server} -m /models/coder.gguf -c 8192 -ngl 99 --temp 0.2
    aliases: [gpt-4o-mini]
    ttl: 300
  vllm:
    cmd: docker run --rm vllm/vllm-openai
`;

test('a llama-swap config picked on the Settings page is shown as a dry run, then applied', async () => {
  const server = await startCorral();
  try {
    const file = join(server.dataDir, 'config.yaml');
    writeFileSync(file, LLAMA_SWAP);
    const page = await openPage(browser, `${server.url}/settings`);
    const card = page.getByRole('region', { name: 'Import models' });
    await card.waitFor({ timeout: 15000 });
    // Text that is not what it claims is refused in words, and nothing is previewed.
    await card.getByLabel('Or paste it').fill('models: [unclosed\n  - : :');
    await card.getByRole('button', { name: 'Preview (dry run)' }).click();
    await card.getByRole('alert').getByText(/This is not a llama-swap config.yaml Corral can read/).waitFor({ timeout: 5000 });
    assert.equal(await card.getByRole('table', { name: 'Import preview' }).count(), 0);
    await card.getByLabel('Pick a file').setInputFiles(file);
    await page.waitForFunction(() => document.querySelector('#import-text')?.value.includes('coder'), null, { timeout: 5000 });
    assert.match(await card.getByLabel('Import format').innerText(), /Recognised: llama-swap config.yaml/);
    assert.equal(await card.getByRole('button', { name: 'Apply' }).isDisabled(), true, 'nothing to apply before a dry run');

    await card.getByRole('button', { name: 'Preview (dry run)' }).click();
    const preview = card.getByRole('table', { name: 'Import preview' });
    await preview.getByRole('row').filter({ hasText: 'coder' }).getByText('Created').waitFor({ timeout: 5000 });
    await card.getByText(/Not mapped \(\d+\)/).waitFor();
    assert.match(await card.locator('.not-mapped').innerText(), /vllm/);
    assert.deepEqual((await api(server, 'models/list', {})).body, [], 'a dry run writes nothing');

    // Changing the text makes the preview stale: Apply waits for a new one.
    await card.getByLabel('Or paste it').fill(LLAMA_SWAP.replace('coder', 'coder2'));
    assert.equal(await card.getByRole('button', { name: 'Apply' }).isDisabled(), true);
    await card.getByLabel('Or paste it').fill(LLAMA_SWAP);
    await card.getByRole('button', { name: 'Apply' }).click();
    await page.getByText(/Imported: 1 created/).waitFor({ timeout: 5000 });
    const models = (await api(server, 'models/list', {})).body;
    assert.deepEqual(models.map((m) => m.name), ['coder']);
    // The one console line is the browser's own note of the refused preview's 400.
    assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
  } finally {
    await server.stop();
  }
});
