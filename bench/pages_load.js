// First load of each page in headless Chromium (Debian's /usr/bin/chromium, driven by
// the e2e tests' Playwright), for bench/pages.py: a fresh browser context per load (cold
// cache), the session cookie set, timed from navigation start to the `load` event, and
// for the analysis pages to `body[data-charts-ready=true]`. peakend and the plain server
// alternate, page by page. Prints JSON on stdout.
//
//     NODE_PATH=e2e/node_modules node bench/pages_load.js SPEC.json
const fs = require('fs');
const { chromium } = require('@playwright/test');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

async function once(browser, url, token, charts) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
  const u = new URL(url);
  await context.addCookies([{ name: 'peakend_session', value: token, domain: u.hostname, path: '/' }]);
  const page = await context.newPage();
  // When the charts are drawn, to the millisecond (not when Playwright next polls).
  await page.addInitScript(() => {
    new MutationObserver((_, obs) => {
      if (document.body && document.body.dataset.chartsReady === 'true') {
        window.__chartsReadyAt = performance.now();
        obs.disconnect();
      }
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-charts-ready'] });
  });
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
  if (!resp.ok()) throw new Error(`${url}: HTTP ${resp.status()}`);
  let ms = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return n.loadEventEnd - n.startTime;
  });
  if (charts) {
    await page.waitForSelector('body[data-charts-ready=true]', { timeout: 120_000 });
    ms = Math.max(ms, await page.evaluate(() => window.__chartsReadyAt));
  }
  await context.close();
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = [];
  try {
    // One untimed load of each server first: the browser's own start-up is not the page's.
    await once(browser, spec.pages[0].plain, spec.cookie[spec.pages[0].role], false);
    await once(browser, spec.pages[0].peakend, spec.cookie[spec.pages[0].role], false);
    for (const p of spec.pages) {
      const pk = [], pl = [];
      for (let i = 0; i < spec.loads; i++) {
        pk.push(await once(browser, p.peakend, spec.cookie[p.role], p.charts));
        pl.push(await once(browser, p.plain, spec.cookie[p.role], p.charts));
      }
      process.stderr.write(`  ${p.page}: peakend ${pk.map(Math.round)} ms, plain ${pl.map(Math.round)} ms\n`);
      out.push({
        page: p.page,
        load_peakend_p50: median(pk), load_peakend_max: Math.max(...pk),
        load_plain_p50: median(pl), load_plain_max: Math.max(...pl),
        loads: spec.loads,
      });
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
