// Signing in, where a login is required (`--open-on-loopback false`, as on a LAN bind): the
// setup link from the log creates the admin, then sign out, a wrong password, sign in again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, startCorral } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** The setup and sign-in pages: no navigation, no live channel (whose socket would be refused). */
async function assertBarePage(page) {
  assert.equal(await page.locator('nav[aria-label="Main"]').count(), 0, 'no navigation before signing in');
  assert.equal(await page.locator('.connection').count(), 0, 'no live channel before signing in');
  // The socket used to be retried here, logging a refusal each time.
  await page.waitForTimeout(1500);
  assert.deepEqual(page.errors, []);
}

test('the setup link creates the admin; sign out, a wrong password, sign in again', async () => {
  const server = await startCorral({ extra: ['--open-on-loopback', 'false'] });
  try {
    const link = server.log().match(/(\/setup\?token=[A-Za-z0-9_-]+)/);
    assert.ok(link, 'the log holds the setup link');

    // Before the admin exists, every page leads to the setup.
    const page = await openPage(browser, server.url);
    assert.equal(new URL(page.url()).pathname, '/setup');

    await page.goto(`${server.url}${link[1]}`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await assertBarePage(page);
    await page.getByLabel('Password (at least 8 characters)').fill('a long enough secret');
    await page.getByLabel('The password again', { exact: true }).fill('a long enough secret');
    await page.getByRole('button', { name: 'Create and sign in' }).click();
    await page.waitForURL(`${server.url}/`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.getByRole('heading', { name: 'Models', exact: true }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${server.url}/login`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await assertBarePage(page);
    await page.getByLabel('Password', { exact: true }).fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong username or password' }).waitFor();

    await page.getByLabel('Password', { exact: true }).fill('a long enough secret');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.locator('.connection[data-state="live"]').waitFor();
    // Signed out, the pages tried no live channel; only the wrong password's 401 was logged.
    assert.deepEqual(page.errors.filter((e) => !e.includes('401')), []);

    // A key is shown once, then only by its prefix.
    await page.goto(`${server.url}/keys`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.getByLabel('Name', { exact: true }).fill('my script');
    await page.getByRole('button', { name: 'Make key' }).click();
    const key = (await page.getByLabel('New key', { exact: true }).innerText()).trim();
    assert.match(key, /^crl_[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Copy the new key' }).waitFor();
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), '', 'the form is ready for the next key');
    assert.equal(await page.getByRole('note').count(), 0, 'where a login is required, keys count: no notice says otherwise');
    const row = page.getByRole('table', { name: 'API keys' }).locator('tbody tr').first();
    await row.getByText('my script').waitFor();
    // Revoking asks first; "Keep" leaves the key as it was.
    await row.getByRole('button', { name: 'Revoke', exact: true }).click();
    await row.getByRole('button', { name: 'Keep' }).click();
    await row.getByRole('button', { name: 'Revoke', exact: true }).waitFor();
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
    await row.getByText(`${key.slice(0, 12)}…`).waitFor();
    assert.ok(!(await page.content()).includes(key), 'the key is not shown again');
    const models = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(models.status, 200);
    // What the key asked of the gateway is counted on its row.
    const asked = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(asked.status, 404);
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
    await row.getByText(/24 h: 1 request, 0 tokens · 30 days: 1 request, 0 tokens/).waitFor({ timeout: 10000 });

    // Signed in where a login is required, "Use this model" sends the key from CORRAL_API_KEY.
    const made = await page.request.post(`${server.url}/api/models/create`, { data: { model: { name: 'keyed', path: '/models/keyed.gguf' } } });
    assert.equal(made.status(), 200);
    await page.goto(`${server.url}/models/${(await made.json()).id}`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.getByLabel('curl example', { exact: true }).getByText('Authorization: Bearer $CORRAL_API_KEY').waitFor();
    assert.match(await page.getByLabel('Python example', { exact: true }).innerText(), /api_key=os\.environ\["CORRAL_API_KEY"\]/);

    assert.ok(!server.log().includes('a long enough secret'), 'the password is never logged');
    assert.ok(!server.log().includes(key), 'the key is never logged');
  } finally {
    await server.stop();
  }
});

test('on an open loopback the keys page says keys are not asked for there, and explains each scope', async () => {
  const server = await startCorral();
  try {
    const page = await openPage(browser, `${server.url}/keys`);
    await page.getByRole('note').filter({ hasText: 'not asked for a key' }).waitFor();
    await page.getByText('start, stop, load and unload models').waitFor();
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
