// The live channel in Chromium: every change reaches every tab without a reload, and a tab
// that lost its server reconnects and converges.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createModel, launchBrowser, openPage, startCorral, tableNames, waitForNames, waitLive } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('changes from the API and from another tab reach every open tab', async () => {
  const server = await startCorral();
  try {
    await createModel(server, 'Seed', '/models/seed.gguf');
    const first = await openPage(browser, server.url);
    const second = await openPage(browser, server.url);
    await waitLive(first);
    await waitLive(second);

    const created = await createModel(server, 'From curl', '/models/curl.gguf');
    await waitForNames(first, ['From curl', 'Seed']);
    await waitForNames(second, ['From curl', 'Seed']);

    await api(server, 'models/update', { id: created.id, changes: { name: 'Renamed by script' } });
    await waitForNames(first, ['Renamed by script', 'Seed']);
    await waitForNames(second, ['Renamed by script', 'Seed']);

    // Deleted in the first tab, gone from the second.
    await first.getByRole('button', { name: 'Actions for Seed' }).click();
    await first.getByRole('menuitem', { name: 'Delete' }).click();
    await first.getByRole('dialog', { name: 'Delete Seed?' }).getByRole('button', { name: 'Delete' }).click();
    await waitForNames(second, ['Renamed by script']);
    await waitForNames(first, ['Renamed by script']);

    // Added in the second tab, shown in the first.
    await second.getByRole('button', { name: 'Add model' }).click();
    const dialog = second.getByRole('dialog', { name: 'Add model' });
    await dialog.getByLabel('Name').fill('Typed in tab two');
    await dialog.getByLabel('Model path').fill('/models/two.gguf');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await waitForNames(first, ['Renamed by script', 'Typed in tab two']);

    assert.deepEqual(first.errors, []);
    assert.deepEqual(second.errors, []);
    const status = await (await fetch(`${server.url}/api/ws/status`)).json();
    assert.equal(status.clients, 2);
  } finally {
    await server.stop();
  }
});

test('a tab reconnects after Corral restarts and converges on the new state', async () => {
  let server = await startCorral();
  const { port, dataDir } = server;
  try {
    await createModel(server, 'Before restart', '/models/before.gguf');
    const page = await openPage(browser, server.url);
    await waitLive(page);

    await server.stop({ keepData: true });
    await page.locator('.connection[data-state="reconnecting"]').waitFor({ timeout: 10000 });
    // The page has its data: it does not fall back to HTTP while the server is away (each
    // fetch would fail with a console error), it waits for the socket.
    await page.waitForTimeout(1000);

    server = await startCorral({ port, dataDir });
    await createModel(server, 'After restart', '/models/after.gguf');
    await waitLive(page);
    await waitForNames(page, ['After restart', 'Before restart']);
    assert.deepEqual(await tableNames(page), ['After restart', 'Before restart']);
    assert.deepEqual(page.errors.filter((e) => !e.startsWith('WebSocket connection')), []);
  } finally {
    await server.stop();
  }
});

test('a model page follows renames and deletion from elsewhere', async () => {
  const server = await startCorral();
  try {
    const model = await createModel(server, 'Watched', '/models/watched.gguf');
    const page = await openPage(browser, `${server.url}/models/${model.id}`);
    await waitLive(page);
    // The page's own first reads are done (one still on its way when the model is deleted
    // would rightly get a 404): the file's report and the command a start would run.
    await page.getByText(/^Nothing to show:/).waitFor();
    await page.getByLabel('Command line').waitFor();
    await api(server, 'models/update', { id: model.id, changes: { name: 'Watched and renamed' } });
    await page.getByRole('heading', { level: 1, name: 'Watched and renamed' }).waitFor();
    await api(server, 'models/delete', { id: model.id });
    await page.getByRole('alert').filter({ hasText: 'This model was deleted' }).waitFor();
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});

test('the monitoring page shows measured numbers that keep moving, and history', async () => {
  const server = await startCorral();
  try {
    const page = await openPage(browser, `${server.url}/monitoring`);
    await waitLive(page);
    const cpu = page.locator('figure.chart', { hasText: 'CPU' }).locator('svg');
    await page.waitForFunction((el) => Number(el.getAttribute('data-points')) >= 2, await cpu.elementHandle(), { timeout: 10000 });
    const before = Number(await cpu.getAttribute('data-points'));
    await page.waitForFunction((args) => Number(args.el.getAttribute('data-points')) > args.before,
      { el: await cpu.elementHandle(), before }, { timeout: 10000 });
    for (const title of ['Memory used', 'Disk used (data directory)', 'Corral memory (RSS)']) {
      await page.locator('figure.chart', { hasText: title }).waitFor();
    }
    assert.match(await page.locator('figure.chart', { hasText: 'Memory used' }).locator('.chart-latest').innerText(), /iB$/);

    // History is written in batches of ten seconds; then the 15-minute range has points.
    await page.waitForTimeout(11000);
    await page.getByRole('radio', { name: '15 min' }).click();
    const historical = page.locator('figure.chart', { hasText: 'CPU' }).locator('svg');
    await page.waitForFunction((el) => Number(el?.getAttribute('data-points')) > 0, await historical.elementHandle(), { timeout: 15000 });
    await page.screenshot({ path: 'end2end/screenshots/monitoring.png', fullPage: true });
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
