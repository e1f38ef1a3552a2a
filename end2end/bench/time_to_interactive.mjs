// Time to interactive, measured in a real Chromium (run by `scripts/bench`, not a test): from
// navigation to the models page hydrated and its live channel open, at 10, 1,000 and 10,000
// models, on a first visit (a fresh browser profile: the bundle downloaded and compiled) and a
// return visit (a reload: the bundle from the HTTP cache); then a client-side navigation from the
// models page to Monitoring, click → its page drawn. Times are taken inside the page
// (`performance.now()`, from navigation start) by an observer installed before any script runs.
//
//   node end2end/bench/time_to_interactive.mjs [--quick] [--out FILE]
import { writeFileSync } from 'node:fs';
import { api, launchBrowser, startCorral } from '../tests/support.mjs';

const quick = process.argv.includes('--quick');
const outAt = process.argv.indexOf('--out');
const out = outAt > 0 ? process.argv[outAt + 1] : null;
const sizes = quick ? [10, 1000] : [10, 1000, 10000];
const runs = quick ? 5 : 15;

/** Installed before the page's own scripts: records when each milestone is first seen. */
function observeMilestones() {
  const marks = {};
  window.__corralMarks = marks;
  const check = () => {
    const now = performance.now();
    if (marks.hydrated === undefined && document.body?.dataset.hydrated === 'true') marks.hydrated = now;
    if (marks.live === undefined && document.querySelector('.connection')?.dataset.state === 'live') marks.live = now;
    if (marks.clicked !== undefined && marks.monitoring === undefined
        && document.querySelector('main h1')?.textContent === 'Monitoring') marks.monitoring = now;
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  document.addEventListener('click', () => { window.__corralMarks.clicked ??= performance.now(); }, true);
}

async function seed(server, from, to) {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const reply = await api(server, 'models/create', { model: { name: `model ${i}`, path: '/models/bench.gguf' } });
      if (reply.status !== 200) throw new Error(`create model ${i}: ${reply.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function interactive(page) {
  await page.waitForFunction(() => window.__corralMarks?.hydrated !== undefined && window.__corralMarks?.live !== undefined,
    null, { timeout: 60000, polling: 50 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const m = window.__corralMarks;
    const wasm = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/pkg/corral.wasm'));
    return { html: nav.responseEnd, wasm: wasm?.responseEnd ?? NaN, hydrated: m.hydrated, interactive: Math.max(m.hydrated, m.live) };
  });
}

function summarise(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return { median_ms: Math.round(at(0.5) * 10) / 10, p90_ms: Math.round(at(0.9) * 10) / 10, runs: values.length };
}

const server = await startCorral();
const browser = await launchBrowser();
const results = [];
let seeded = 0;
try {
  for (const models of sizes) {
    await seed(server, seeded, models);
    seeded = models;
    const first = [], firstHtml = [], firstWasm = [], firstHydrated = [], again = [], monitoring = [];
    for (let run = 0; run < runs; run++) {
      const context = await browser.newContext();
      await context.addInitScript(observeMilestones);
      const page = await context.newPage();
      await page.goto(server.url, { waitUntil: 'commit' });
      const cold = await interactive(page);
      first.push(cold.interactive);
      firstHtml.push(cold.html);
      firstWasm.push(cold.wasm);
      firstHydrated.push(cold.hydrated);
      await page.reload({ waitUntil: 'commit' });
      again.push((await interactive(page)).interactive);
      await page.click('nav a[href="/monitoring"]');
      await page.waitForFunction(() => window.__corralMarks?.monitoring !== undefined, null, { timeout: 30000, polling: 20 });
      monitoring.push(await page.evaluate(() => window.__corralMarks.monitoring - window.__corralMarks.clicked));
      await context.close();
    }
    const row = {
      models,
      first_visit: summarise(first),
      first_visit_html_received: summarise(firstHtml),
      first_visit_wasm_received: summarise(firstWasm),
      first_visit_hydrated: summarise(firstHydrated),
      return_visit: summarise(again),
      click_to_monitoring: summarise(monitoring),
    };
    results.push(row);
    console.log(`${models} models: interactive ${row.first_visit.median_ms} ms first visit (HTML in at ${row.first_visit_html_received.median_ms}, `
      + `main WASM in at ${row.first_visit_wasm_received.median_ms}, hydrated at ${row.first_visit_hydrated.median_ms}), `
      + `${row.return_visit.median_ms} ms return visit; Monitoring ${row.click_to_monitoring.median_ms} ms after the click`);
  }
} finally {
  await browser.close();
  await server.stop();
}
if (out) writeFileSync(out, JSON.stringify(results));
