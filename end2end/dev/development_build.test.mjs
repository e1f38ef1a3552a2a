// The development build `cargo leptos watch` makes (debug, one unsplit bundle) serves pages that
// hydrate and go live without console errors. scripts/test builds it (`cargo leptos build`) and
// runs this file against it, so the development loop cannot break unnoticed again: the split
// release build's WASM flags once broke this bundle while every other test passed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, launchBrowser, openPage, startCorral, waitForNames, waitLive } from '../tests/support.mjs';

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

test('the development build hydrates every page it is navigated to, goes live and logs no console error', async () => {
  const fetched = [];
  const page = await openPage(browser, server.url);
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith('/pkg/')) fetched.push(path);
  });
  await waitLive(page);
  // This is the unsplit development bundle, not a release build's chunks.
  const scripts = await page.$$eval('script[src], link[href]', (tags) => tags.map((t) => new URL(t.src || t.href).pathname));
  assert.ok(scripts.includes('/pkg/corral.js'), `the bundle's glue is loaded: ${scripts}`);
  assert.ok(!scripts.some((s) => s.includes('__wasm_split')), `no chunk loader in a development build: ${scripts}`);

  // A model added elsewhere arrives over the live channel.
  await createModel(server, 'Dev build model', '/models/dev.gguf');
  await waitForNames(page, ['Dev build model']);

  // The other pages, by links (in this build they are part of the one bundle).
  await page.click('nav a[href="/monitoring"]');
  await page.getByRole('heading', { name: 'Monitoring' }).waitFor();
  await page.click('nav a[href="/settings"]');
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  await page.click('nav a[href="/"]');
  await page.getByRole('link', { name: 'Dev build model' }).click();
  await page.getByRole('heading', { name: 'Dev build model' }).waitFor();
  assert.ok(!fetched.some((f) => f.endsWith('.wasm') && f !== '/pkg/corral.wasm'), `only the one bundle: ${fetched}`);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
