// axe-core on every page, light and dark at 1280 px and light at 400 px, with a model running,
// files found, a saved conversation and the Add dialog open: no serious or critical violation.
// (axe is injected with the page's CSP bypassed: the pages allow no foreign script.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** The serious and critical violations on the page as it is now, as readable lines. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`));
}

const VIEWS = [
  { width: 1280, colorScheme: 'light' },
  { width: 1280, colorScheme: 'dark' },
  { width: 400, colorScheme: 'light' },
];

test('every page has no serious accessibility violation, light and dark, wide and narrow', async () => {
  const folder = realpathSync(mkdtempSync(join(tmpdir(), 'corral-models-')));
  execFileSync(BIN, ['test-model', join(folder, 'Found-Model-Q8_0.gguf')]);
  const server = await startCorral({ extra: ['--models-dir', folder] });
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    const created = await api(server, 'models/create', { model: { name: 'tiny', path, threads: 1, ctx_size: 256 } });
    const id = created.body.id;
    assert.equal((await api(server, 'models/start', { id })).status, 200);
    const saved = await api(server, 'conversations/save', { conversation: { model: 'tiny', messages: [
      { role: 'user', text: 'Show code' },
      { role: 'assistant', text: 'Here:\n\n```js\nlet x = 1;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |', ttft_ms: 20, cost: { generated_tokens: 9 } },
    ] } });
    const pages = ['/', `/models/${id}`, `/playground?c=${saved.body.id}`, '/activity', '/monitoring', '/keys', '/settings', '/no-such-page'];
    const found = [];
    for (const view of VIEWS) {
      for (const where of pages) {
        const page = await openPage(browser, `${server.url}${where}`, { viewport: { width: view.width, height: 900 }, colorScheme: view.colorScheme, bypassCSP: true });
        await waitLive(page);
        await page.waitForTimeout(800);
        found.push(...(await violations(page)).map((v) => `${where} ${view.width} ${view.colorScheme}: ${v}`));
        if (where === '/') {
          await page.getByRole('button', { name: 'Add model', exact: true }).click();
          await page.getByRole('dialog', { name: 'Add model' }).waitFor();
          found.push(...(await violations(page)).map((v) => `Add dialog ${view.width} ${view.colorScheme}: ${v}`));
        }
        await page.context().close();
      }
    }
    assert.deepEqual(found, []);
  } finally {
    await server.stop();
  }
});

test('the sign-in and setup pages have no serious accessibility violation', async () => {
  const server = await startCorral({ extra: ['--open-on-loopback', 'false'] });
  try {
    const found = [];
    for (const view of VIEWS) {
      for (const where of ['/login', '/setup']) {
        const page = await openPage(browser, `${server.url}${where}`, { viewport: { width: view.width, height: 900 }, colorScheme: view.colorScheme, bypassCSP: true });
        found.push(...(await violations(page)).map((v) => `${where} ${view.width} ${view.colorScheme}: ${v}`));
        await page.context().close();
      }
    }
    assert.deepEqual(found, []);
  } finally {
    await server.stop();
  }
});
