// The Playground as a chat: Enter sends (Shift+Enter is a new line), a reply's fenced code block
// is a code element with a Copy button, the model's saved sampling is shown and applies, the
// conversation is saved and a reload finds it, and it can be regenerated, renamed and deleted.
// The model is the pinned llama-server with a random-weight test model; its saved sampling has
// a grammar, so every reply is the same Markdown (real llama-server, real constrained output).
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

const GRAMMAR = 'root ::= "Here:\\n\\n```js\\nlet x = 1;\\n```\\n"';

test('Enter sends, a code block is rendered as code, and a reload finds the saved conversation', async () => {
  const server = await startCorral();
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    // Another model first: the Playground would pick it unless told which.
    await api(server, 'models/create', { model: { name: 'aaa-first', path, threads: 1, ctx_size: 256 } });
    const created = await api(server, 'models/create', { model: { name: 'coder', path, threads: 1, ctx_size: 256 } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const saved = await api(server, 'models/config/save', { id: created.body.id, group: 'sampling', config: { grammar: GRAMMAR, temperature: 0.3 } });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));

    // "Chat with it" on the model's page opens the Playground with that model.
    const page = await openPage(browser, `${server.url}/models/${created.body.id}`);
    await waitLive(page);
    await page.getByRole('link', { name: 'Chat with it' }).click();
    await page.waitForURL(/\/playground\?model=coder$/);
    await page.waitForFunction(() => document.querySelector('select[aria-label="Model"]')?.value === 'coder', null, { timeout: 10000 });
    // The model's saved values are shown where a person would change them.
    await page.locator('details.sampling summary').click();
    await page.waitForFunction(() => document.querySelector('input[aria-label="Temperature"]')?.placeholder === 'model: 0.3', null, { timeout: 10000 });

    const message = page.getByLabel('Message', { exact: true });
    await message.fill('Show me a variable');
    await message.press('Shift+Enter');
    await message.pressSequentially('in JavaScript');
    assert.equal(await message.inputValue(), 'Show me a variable\nin JavaScript', 'Shift+Enter is a new line');
    assert.equal(await page.locator('.turn').count(), 0, 'and sends nothing');
    await message.press('Enter');

    const reply = page.locator('.turn.assistant');
    await reply.locator('.reply-figures', { hasText: /tok\/s/ }).waitFor({ timeout: 60000 });
    const code = reply.locator('.markdown pre code');
    assert.equal((await code.innerText()).trim(), 'let x = 1;');
    assert.equal(await code.getAttribute('class'), 'language-js');
    await reply.getByRole('button', { name: 'Copy', exact: true }).waitFor();
    assert.equal(await message.inputValue(), '', 'the box is cleared');

    // Saved: the address names it, the list shows it, and a reload opens it again.
    await page.waitForFunction(() => /\?c=\d+$/.test(location.href), null, { timeout: 10000 });
    const list = page.getByRole('navigation', { name: 'Conversations' });
    await list.getByText('Show me a variable in JavaScript').waitFor({ timeout: 10000 });
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.locator('.turn.user', { hasText: 'Show me a variable' }).waitFor({ timeout: 10000 });
    assert.equal((await page.locator('.turn.assistant .markdown pre code').innerText()).trim(), 'let x = 1;');

    // Regenerate replaces the last reply (still one of each).
    await page.getByRole('button', { name: 'Regenerate' }).click();
    await page.locator('.turn.assistant .reply-figures', { hasText: /tok\/s/ }).waitFor({ timeout: 60000 });
    assert.equal(await page.locator('.turn').count(), 2);

    // Rename and delete from the list.
    await list.getByRole('button', { name: /^Rename / }).click();
    await list.getByLabel('Conversation title').fill('Variables');
    await list.getByLabel('Conversation title').press('Enter');
    await list.getByText('Variables', { exact: true }).waitFor({ timeout: 5000 });
    const stored = (await api(server, 'conversations/list', {})).body;
    assert.equal(stored.length, 1);
    assert.equal(stored[0].title, 'Variables');
    assert.equal(stored[0].messages, 2);
    await list.getByRole('button', { name: 'Delete Variables' }).click();
    await list.getByRole('button', { name: 'Delete it' }).click();
    await list.getByText('None saved yet.').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('.turn').count(), 0, 'the open conversation went with it');
    assert.deepEqual(page.errors, []);
  } finally {
    await server.stop();
  }
});
