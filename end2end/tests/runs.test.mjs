// Running a real llama-server from the page: start from the Actions menu, see Running, read the
// logs, stop it. Uses the tiny random-weight model Corral writes itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

function row(page, name) {
  return page.locator('table.models tbody tr', { has: page.getByRole('link', { name, exact: true }) });
}

test('a model started from the Actions menu runs, shows its logs, and stops', async () => {
  const server = await startCorral();
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    const created = await api(server, 'models/create', { model: { name: 'Tiny', path, threads: 1, ctx_size: 256 } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id;

    const page = await openPage(browser, server.url);
    await waitLive(page);
    const tiny = row(page, 'Tiny');
    await tiny.locator('.status', { hasText: 'Stopped' }).waitFor();
    await page.getByRole('button', { name: 'Actions for Tiny' }).click();
    await page.getByRole('menuitem', { name: 'Start' }).click();
    await tiny.locator('.status', { hasText: 'Running' }).waitFor({ timeout: 30000 });
    await tiny.locator('.run-facts', { hasText: /port \d+/ }).waitFor({ timeout: 10000 });
    await tiny.getByRole('button', { name: 'Stop Tiny' }).waitFor();

    // The menu offers what fits a running model.
    await page.getByRole('button', { name: 'Actions for Tiny' }).click();
    const items = await page.getByRole('menuitem').allInnerTexts();
    assert.deepEqual(items.slice(0, 2), ['Stop', 'Restart']);
    await page.getByRole('menuitem', { name: 'Logs' }).click();
    await page.waitForURL(`${server.url}/models/${id}#logs`);
    await page.waitForSelector('body[data-hydrated="true"]');
    // The page opens at its logs, not at its top.
    await page.waitForFunction(() => {
      const top = document.getElementById('logs')?.getBoundingClientRect().top;
      return top !== undefined && top > -10 && top < window.innerHeight / 2;
    }, null, { timeout: 5000 });
    const log = page.getByRole('log', { name: 'Log lines' });
    await log.getByText('model loaded').first().waitFor({ timeout: 15000 });
    await page.getByRole('searchbox', { name: 'Filter log lines' }).fill('listening on');
    await log.getByText('listening on').waitFor();
    assert.equal(await log.getByText('model loaded').count(), 0, 'the filter hides other lines');
    await page.getByRole('searchbox', { name: 'Filter log lines' }).fill('');

    // Beside the estimate, what the running process really holds.
    await page.locator('dl[aria-label="File metadata"]').getByText(/running, it uses [\d.]+ MiB \(resident\) now/).waitFor({ timeout: 15000 });

    const commandLine = await page.getByLabel('Command line').innerText();
    assert.match(commandLine, /llama-server .*--threads 1 .*--host 127\.0\.0\.1 --port/);

    await page.getByRole('button', { name: 'Stop Tiny' }).click();
    await page.locator('.page-head .status', { hasText: 'Stopped' }).waitFor({ timeout: 15000 });
    await log.getByText(/cleaning up before exit/).first().waitFor({ timeout: 10000 });
    // Stopped, the page keeps what the run was measured to use beside the estimate.
    await page.locator('dl[aria-label="File metadata"]').getByText(/a recent run used [\d.]+ MiB at its peak/).waitFor({ timeout: 10000 });
    const runs = await api(server, 'runs', { id });
    assert.equal(runs.body[0].exit_code, 0);
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});

test('a model that cannot start shows the reason on its row', async () => {
  const server = await startCorral();
  try {
    await api(server, 'models/create', { model: { name: 'Gone', path: '/nowhere/gone.gguf' } });
    const page = await openPage(browser, server.url);
    await waitLive(page);
    await page.getByRole('button', { name: 'Start Gone' }).click();
    const gone = row(page, 'Gone');
    await gone.locator('.status', { hasText: 'Error' }).waitFor({ timeout: 10000 });
    await gone.locator('.status-reason', { hasText: 'does not exist' }).waitFor();
    await page.locator('.toast', { hasText: 'Gone could not start' }).waitFor();
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});

test("the model page shows what the file says and the KV cache its settings will take", async () => {
  const server = await startCorral();
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    const created = await api(server, 'models/create', { model: { name: 'Tiny', path, ctx_size: 2048, parallel: 2 } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const page = await openPage(browser, `${server.url}/models/${created.body.id}`);
    await page.waitForSelector('body[data-hydrated="true"]');
    // Read after hydration: the header is fetched by the browser.
    const facts = page.locator('dl[aria-label="File metadata"]');
    await facts.waitFor({ timeout: 10000 });
    const text = await facts.innerText();
    assert.match(text, /Architecture\s+llama/);
    assert.match(text, /Parameters\s+148 K/);
    assert.match(text, /Training context\s+512/);
    // 2048 cells (2 slots × 1024), 2 layers, 4 KV heads of 16, K and V at f16: 1 MiB.
    assert.match(text, /KV cache \(these settings\)\s+1\.0 MiB for 2048 cells/);
    // Weights, KV and compute buffers (512 × (512 × 4 + 64 × 64) + 512 × 2048 × 2 = 5 MiB),
    // against the machine's free memory from the live channel: it fits.
    await facts.getByText(/needs about 6\.6 MiB \(weights [\d.]+ KiB \+ KV 1\.0 MiB \+ compute buffers about 5\.0 MiB\).* of RAM free: fits/).waitFor({ timeout: 10000 });

    // The estimate follows the context size as it is typed, before any save.
    await page.locator('#general-ctx_size').fill('4096');
    await facts.getByText(/2\.0 MiB for 4096 cells/).waitFor({ timeout: 5000 });
    await facts.getByText(/needs about 9\.6 MiB/).waitFor({ timeout: 5000 });
    await page.locator('#general-ctx_size').fill('not a number');
    await facts.getByText(/1\.0 MiB for 2048 cells/).waitFor({ timeout: 5000 });
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
