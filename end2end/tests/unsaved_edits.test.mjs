// Edits typed on a model page and not saved are not lost silently: following a link asks
// first; staying keeps the edit, leaving goes; a saved edit leaves freely.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('leaving a model page with unsaved edits asks first', async () => {
  const server = await startCorral();
  try {
    const created = await api(server, 'models/create', { model: { name: 'edited', path: '/models/edited.gguf' } });
    const page = await openPage(browser, `${server.url}/models/${created.body.id}`);
    await waitLive(page);
    const nav = page.getByRole('navigation').getByRole('link', { name: 'Activity' });

    // Nothing typed: a link just goes.
    await nav.click();
    await page.waitForURL(/\/activity$/);
    await page.goBack();
    await page.waitForSelector('#general-ctx_size');

    await page.locator('#general-ctx_size').fill('2048');
    const asked = [];
    page.once('dialog', (dialog) => { asked.push(dialog.message()); dialog.dismiss(); });
    await nav.click();
    await page.waitForTimeout(300);
    assert.match(asked[0] ?? '', /unsaved changes/);
    assert.match(page.url(), /\/models\/\d+$/, 'staying keeps the page');
    assert.equal(await page.locator('#general-ctx_size').inputValue(), '2048', 'and the edit');

    // Saved: nothing to ask.
    await page.getByRole('button', { name: 'Save general settings' }).click();
    await page.getByText('Saved edited').waitFor({ timeout: 5000 });
    await nav.click();
    await page.waitForURL(/\/activity$/);
    assert.equal(asked.length, 1);
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
