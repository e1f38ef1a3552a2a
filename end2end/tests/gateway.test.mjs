// The gateway from the browser: the Playground streams a reply from a stopped model (its load
// shown first), the Activity page shows the request live, and another tab sees the model run.
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

test('the Playground streams from a stopped model, and Activity and another tab hear of it live', async () => {
  const server = await startCorral();
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    const created = await api(server, 'models/create', { model: { name: 'Tiny', path, threads: 1, ctx_size: 256 } });
    assert.equal(created.status, 200, JSON.stringify(created.body));

    const models = await openPage(browser, server.url);
    await waitLive(models);
    const activity = await openPage(browser, `${server.url}/activity`);
    await waitLive(activity);
    const playground = await openPage(browser, `${server.url}/playground`);
    await waitLive(playground);

    // Everything the page said while the request was on its way, kept by an observer.
    await playground.evaluate(() => {
      window.seen = new Set();
      const note = () => {
        for (const el of document.querySelectorAll('.waiting, .page-head .status')) window.seen.add(el.innerText.trim());
      };
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    assert.equal(await playground.getByLabel('Model').inputValue(), 'Tiny');
    // A few dozen: the random-weight model may write tokens that decode to nothing.
    await playground.locator('details.sampling summary').click();
    await playground.getByLabel('Max tokens').fill('32');
    await playground.getByLabel('Max tokens').press('Tab');
    await playground.getByLabel('Message').fill('hello');
    await playground.getByRole('button', { name: 'Send' }).click();

    const reply = playground.locator('.turn.assistant');
    await reply.locator('.reply-figures', { hasText: /tok\/s/ }).waitFor({ timeout: 30000 });
    const figures = await reply.locator('.reply-figures').innerText();
    assert.match(figures, /first token \d/);
    assert.match(figures, /\d+ generated/);
    assert.ok((await reply.locator('.text').innerText()).length > 0, 'the reply has text');
    const seen = await playground.evaluate(() => [...window.seen]);
    assert.ok(seen.includes('Loading the model…') || seen.includes('Loading'), `the load was shown: ${seen}`);
    assert.deepEqual(playground.errors, []);

    // The Activity page got the request without a reload.
    const row = activity.locator('table.activity tbody tr').first();
    await row.waitFor({ timeout: 10000 });
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], 'Tiny');
    assert.equal(cells[2], '/v1/chat/completions');
    assert.match(cells[3], /^200/);
    assert.match(cells[4], /started it/);
    assert.deepEqual(activity.errors, []);

    // And the models page in another tab saw the model start.
    const tiny = models.locator('table.models tbody tr', { has: models.getByRole('link', { name: 'Tiny', exact: true }) });
    await tiny.locator('.status', { hasText: 'Running' }).waitFor({ timeout: 10000 });

    // Its page says how to use it, with this server's address.
    const detail = await openPage(browser, `${server.url}/models/${created.body.id}`);
    const curl = await detail.getByLabel('curl example', { exact: true }).innerText();
    assert.ok(curl.startsWith(`curl ${server.url}/v1/chat/completions`), curl);
    assert.match(curl, /"model": "Tiny"/);
    assert.match(await detail.getByLabel('Python example', { exact: true }).innerText(), new RegExp(`base_url="${server.url}/v1"`));
  } finally {
    await server.stop();
  }
});
