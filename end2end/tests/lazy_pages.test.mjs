// Pages other than the models page are chunks of their own (cargo leptos build --split): fetched
// on first navigation, or before hydrating when a page is loaded on its own URL.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createModel, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

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

/** The `.wasm` files the page fetched. */
function wasmRequests(page) {
  const files = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.endsWith('.wasm')) files.push(path);
  });
  return files;
}

/** The models page in a fresh browser context, hydrated and live, with the `.wasm` files it
 * fetched and the errors it threw. */
async function openModelsPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const fetched = wasmRequests(page);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(String(err)));
  await page.goto(server.url);
  await page.waitForSelector('body[data-hydrated="true"]');
  await waitLive(page);
  return { context, page, fetched };
}

test('the models page loads none of the other pages\' code; a page navigated to fetches its chunk and works', async () => {
  const model = await createModel(server, 'Lazy one', '/models/lazy.gguf');
  const { context, page, fetched } = await openModelsPage();
  assert.ok(fetched.includes('/pkg/corral.wasm'), `the main bundle is fetched: ${fetched}`);
  assert.deepEqual(fetched.filter((f) => f.includes('monitoring') || f.includes('model_route')), [],
    'no other page\'s chunk is fetched by the models page');

  await page.click('nav a[href="/monitoring"]');
  await page.getByRole('heading', { name: 'Monitoring' }).waitFor();
  assert.ok(fetched.some((f) => f.includes('monitoring_route')), `the Monitoring chunk is fetched on navigation: ${fetched}`);
  // The page works: its range buttons answer.
  await page.getByRole('radio', { name: '1 h' }).click();
  await page.waitForFunction(() => document.querySelector('[role="radio"][aria-checked="true"]')?.textContent === '1 h');

  // Back to the models page and on to the model's own page, by links.
  await page.click('nav a[href="/"]');
  await page.getByRole('link', { name: 'Lazy one' }).click();
  await page.getByRole('heading', { name: 'Lazy one' }).waitFor();
  assert.ok(fetched.some((f) => f.includes('model_route')), 'the model page\'s chunk is fetched');
  assert.equal(new URL(page.url()).pathname, `/models/${model.id}`);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the models page fetches its WASM once, compiling it while its scripts load, and preloads the chunk loader', async () => {
  const { context, page, fetched } = await openModelsPage();
  // The compile started by the page's first script takes the preloaded response: a fetch that
  // did not match the preload would download the whole bundle a second time.
  assert.deepEqual(fetched.filter((f) => f === '/pkg/corral.wasm'), ['/pkg/corral.wasm']);
  const preloads = await page.$$eval('link[rel="modulepreload"]', (links) => links.map((l) => new URL(l.href).pathname));
  assert.ok(preloads.includes('/pkg/corral.js'), `the glue is preloaded: ${preloads}`);
  assert.ok(preloads.some((p) => p.startsWith('/pkg/__wasm_split')), `the chunk loader is preloaded: ${preloads}`);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a lazily loaded page reloaded on its own URL is server-rendered, then hydrates and goes live', async () => {
  const html = await (await fetch(`${server.url}/monitoring`)).text();
  assert.match(html, /<h1>Monitoring<\/h1>/, 'the server renders the page itself, not a loading state');
  const page = await openPage(browser, `${server.url}/monitoring`);
  await waitLive(page);
  await page.getByRole('radio', { name: '1 h' }).click();
  await page.waitForFunction(() => document.querySelector('[role="radio"][aria-checked="true"]')?.textContent === '1 h');
  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.getByRole('heading', { name: 'Monitoring' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a lazily loaded page hydrates however soon the live snapshot arrives', async () => {
  // The snapshot changes what the model page shows; arriving while the page's chunk was still
  // loading, it made hydration fail about one time in two before the socket waited for it.
  const model = await createModel(server, 'Raced', '/models/raced.gguf');
  await api(server, 'models/config/save', { id: model.id, group: 'sampling', config: { temperature: 0.35 } });
  for (let round = 0; round < 6; round++) {
    const page = await openPage(browser, `${server.url}/models/${model.id}`);
    await waitLive(page);
    await page.locator('ol.history > li', { hasText: 'temperature' }).waitFor();
    assert.deepEqual(page.errors, [], `round ${round}`);
    await page.context().close();
  }
});
