// Manual probe (not part of the suite): which pages scroll sideways at 400 px, and by what.
import { startCorral, launchBrowser, openPage, createModel } from './tests/support.mjs';
const server = await startCorral();
const browser = await launchBrowser();
const m = await createModel(server, 'A model with a fairly long name-Q4_K_M', '/models/some/long/folder/name/model-Q4_K_M.gguf');
for (const path of ['/', `/models/${m.id}`, '/playground', '/activity', '/monitoring', '/keys', '/settings']) {
  for (const scheme of ['light']) {
    const page = await openPage(browser, server.url + path, { viewport: { width: 400, height: 800 }, colorScheme: scheme });
    await page.waitForTimeout(800);
    const report = await page.evaluate(() => {
      const over = document.documentElement.scrollWidth - innerWidth;
      const culprits = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && e.getClientRects().length)
        .slice(0, 6).map((e) => `${e.tagName.toLowerCase()}.${e.className}`.slice(0, 60) + ' ' + Math.round(e.getBoundingClientRect().right));
      return { over, culprits };
    });
    console.log(path, scheme, JSON.stringify(report), page.errors);
    await page.screenshot({ path: `/tmp/shots/${path.replaceAll('/', '_') || 'root'}-400-${scheme}.png`, fullPage: true });
    await page.context().close();
  }
}
await browser.close(); await server.stop();
