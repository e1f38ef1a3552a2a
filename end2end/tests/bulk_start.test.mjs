// Starting a selection that does not fit under --max-running: the page says what would happen
// (which other model stops, which would not start) before anything starts, and starts only
// what the person then chooses. Real llama-server, tiny random-weight models.
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

async function statuses(server) {
  const models = (await api(server, 'models/list', {})).body;
  return Object.fromEntries(models.map((m) => [m.name, m.status]));
}

test('a bulk start over the limit says what it would stop before starting anything', async () => {
  const server = await startCorral({ extra: ['--max-running', '2'] });
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    const ids = {};
    for (const name of ['alpha', 'beta', 'gamma', 'delta']) {
      const created = await api(server, 'models/create', { model: { name, path, threads: 1, ctx_size: 128 } });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      ids[name] = created.body.id;
    }
    const started = await api(server, 'models/start', { id: ids.alpha });
    assert.equal(started.status, 200, JSON.stringify(started.body));

    const page = await openPage(browser, server.url);
    await waitLive(page);
    await page.locator(`tr[data-model-id="${ids.alpha}"] .status`, { hasText: 'Running' }).waitFor({ timeout: 30000 });
    for (const name of ['beta', 'gamma', 'delta']) await page.getByLabel(`Select ${name}`).check();
    await page.getByRole('button', { name: 'Start selected', exact: true }).click();
    const plan = page.locator('.bulk-plan');
    await plan.waitFor({ timeout: 5000 });
    const said = await plan.innerText();
    assert.match(said, /2 models may run at once/);
    assert.match(said, /stops alpha/);
    assert.match(said, /gamma and delta would not start|delta would not start/);
    assert.deepEqual(await statuses(server), { alpha: 'running', beta: 'stopped', gamma: 'stopped', delta: 'stopped' }, 'nothing started or stopped yet');

    // Cancel changes nothing; asking again and choosing starts only what fits.
    await plan.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await plan.count(), 0);
    await page.getByRole('button', { name: 'Start selected', exact: true }).click();
    await page.locator('.bulk-plan').getByRole('button', { name: /^Start \d/ }).click();
    await page.locator(`tr[data-model-id="${ids.gamma}"] .status`, { hasText: 'Running' }).waitFor({ timeout: 30000 });
    await page.locator(`tr[data-model-id="${ids.beta}"] .status`, { hasText: 'Running' }).waitFor({ timeout: 30000 });
    const after = await statuses(server);
    assert.equal(after.alpha, 'stopped');
    assert.equal(after.delta, 'stopped', 'the one that did not fit was never started');
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
