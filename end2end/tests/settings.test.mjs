// The Settings page in Chromium: a change applies at once and is there after a reload; a flag
// given at start wins and the page says so; the llama-server in use is described.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, openPage, startCorral } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

function effective(page, label) {
  return page.getByRole('table', { name: 'Settings in effect' }).getByRole('row').filter({ hasText: label });
}

test('a setting saved on the page applies at once and is still there after a restart', async () => {
  let server = await startCorral();
  try {
    const page = await openPage(browser, `${server.url}/settings`);
    await page.getByRole('heading', { name: 'llama-server' }).waitFor();
    await page.getByText(/built with/).waitFor({ timeout: 15000 });
    await page.locator('#settings-max_running').fill('1');
    await page.locator('#settings-when_full').selectOption('refuse');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await effective(page, 'Models running at once').getByText('1', { exact: true }).waitFor({ timeout: 5000 });
    const now = await api(server, 'settings/get');
    assert.equal(now.body.effective.max_running, 1);
    assert.equal(now.body.effective.when_full, 'refuse');

    // A value the rules refuse is named beside its field, and nothing changes.
    await page.locator('#settings-ports').fill('9000-8000');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText(/Port range must be a port range/).waitFor();
    assert.equal((await api(server, 'settings/get')).body.stored.ports, null);

    const { port, dataDir } = server;
    await server.stop({ keepData: true });
    server = await startCorral({ port, dataDir });
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.locator('#settings-max_running').waitFor();
    assert.equal(await page.locator('#settings-max_running').inputValue(), '1');
    assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  } finally {
    await server.stop();
  }
});

test('a flag given at start wins over the page, which says so', async () => {
  const server = await startCorral({ extra: ['--max-running', '3'] });
  try {
    const page = await openPage(browser, `${server.url}/settings`);
    const flags = page.getByRole('region', { name: 'Set by flag' });
    await flags.getByText('--max-running').waitFor({ timeout: 15000 });
    await page.locator('#settings-max_running').fill('1');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await effective(page, 'Models running at once').getByText(/3 \(set by flag --max-running\)/).waitFor({ timeout: 5000 });
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
