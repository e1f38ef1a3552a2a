// Residency states on the models page and a model's settings: a model asleep (serving.idle_action
// sleep: its run facts say so), one that crashed (its reason begins "Crashed:"), one that
// crashed with restart on-failure (its reason says when it restarts, then it runs again), with
// a long name, at 1280 and 400 px, light and dark. Nothing scrolls sideways and the row's
// actions stay on screen; the model's Serving settings offer "Restart on crash" and "When idle".
// A model that keeps its KV cache (serving.keep_kv) shows, stopped, what is kept, and running
// again, what it restored.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

const NAMES = {
  asleep: 'Sleepy-Qwen2.5-Coder-32B-Instruct-Q4_K_M-that-naps-between-requests',
  crashed: 'Crashed-once',
  restarting: 'Comes-back',
  kept: 'Keeps-its-KV-cache-Meta-Llama-3.1-70B-Instruct-Q4_K_M-between-stops',
};

let server;
let browser;
const ids = {};

before(async () => {
  browser = await launchBrowser();
  server = await startCorral({ extra: ['--max-running', '4', '--llama-server', process.env.CORRAL_LLAMA_SERVER] });
  const tiny = join(server.dataDir, 'tiny.gguf');
  execFileSync(BIN, ['test-model', tiny]);
  for (const [key, name] of Object.entries(NAMES)) {
    const reply = await api(server, 'models/create', { model: { name, path: tiny, threads: 1, ctx_size: 256 } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    ids[key] = reply.body.id;
  }
  const serving = async (id, config) => {
    const reply = await api(server, 'models/config/save', { id, group: 'serving', config });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  };
  await serving(ids.asleep, { idle_ttl_seconds: 1, idle_action: 'sleep' });
  await serving(ids.restarting, { restart: 'on-failure' });
  await serving(ids.kept, { keep_kv: true });
  // The kept model answers a prompt, is stopped (its cache saved) before the others start.
  await ask(NAMES.kept);
  await api(server, 'models/stop', { id: ids.kept });
  for (const id of Object.values(ids)) {
    if (id !== ids.kept) await api(server, 'models/start', { id });
  }
  for (const id of [ids.crashed, ids.restarting]) {
    const [run] = await waitRun(id);
    process.kill(run.pid, 'SIGKILL');
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A short prompt to `model` through the gateway. */
async function ask(model) {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 2, messages: [{ role: 'user', content: 'the quick brown fox jumps over the lazy dog' }] }),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
}

/** The model's runs once its newest one is ready. */
async function waitRun(id) {
  for (let i = 0; i < 300; i += 1) {
    const runs = (await api(server, 'runs', { id })).body;
    if (runs?.[0]?.ready_at) return runs;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`model ${id} never ran`);
}

function row(page, name) {
  return page.locator('table.models tbody tr', { has: page.getByRole('link', { name, exact: true }) });
}

async function assertFits(page, width, names) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `at ${width} px the page scrolls sideways by ${overflow} px`);
  for (const name of names) {
    const control = row(page, name).getByRole('button', { name: `Actions for ${name}` });
    const box = await control.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= width, `${width} px, ${name}: its actions sit off screen`);
  }
}

test('asleep, crashed and restarting models read as such and fit at 1280 and 400 px, light and dark', async () => {
  mkdirSync('end2end/screenshots', { recursive: true });
  for (const [width, colorScheme] of [[1280, 'light'], [1280, 'dark'], [400, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, server.url, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    await row(page, NAMES.asleep).locator('.run-facts', { hasText: /^asleep/ }).waitFor({ timeout: 15000 });
    const crashed = row(page, NAMES.crashed).locator('.status-reason');
    await crashed.waitFor({ timeout: 10000 });
    assert.match(await crashed.getAttribute('title'), /^Crashed: .*SIGKILL/);
    // The restart came after its second: the model runs again, in a new process.
    await row(page, NAMES.restarting).locator('.run-facts', { hasText: /port \d+/ }).waitFor({ timeout: 15000 });
    await assertFits(page, width, [NAMES.asleep, NAMES.crashed, NAMES.restarting]);
    await page.screenshot({ path: `end2end/screenshots/residency-${width}-${colorScheme}.png`, fullPage: true });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
  const runs = (await api(server, 'runs', { id: ids.restarting })).body;
  assert.ok(runs.length >= 2, 'restarted after the crash');
  assert.match(runs[1].message, /^Crashed: /);
});

test("a model's Serving settings offer restart on crash and sleep when idle, at 1280 and 400 px", async () => {
  for (const [width, colorScheme] of [[1280, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, `${server.url}/models/${ids.restarting}`, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    const restart = page.getByLabel('Restart on crash');
    await restart.waitFor({ timeout: 10000 });
    assert.equal(await restart.inputValue(), 'on-failure');
    await page.getByLabel('When idle', { exact: true }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the settings scroll sideways by ${overflow} px`);
    await page.getByLabel('Restart on crash').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `end2end/screenshots/residency-settings-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test('a model that keeps its KV cache shows what is kept, then what it restored, at 1280 and 400 px', async () => {
  for (const [width, colorScheme] of [[1280, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, `${server.url}/models/${ids.kept}`, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    const kept = page.locator('.kept-kv');
    await kept.waitFor({ timeout: 10000 });
    assert.match(await kept.textContent(), /Kept KV cache: \d+ tokens in 1 slot .*the next start restores it/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the model page scrolls sideways by ${overflow} px`);
    await kept.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `end2end/screenshots/residency-kept-kv-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
  await api(server, 'models/start', { id: ids.kept });
  for (const [width, colorScheme] of [[1280, 'dark'], [400, 'light']]) {
    const page = await openPage(browser, server.url, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    await row(page, NAMES.kept).locator('.run-facts', { hasText: /KV cache restored \(\d+ tokens\)/ }).waitFor({ timeout: 15000 });
    await assertFits(page, width, Object.values(NAMES));
    await page.screenshot({ path: `end2end/screenshots/residency-restored-${width}-${colorScheme}.png`, fullPage: true });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test('memory by device shows what each running model holds and the budget; a model page says what a start needs and where it would not fit', async () => {
  // A budget far below what the running models hold: the meter shows them over it, and a
  // stopped model would not fit.
  const saved = await api(server, 'settings/save', { settings: { memory_budget_mib: 8 } });
  assert.equal(saved.status, 200, JSON.stringify(saved.body));
  for (const [width, colorScheme] of [[1280, 'light'], [1280, 'dark'], [400, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, server.url, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    const ram = page.locator('.devices .device', { hasText: 'RAM' });
    await ram.waitFor({ timeout: 15000 });
    await ram.locator('.held-by a', { hasText: NAMES.asleep }).waitFor({ timeout: 15000 });
    assert.match(await ram.locator('.device-standing').textContent(), /used of .* · models .* · budget 8\.0 MiB/);
    assert.equal(await ram.locator('.meter-models.over').count(), 1, 'the models hold more than the budget');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the page scrolls sideways by ${overflow} px`);
    const box = await ram.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= width, `${width} px: the device sits off screen`);
    await ram.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `end2end/screenshots/residency-devices-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
  await api(server, 'models/stop', { id: ids.crashed });
  for (const [width, colorScheme] of [[1280, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, `${server.url}/models/${ids.crashed}`, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    const need = page.locator('.memory-need');
    await need.waitFor({ timeout: 10000 });
    assert.match(await need.textContent(), /Memory: needs .*(measured on its last run|estimated from its file)/);
    const short = page.locator('.memory-short');
    assert.match(await short.textContent(), /Would not fit now: .* memory budget of RAM/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the model page scrolls sideways by ${overflow} px`);
    await short.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `end2end/screenshots/residency-need-${width}-${colorScheme}.png` });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
  await api(server, 'settings/save', { settings: { memory_budget_mib: 0 } });
});
