// Activity and Monitoring read like a product: llama-server's own error message in the request
// table, times in the reader's zone with UTC on hover, per-model live charts titled by name
// with every axis label inside the chart, and Corral's log in words with model names.
// Real llama-server; two tiny models under --max-running 1 so one request evicts the other.
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

function chat(server, model, content, maxTokens) {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], max_tokens: maxTokens }),
  });
}

test('errors carry their message, times are local, model charts and the log speak in names', async () => {
  const server = await startCorral({ extra: ['--max-running', '1'] });
  try {
    const path = join(server.dataDir, 'tiny.gguf');
    execFileSync(BIN, ['test-model', path]);
    for (const name of ['first-model', 'second-model']) {
      const created = await api(server, 'models/create', { model: { name, path, threads: 1, ctx_size: 256 } });
      assert.equal(created.status, 200, JSON.stringify(created.body));
    }
    const monitoring = await openPage(browser, `${server.url}/monitoring`, { timezoneId: 'Asia/Tokyo' });
    await waitLive(monitoring);
    assert.equal((await chat(server, 'first-model', 'hello', 8)).status, 200);
    const refused = await chat(server, 'first-model', 'word '.repeat(2000), 4);
    assert.equal(refused.status, 400);

    // The model's live charts, by name.
    const rss = monitoring.locator('figure.chart', { hasText: 'first-model · memory (RSS)' });
    await rss.waitFor({ timeout: 15000 });
    // Every label sits inside its chart's drawing.
    const outside = await monitoring.evaluate(() => [...document.querySelectorAll('figure.chart svg text')]
      .filter((t) => { const b = t.getBBox(); return b.x < 0 || b.x + b.width > 640.5; })
      .map((t) => t.textContent));
    assert.deepEqual(outside, []);

    // An eviction, told in words with both names.
    assert.equal((await chat(server, 'second-model', 'hello', 8)).status, 200);
    const log = monitoring.getByRole('log', { name: 'Log lines' });
    await log.getByText(/stopping first-model, to start second-model/).waitFor({ timeout: 15000 });
    const text = await log.innerText();
    assert.doesNotMatch(text, /model_id=|Some\(|corral::/, text);

    const activity = await openPage(browser, `${server.url}/activity`, { timezoneId: 'Asia/Tokyo' });
    await waitLive(activity);
    const failed = activity.locator('table.activity tbody tr', { hasText: '400' }).first();
    await failed.waitFor({ timeout: 10000 });
    assert.match(await failed.innerText(), /exceeds the available context size/);
    // Local time (Tokyo is UTC+9), with UTC on hover.
    const time = failed.locator('time');
    const hover = await time.getAttribute('title');
    assert.match(hover, /UTC/);
    const shown = await time.innerText();
    const utcClock = hover.match(/(\d\d:\d\d:\d\d) UTC$/)[1];
    const hours = (Number(utcClock.slice(0, 2)) + 9) % 24;
    assert.equal(shown, `${String(hours).padStart(2, '0')}${utcClock.slice(2)}`);
    assert.deepEqual([...monitoring.errors, ...activity.errors], []);
  } finally {
    await server.stop();
  }
});
