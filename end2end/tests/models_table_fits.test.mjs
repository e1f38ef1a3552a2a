// The models table in the states people are in: stopped, loading (a long stage line), running
// (its run facts) and failed (a long reason), with long names, at 1280 and 400 px. The page
// never scrolls sideways, every row's Start/Stop and "⋯" stay inside the card and the viewport,
// and names wrap only where they have a space or a hyphen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, api, launchBrowser, openPage, startCorral, waitLive } from './support.mjs';

const LONG_STAGE = 'llama_context: n_ctx_seq (4194304) > n_ctx_train (512) -- possible training context overflow, '
  + 'and a log line that goes on and on without a break: '.repeat(4);
const NAMES = {
  running: 'Tiny',
  loading: 'slow-loader-that-never-finishes',
  failed: 'Broken',
  hyphenated: 'Qwen2.5-Coder-32B-Instruct-Abliterated-Q4_K_M-imatrix-long',
  unbreakable: 'averyveryverylongmodelnamewithoutanyhyphenorspace_q4_k_m_imatrix',
};

let server;
let browser;

before(async () => {
  browser = await launchBrowser();
  // A stand-in in front of the pinned llama-server: the model named "slow-loader…" prints one
  // long log line and never becomes ready, so "loading" lasts as long as the test needs (a real
  // tiny model loads in a fraction of a second). Every other run is the real server.
  const real = process.env.CORRAL_LLAMA_SERVER;
  assert.ok(real, 'CORRAL_LLAMA_SERVER names the pinned llama-server (scripts/test sets it)');
  const dataDir = mkdtempSync(join(tmpdir(), 'corral-e2e-'));
  const wrapper = join(dataDir, 'llama-server');
  writeFileSync(wrapper, `#!/bin/sh\ncase "$*" in *"--alias ${NAMES.loading}"*) echo '${LONG_STAGE}' >&2; while true; do sleep 0.1; done;; esac\nexec '${real}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  server = await startCorral({ dataDir, extra: ['--max-running', '4', '--load-timeout', '600', '--llama-server', wrapper] });

  const tiny = join(server.dataDir, 'tiny.gguf');
  execFileSync(BIN, ['test-model', tiny]);
  const create = async (name, path, extra = {}) => {
    const reply = await api(server, 'models/create', { model: { name, path, threads: 1, ctx_size: 256, ...extra } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.id;
  };
  const running = await create(NAMES.running, tiny);
  const loading = await create(NAMES.loading, tiny);
  const failed = await create(NAMES.failed, '/models/a/directory/that/is/not/there/with/a-rather-long-file-name-Q8_0.gguf');
  await create(NAMES.hyphenated, '/models/qwen/long-name.gguf');
  await create(NAMES.unbreakable, '/models/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/unbreakable.gguf');
  for (const id of [running, loading, failed]) await api(server, 'models/start', { id });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function row(page, name) {
  return page.locator('table.models tbody tr', { has: page.getByRole('link', { name, exact: true }) });
}

/** Whether a name's text wraps to a new line after anything but a space or a hyphen. */
function nameBreaksMidWord(link) {
  return link.evaluate((a) => {
    const walker = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
    let top = null;
    let before = '';
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i += 1) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (rect && rect.width > 0) {
          if (top !== null && rect.top > top + 2 && before !== '-' && before !== ' ') return true;
          top = rect.top;
        }
        before = node.data[i];
      }
    }
    return false;
  });
}

async function assertFits(page, width) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `at ${width} px the page scrolls sideways by ${overflow} px`);
  const card = await page.locator('.table-wrap').boundingBox();
  assert.ok(card.x >= 0 && card.x + card.width <= width, `at ${width} px the card sits at ${card.x}..${card.x + card.width}`);
  for (const tr of await page.locator('table.models tbody tr').all()) {
    const name = await tr.locator('td.col-name a').innerText();
    for (const control of [tr.locator('.run-button'), tr.getByRole('button', { name: /^Actions for / })]) {
      const box = await control.boundingBox();
      assert.ok(box, `${width} px, ${name}: a control is not shown`);
      assert.ok(box.x >= card.x && box.x + box.width <= card.x + card.width,
        `${width} px, ${name}: a control sits at ${box.x}..${box.x + box.width}, outside the card ${card.x}..${card.x + card.width}`);
    }
    assert.equal(await nameBreaksMidWord(tr.locator('td.col-name a')), false, `${width} px: "${name}" breaks inside a word`);
    const cell = await tr.locator('td.col-status').boundingBox();
    for (const fact of await tr.locator('.run-facts, .status-reason').all()) {
      const box = await fact.boundingBox();
      assert.ok(box.x + box.width <= cell.x + cell.width + 1, `${width} px, ${name}: its status text leaves its cell`);
    }
  }
}

test('with models stopped, loading, running and failed, the table fits its card at 1280 and 400 px and keeps every action on screen', async () => {
  mkdirSync('end2end/screenshots', { recursive: true });
  for (const [width, colorScheme] of [[1280, 'light'], [1280, 'dark'], [1000, 'light'], [800, 'light'], [400, 'light'], [400, 'dark']]) {
    const page = await openPage(browser, server.url, { viewport: { width, height: 900 }, colorScheme });
    await waitLive(page);
    await row(page, NAMES.running).locator('.run-facts', { hasText: /port \d+/ }).waitFor({ timeout: 30000 });
    await row(page, NAMES.loading).locator('.run-facts .stage', { hasText: 'n_ctx_seq' }).waitFor({ timeout: 30000 });
    await row(page, NAMES.failed).locator('.status-reason').waitFor({ timeout: 10000 });
    // The whole of a cut text is its title.
    assert.equal(await row(page, NAMES.loading).locator('.run-facts .stage').getAttribute('title'), LONG_STAGE.trim());
    assert.ok((await row(page, NAMES.failed).locator('.status-reason').getAttribute('title')).length > 20);
    assert.equal(await row(page, NAMES.unbreakable).locator('td.col-name a').getAttribute('title'), NAMES.unbreakable);
    await assertFits(page, width);
    await page.screenshot({ path: `end2end/screenshots/models-table-${width}-${colorScheme}.png`, fullPage: true });

    if (width === 400) {
      // Rows are cards: the name and its actions share the top line.
      const tiny = row(page, NAMES.running);
      assert.equal(await tiny.evaluate((tr) => getComputedStyle(tr).display), 'grid');
      const nameBox = await tiny.locator('td.col-name').boundingBox();
      const actionsBox = await tiny.locator('td.col-actions').boundingBox();
      assert.ok(Math.abs(nameBox.y - actionsBox.y) < 12, 'the name and the actions share the top of the card');
    }

    // An open menu does not push the page sideways either.
    await page.getByRole('button', { name: `Actions for ${NAMES.running}` }).click();
    await page.getByRole('menuitem', { name: 'Stop', exact: true }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `at ${width} px the open menu makes the page scroll sideways by ${overflow} px`);
    await page.keyboard.press('Escape');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});
