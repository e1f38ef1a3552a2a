// Virtual models and run-together groups on the models page in Chromium: made, changed and
// deleted from the page, each shown with its strategy or rules, its targets or members (the one
// a request would use now, or the running ones, marked; a target that names no model flagged)
// and kept within its card at 1280 and 400 px, light and dark, with a model running and one
// failed, long names and many targets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

const LONG = 'a-virtual-model-with-a-rather-long-name-that-keeps-going-for-the-whole-eighty-ch';
const LONG_GROUP = 'a-run-together-group-with-a-long-name-that-goes-on-and-on-past-the-card-edge';
const UNBROKEN = 'averyveryverylongmodelnamewithoutanyhyphenorspace_q4_k_m_imatrix_and_more_x';

let server;
let browser;

before(async () => {
  browser = await launchBrowser();
  assert.ok(process.env.CORRAL_LLAMA_SERVER, 'CORRAL_LLAMA_SERVER names the pinned llama-server (scripts/test sets it)');
  server = await startCorral({ extra: ['--max-running', '4'] });
  const tiny = join(server.dataDir, 'tiny.gguf');
  execFileSync(BIN, ['test-model', tiny]);
  const create = async (name, path) => {
    const reply = await api(server, 'models/create', { model: { name, path, threads: 1, ctx_size: 256 } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.id;
  };
  const tinyId = await create('tiny', tiny);
  const brokenId = await create('broken', '/models/not/there/broken.gguf');
  await create(UNBROKEN, tiny);
  const gone = await create('gone-soon', tiny);
  await api(server, 'models/start', { id: tinyId });
  await api(server, 'models/start', { id: brokenId });
  for (const body of [
    { name: LONG, strategy: 'spillover', spillover: 4, targets: [UNBROKEN, 'tiny', 'broken', 'gone-soon'] },
    { name: 'warm-pair', strategy: 'warm', targets: ['tiny', UNBROKEN, 'broken'] },
  ]) {
    const reply = await api(server, 'virtual/create', body);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  }
  await api(server, 'models/delete', { id: gone });
  const group = await api(server, 'groups/create', { name: LONG_GROUP, swap: false, persistent: true, members: [UNBROKEN, 'tiny', 'broken'] });
  assert.equal(group.status, 200, JSON.stringify(group.body));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function virtualRow(page, name) {
  return page.locator('.virtual-row', { has: page.locator('.virtual-name', { hasText: name }) });
}

test('a virtual model is made, changed and deleted on the models page', async () => {
  const page = await openPage(browser, server.url);
  await waitLive(page);
  await page.getByRole('button', { name: 'New virtual model' }).click();
  const dialog = page.getByRole('dialog', { name: 'New virtual model' });
  await dialog.locator('#virtual-name').fill('chat');
  await dialog.locator('#virtual-strategy').selectOption('fallback');
  await dialog.locator('#virtual-targets').fill('broken\nnobody');
  await dialog.getByRole('button', { name: 'Create' }).click();
  // A target that names no model is refused beside its field; nothing is made.
  await dialog.getByText(/no model is called 'nobody'/).waitFor();
  assert.equal((await api(server, 'virtual/list')).body.length, 2);
  await dialog.locator('#virtual-targets').fill('broken\ntiny');
  await dialog.getByRole('button', { name: 'Create' }).click();
  const row = virtualRow(page, 'chat');
  await row.waitFor();
  await row.locator('.badge', { hasText: 'fallback' }).waitFor();
  // Fallback tries the first target first: that is what it would use now.
  await row.locator('.chip.chip-used', { hasText: 'broken' }).waitFor();

  await row.getByRole('button', { name: 'Edit chat' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit chat' });
  await edit.locator('#virtual-strategy').selectOption('warm');
  await edit.getByRole('button', { name: 'Save' }).click();
  await row.locator('.badge', { hasText: 'warm' }).waitFor();
  // Warm prefers the running target.
  await row.locator('.chip.chip-used', { hasText: 'tiny' }).waitFor();
  const listed = (await api(server, 'virtual/list')).body.find((v) => v.name === 'chat');
  assert.deepEqual(listed.targets, ['broken', 'tiny']);
  assert.equal(listed.would_use, 'tiny');

  await row.getByRole('button', { name: 'Delete chat' }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await api(server, 'virtual/list')).body.some((v) => v.name === 'chat'), false);
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await page.context().close();
});

test('virtual models fit their card at 1280 and 400 px, light and dark, with long names and a missing target', async () => {
  mkdirSync('end2end/screenshots', { recursive: true });
  for (const [width, colorScheme] of [[1280, 'light'], [1280, 'dark'], [400, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, server.url, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    const long = virtualRow(page, LONG);
    await long.waitFor({ timeout: 15000 });
    await long.locator('.chip.chip-missing', { hasText: 'gone-soon' }).waitFor();
    await long.locator('.badge', { hasText: 'spillover (4 each)' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the page scrolls sideways by ${overflow} px`);
    const card = await page.locator('.card.virtual-models').boundingBox();
    assert.ok(card.x >= 0 && card.x + card.width <= width, `${width}: the card sits at ${card.x}..${card.x + card.width}`);
    for (const row of await page.locator('.virtual-row').all()) {
      for (const part of [row.getByRole('button', { name: /^Edit / }), row.getByRole('button', { name: /^Delete / }), row.locator('.chips')]) {
        const box = await part.boundingBox();
        assert.ok(box && box.x >= card.x && box.x + box.width <= card.x + card.width + 1,
          `${width} ${colorScheme}: a part of a row sits at ${box?.x}..${box && box.x + box.width}, outside ${card.x}..${card.x + card.width}`);
      }
    }
    await page.locator('.card.virtual-models').screenshot({ path: `end2end/screenshots/virtual-models-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test('the serving settings preview a request as llama-server will see it, as typed, at 1280 and 400 px', async () => {
  const id = (await api(server, 'models/get_by_name', { name: 'tiny' })).body.id;
  for (const [width, colorScheme] of [[1280, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, `${server.url}/models/${id}`, { viewport: { width, height: 900 }, colorScheme });
    await page.locator('#serving-filters').fill('{"strip": ["temperature"], "set": {"max_tokens": 64}}');
    await page.locator('#serving-variants').fill('{"high": {"chat_template_kwargs": {"reasoning_effort": "high"}}}');
    await page.getByText('Preview: a request as llama-server will see it').click();
    const out = page.locator('pre.shape-out');
    await out.filter({ hasText: '"max_tokens": 64' }).waitFor();
    assert.ok(!(await out.innerText()).includes('temperature'), 'the filter strips temperature');
    await page.locator('#shape-variant').selectOption('high');
    await out.filter({ hasText: 'reasoning_effort' }).waitFor();
    // A filter that would touch the model gives no preview, and says why.
    await page.locator('#serving-filters').fill('{"set": {"model": "other"}}');
    await page.getByText('Fix the settings above to see what is sent.').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the page scrolls sideways by ${overflow} px`);
    await page.locator('#serving').screenshot({ path: `end2end/screenshots/serving-preview-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

function groupRow(page, name) {
  return page.locator('.run-groups .virtual-row', { has: page.locator('.virtual-name', { hasText: name }) });
}

test('a run-together group is made, changed and deleted on the models page, its running members marked', async () => {
  const page = await openPage(browser, server.url);
  await waitLive(page);
  await page.getByRole('button', { name: 'New group' }).click();
  const dialog = page.getByRole('dialog', { name: 'New run-together group' });
  await dialog.locator('#group-name').fill('pair');
  await dialog.locator('#group-members').fill('tiny\nbroken');
  await dialog.getByRole('button', { name: 'Create' }).click();
  // A model is in one group at most: refused, nothing made.
  await dialog.getByText(/is in group/).waitFor();
  assert.equal((await api(server, 'groups/list')).body.length, 1);
  const free = (await api(server, 'models/create', { model: { name: 'loose', path: '/models/loose.gguf' } })).body;
  await dialog.locator('#group-members').fill('loose');
  await dialog.getByRole('button', { name: 'Create' }).click();
  const row = groupRow(page, 'pair');
  await row.waitFor();
  await row.locator('.badge', { hasText: 'swap · exclusive' }).waitFor();
  await row.locator('.chip', { hasText: 'loose' }).waitFor();

  await row.getByRole('button', { name: 'Edit group pair' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit group pair' });
  await edit.locator('#group-exclusive').selectOption('off');
  await edit.getByRole('button', { name: 'Save' }).click();
  await row.locator('.badge', { hasText: /^swap$/ }).waitFor();
  const listed = (await api(server, 'groups/list')).body.find((g) => g.name === 'pair');
  assert.equal(listed.exclusive, false);

  // The long group's running member is marked.
  await groupRow(page, LONG_GROUP).locator('.chip.chip-used', { hasText: 'tiny' }).waitFor();

  await row.getByRole('button', { name: 'Delete group pair' }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await api(server, 'groups/list')).body.some((g) => g.name === 'pair'), false);
  await api(server, 'models/delete', { id: free.id });
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await page.context().close();
});

test('run-together groups fit their card at 1280 and 400 px, light and dark, with a long name', async () => {
  mkdirSync('end2end/screenshots', { recursive: true });
  for (const [width, colorScheme] of [[1280, 'light'], [1280, 'dark'], [400, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, server.url, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    const long = groupRow(page, LONG_GROUP);
    await long.waitFor({ timeout: 15000 });
    await long.locator('.badge', { hasText: 'persistent' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the page scrolls sideways by ${overflow} px`);
    const card = await page.locator('.card.run-groups').boundingBox();
    assert.ok(card.x >= 0 && card.x + card.width <= width, `${width}: the card sits at ${card.x}..${card.x + card.width}`);
    for (const part of [long.getByRole('button', { name: /^Edit / }), long.getByRole('button', { name: /^Delete / }), long.locator('.chips')]) {
      const box = await part.boundingBox();
      assert.ok(box && box.x >= card.x && box.x + box.width <= card.x + card.width + 1,
        `${width} ${colorScheme}: a part of the row sits at ${box?.x}..${box && box.x + box.width}, outside ${card.x}..${card.x + card.width}`);
    }
    await page.locator('.card.run-groups').screenshot({ path: `end2end/screenshots/run-groups-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});
