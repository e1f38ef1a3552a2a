// A setting saved on a running model does not reach its process: the row, the model page and
// the models page say "Restart to apply" with what a restart changes, /v1/models says what
// runs and what is saved, and a restart applies it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

let server;
let browser;

before(async () => {
  browser = await launchBrowser();
  server = await startCorral();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function meta(name) {
  const models = await (await fetch(`${server.url}/v1/models`)).json();
  return models.data.find((m) => m.id === name).meta;
}

test('a context size saved on a running model waits for a restart, shown with the change, and a restart applies it', async () => {
  const path = join(server.dataDir, 'tiny.gguf');
  execFileSync(BIN, ['test-model', path]);
  const created = await api(server, 'models/create', { model: { name: 'Tiny', path, threads: 1, ctx_size: 256 } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const id = created.body.id;
  await api(server, 'models/start', { id });

  const page = await openPage(browser, `${server.url}/models/${id}`);
  await waitLive(page);
  await page.locator('.page-head .status', { hasText: 'Running' }).waitFor({ timeout: 30000 });
  assert.equal(await page.getByRole('button', { name: 'Restart Tiny to apply its saved settings' }).count(), 0,
    'nothing waits while the saved settings are what runs');

  await page.locator('#general-ctx_size').fill('512');
  await page.getByRole('button', { name: 'Save general settings' }).click();
  const changes = page.getByRole('list', { name: 'What a restart changes' });
  await changes.getByText('--ctx-size 256 → 512').waitFor({ timeout: 10000 });
  // What runs, and what is saved beside it.
  assert.deepEqual(await meta('Tiny'), { size: created.body.size_bytes, n_ctx: 256, saved_n_ctx: 512 });
  // The KV line says the running process still has the old context.
  await page.locator('#file').getByText(/restart to apply: --ctx-size 256 → 512/).waitFor({ timeout: 10000 });

  // The models page: the row and the banner.
  const models = await openPage(browser, server.url);
  await waitLive(models);
  const row = models.locator('table.models tbody tr', { has: models.getByRole('link', { name: 'Tiny', exact: true }) });
  await row.getByText('--ctx-size 256 → 512').waitFor();
  await models.getByRole('status').filter({ hasText: '1 running model waits for a restart' }).waitFor();
  assert.deepEqual(models.errors, []);
  await models.context().close();

  await page.getByRole('button', { name: 'Restart Tiny to apply its saved settings' }).click();
  await changes.waitFor({ state: 'detached', timeout: 30000 });
  await page.locator('.page-head .status', { hasText: 'Running' }).waitFor({ timeout: 30000 });
  await page.waitForFunction(() => /--ctx-size 512/.test(document.querySelector('[aria-label="Command line"]')?.textContent ?? ''),
    null, { timeout: 10000 });
  assert.deepEqual(await meta('Tiny'), { size: created.body.size_bytes, n_ctx: 512 });
  assert.deepEqual(page.errors, []);
});
