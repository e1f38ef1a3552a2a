// The models page in Chromium against a real Corral: SSR, hydration, add, edit, duplicate,
// delete, bulk delete, search and filter.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { api, createModel, launchBrowser, openPage, startCorral, tableNames, waitForNames, waitLive } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startCorral();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function clearModels() {
  const models = (await api(server, 'models/list')).body;
  if (models.length) await api(server, 'models/bulk_delete', { ids: models.map((m) => m.id) });
}

test('the first HTML lists the models before any script runs', async () => {
  await clearModels();
  await createModel(server, 'Llama SSR', '/models/llama-ssr.gguf');
  const html = await (await fetch(server.url)).text();
  assert.match(html, /<tbody[^>]*>/);
  assert.ok(html.includes('Llama SSR'), 'the server-rendered HTML holds the model name');

  const page = await openPage(browser, server.url, { javaScriptEnabled: false });
  assert.deepEqual(await tableNames(page), ['Llama SSR']);
  assert.equal(await page.locator('td.col-status').first().innerText(), 'Stopped');
  await page.context().close();
});

test('the page hydrates without console errors', async () => {
  const page = await openPage(browser, server.url);
  await page.getByRole('button', { name: 'Add model' }).click();
  await page.getByRole('dialog').waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('adding a model shows the API\'s messages for bad input, then adds it', async () => {
  await clearModels();
  const page = await openPage(browser, server.url);
  await page.getByRole('button', { name: 'Add model' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add model' });
  await dialog.getByLabel('Model path').fill('models/relative.gguf');
  await dialog.getByLabel('Context size').fill('-5');
  await dialog.getByRole('button', { name: 'Save' }).click();

  await dialog.getByText('Name is required').waitFor();
  await dialog.getByText('Model path must be an absolute path (starting with /)').waitFor();
  await dialog.getByText('Context size must be between 0 and 4194304').waitFor();
  // The API gives the same words for the same input.
  const reply = await api(server, 'models/create', { model: { path: 'models/relative.gguf', ctx_size: -5 } });
  assert.equal(reply.status, 400);
  const messages = Object.fromEntries(reply.body.errors.map((e) => [e.field, e.message]));
  assert.equal(messages.path, 'must be an absolute path (starting with /)');
  assert.equal(messages.ctx_size, 'must be between 0 and 4194304');

  await dialog.getByLabel('Name').fill('Qwen Coder');
  await dialog.getByLabel('Model path').fill('/models/qwen2.5-coder-7b.gguf');
  await dialog.getByLabel('Context size').fill('8192');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.locator('td.col-name', { hasText: 'Qwen Coder' }).waitFor();
  assert.equal(await dialog.isVisible(), false);
  const row = page.locator('tr', { has: page.locator('td.col-name', { hasText: 'Qwen Coder' }) });
  assert.equal(await row.locator('td.col-kind').innerText(), 'Qwen');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a duplicate name is refused inline', async () => {
  await clearModels();
  await createModel(server, 'Taken', '/models/taken.gguf');
  const page = await openPage(browser, server.url);
  await page.getByRole('button', { name: 'Add model' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add model' });
  await dialog.getByLabel('Name').fill('taken');
  await dialog.getByLabel('Model path').fill('/models/other.gguf');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByText("a model named 'taken' already exists").waitFor();
  assert.deepEqual(await tableNames(page), ['Taken']);
  await page.context().close();
});

test('a config group edited on the model page is there after a reload', async () => {
  await clearModels();
  await createModel(server, 'Tunable', '/models/tunable.gguf');
  const page = await openPage(browser, server.url);
  await page.getByRole('button', { name: 'Actions for Tunable' }).click();
  await page.getByRole('menuitem', { name: 'Edit' }).click();
  await page.waitForURL(/\/models\/\d+$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  const sampling = page.locator('section#sampling');
  await sampling.getByLabel('Temperature', { exact: true }).fill('0.35');
  await sampling.getByLabel('Top-k', { exact: true }).fill('abc');
  await sampling.getByRole('button', { name: 'Save Sampling settings' }).click();
  await sampling.getByText('Top-k must be a whole number').waitFor();
  await sampling.getByLabel('Top-k', { exact: true }).fill('');
  await sampling.getByRole('button', { name: 'Save Sampling settings' }).click();
  await page.getByText('Saved Sampling settings').waitFor();
  await page.locator('ol.history > li', { hasText: 'temperature' }).waitFor();

  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('section#sampling').getByLabel('Temperature', { exact: true }).inputValue(), '0.35');
  assert.match(await page.locator('#history').innerText(), /temperature: default → 0\.35/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('duplicate from the actions menu copies the model', async () => {
  await clearModels();
  await createModel(server, 'Original', '/models/original.gguf');
  const page = await openPage(browser, server.url);
  await page.getByRole('button', { name: 'Actions for Original' }).click();
  await page.getByRole('menuitem', { name: 'Duplicate' }).click();
  const dialog = page.getByRole('dialog', { name: 'Duplicate Original' });
  assert.equal(await dialog.getByLabel('Name').inputValue(), 'Original (copy)');
  await dialog.getByRole('button', { name: 'Duplicate' }).click();
  await page.locator('td.col-name', { hasText: 'Original (copy)' }).waitFor();
  assert.deepEqual(await tableNames(page), ['Original', 'Original (copy)']);
  await page.context().close();
});

test('delete asks for confirmation first', async () => {
  await clearModels();
  await createModel(server, 'Keeper', '/models/keeper.gguf');
  await createModel(server, 'Goner', '/models/goner.gguf');
  const page = await openPage(browser, server.url);
  await page.getByRole('button', { name: 'Actions for Goner' }).click();
  await page.getByRole('menuitem', { name: 'Delete' }).click();
  let dialog = page.getByRole('dialog', { name: 'Delete Goner?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual(await tableNames(page), ['Goner', 'Keeper']);

  await page.getByRole('button', { name: 'Actions for Goner' }).click();
  await page.getByRole('menuitem', { name: 'Delete' }).click();
  dialog = page.getByRole('dialog', { name: 'Delete Goner?' });
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await page.locator('td.col-name', { hasText: 'Goner' }).waitFor({ state: 'detached' });
  assert.deepEqual(await tableNames(page), ['Keeper']);
  assert.equal((await api(server, 'models/list')).body.length, 1);
  await page.context().close();
});

test('several selected models are deleted together', async () => {
  await clearModels();
  for (const name of ['One', 'Two', 'Three']) await createModel(server, name, `/models/${name}.gguf`);
  const page = await openPage(browser, server.url);
  await page.getByLabel('Select One').check();
  await page.getByLabel('Select Three').check();
  await page.getByText('2 selected').waitFor();
  await page.getByRole('button', { name: 'Delete selected' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete 2 models?' });
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await page.locator('td.col-name', { hasText: 'Three' }).waitFor({ state: 'detached' });
  assert.deepEqual(await tableNames(page), ['Two']);
  await page.context().close();
});

test('search, filters and sorting narrow and order the table', async () => {
  await clearModels();
  await createModel(server, 'Alpha Llama', '/models/llama-3.1-8b.gguf');
  await createModel(server, 'Beta Qwen', '/models/qwen3-4b.gguf');
  await createModel(server, 'Gamma Gemma', '/models/gemma-3-12b.gguf');
  const page = await openPage(browser, server.url);
  await page.getByLabel('Search models').fill('qwen3');
  await page.waitForFunction(() => document.querySelectorAll('table.models tbody tr').length === 1);
  assert.deepEqual(await tableNames(page), ['Beta Qwen']);
  await page.getByLabel('Search models').fill('');
  await page.getByLabel('Filter by kind').selectOption('gemma');
  await page.waitForFunction(() => document.querySelectorAll('table.models tbody tr').length === 1);
  assert.deepEqual(await tableNames(page), ['Gamma Gemma']);
  await page.getByLabel('Filter by kind').selectOption('');
  await page.getByLabel('Filter by status').selectOption('running');
  await page.getByText('No models match the search and filters.').waitFor();
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByRole('button', { name: 'Name' }).click();
  await page.waitForFunction(() => document.querySelector('table.models tbody tr td.col-name')?.innerText === 'Gamma Gemma');
  assert.deepEqual(await tableNames(page), ['Gamma Gemma', 'Beta Qwen', 'Alpha Llama']);
  await page.context().close();
});

test('a long list shows a page at a time, and a search looks through all of it', async () => {
  await clearModels();
  const names = Array.from({ length: 130 }, (_, i) => `bulk ${String(i).padStart(3, '0')}`);
  for (const name of names) await createModel(server, name, '/models/bulk.gguf');
  const page = await openPage(browser, server.url);
  await waitLive(page);
  assert.equal(await page.locator('table.models tbody tr').count(), 25);
  await page.getByText('Showing 25 of 130 models').waitFor();
  await page.getByRole('button', { name: 'Show 100 more' }).click();
  await page.getByText('Showing 125 of 130 models').waitFor();
  assert.equal(await page.locator('table.models tbody tr').count(), 125);
  await page.getByRole('button', { name: 'Show all' }).click();
  await page.waitForFunction(() => document.querySelectorAll('table.models tbody tr').length === 130);
  assert.equal(await page.getByText(/Showing \d+ of/).count(), 0, 'nothing is left to show');
  // A model beyond the first page is found by searching.
  await page.getByLabel('Search models').fill('bulk 129');
  await waitForNames(page, ['bulk 129']);
  await page.context().close();
});

test('the page carries only its first rows; search finds a model beyond them once hydrated', async () => {
  await clearModels();
  const names = Array.from({ length: 30 }, (_, i) => `first rows ${String(i).padStart(3, '0')}`);
  for (const name of names) await createModel(server, name, '/models/first.gguf');
  const html = await (await fetch(server.url)).text();
  assert.ok(html.includes('first rows 024'), 'the last row of the first page is in the HTML');
  assert.ok(!html.includes('first rows 029'), 'a model beyond the first page is nowhere in the HTML or its hydration data');
  assert.ok(html.includes('Showing 25 of 30 models'), 'the count is the whole registry');
  const page = await openPage(browser, server.url);
  await page.getByLabel('Search models').fill('first rows 029');
  await waitForNames(page, ['first rows 029']);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('without a live channel, a search fetches every model over HTTP', async () => {
  const context = await browser.newContext();
  // The socket is refused, as by a proxy that does not pass WebSockets.
  await context.routeWebSocket(/\/ws$/, (ws) => ws.close());
  const page = await context.newPage();
  await page.goto(server.url);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.notEqual(await page.locator('.connection').getAttribute('data-state'), 'live');
  await page.getByLabel('Search models').fill('first rows 029');
  await waitForNames(page, ['first rows 029']);
  await context.close();
});

test('the actions menu works from the keyboard', async () => {
  await clearModels();
  await createModel(server, 'Keys', '/models/keys.gguf');
  const page = await openPage(browser, server.url);
  const button = page.getByRole('button', { name: 'Actions for Keys' });
  await button.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('menuitem', { name: 'Edit' }).waitFor();
  // A stopped model's menu: Start, Logs, Edit, Duplicate, Delete.
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Start');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Logs');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Delete');
  await page.keyboard.press('Escape');
  await page.getByRole('menu').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Actions for Keys');
  await page.context().close();
});

test('a row menu closes on a press outside it, not on one inside it', async () => {
  await clearModels();
  await createModel(server, 'Menu One', '/models/one.gguf');
  await createModel(server, 'Menu Two', '/models/two.gguf');
  const page = await openPage(browser, server.url);
  await waitLive(page);
  const button = page.getByRole('button', { name: 'Actions for Menu One' });
  await button.click();
  const menu = page.getByRole('menu', { name: 'Actions for Menu One' });
  await menu.waitFor();
  // A press on the menu itself (not on an item) keeps it open.
  await menu.click({ position: { x: 2, y: 2 } });
  assert.equal(await menu.count(), 1);
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  // A press on the page's heading closes it.
  await page.getByRole('heading', { name: 'Models', exact: true }).click();
  await menu.waitFor({ state: 'detached' });
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  // Another row's menu opens alone, and its button toggles it shut.
  const second = page.getByRole('button', { name: 'Actions for Menu Two' });
  await second.click();
  await page.getByRole('menu', { name: 'Actions for Menu Two' }).waitFor();
  assert.equal(await page.getByRole('menu').count(), 1);
  await second.click();
  await page.getByRole('menu').waitFor({ state: 'detached' });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the page is usable 400 px wide, in light and dark', async () => {
  await clearModels();
  await createModel(server, 'Narrow', '/models/narrow.gguf');
  mkdirSync('end2end/screenshots', { recursive: true });
  for (const colorScheme of ['light', 'dark']) {
    const page = await openPage(browser, server.url, { viewport: { width: 400, height: 800 }, colorScheme });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await page.getByRole('button', { name: 'Actions for Narrow' }).click();
    await page.screenshot({ path: `end2end/screenshots/models-400-${colorScheme}.png` });
    await page.context().close();
  }
});
