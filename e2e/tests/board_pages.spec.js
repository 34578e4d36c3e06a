// Pages people act on (issue 25), in a real browser on both languages and a phone:
// the live board keeps its cards, clock and highlights current without a reload;
// error pages speak the reader's language inside the site header; the blueprint and
// poster read units as people say them; each page passes axe-core (WCAG 2 A/AA).
const { test, expect } = require('@playwright/test');
const { AxeBuilder } = require('@axe-core/playwright');
const fs = require('fs');
const path = require('path');

const state = () => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'artifacts', 'state.json'), 'utf8'));
const shot = (page, name) => page.screenshot({ path: path.join(__dirname, '..', 'artifacts', name + '.png'), fullPage: true });

async function signIn(page, who, lang) {
  const s = state();
  await page.goto('/login' + (lang === 'en' ? '?lang=en' : ''));
  await page.fill('input[name=name]', who);
  await page.fill('input[name=password]', s.logins[who].password);
  await page.click('button[type=submit]');
  await expect(page.locator('#who')).toContainText(who);
}

async function accessible(page) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '))).toEqual([]);
}

async function postEvents(request, events) {
  const s = state();
  const body = events.map((e) => JSON.stringify({ hall: s.hall, at: new Date().toISOString(), ...e })).join('\n');
  const r = await request.post('/api/v1/events', { headers: { Authorization: 'Bearer ' + s.token }, data: body });
  expect(r.status()).toBe(200);
}

test('the live board: cards, clock and crowding update without a reload', async ({ page, request }) => {
  await signIn(page, 'staff');
  await page.goto('/halls/' + state().hall + '/board');
  await expect(page.locator('body[data-live=true]')).toHaveCount(1);
  await expect(page.locator('#live-state')).toContainText('实时连接中');
  await expect(page.locator('#hall-clock')).toHaveText(/^\d\d:\d\d$/);
  const arrivals = page.locator('[data-kpi=arrivals] .n');
  const before = Number(await arrivals.textContent());
  const stamp = String(Date.now()).slice(-6);
  await page.waitForTimeout(300);
  await postEvents(request, [{ id: 'c-' + stamp, type: 'counter_opened', counter: 'x-' + stamp }]
    .concat([1, 2, 3, 4, 5].map((i) => ({ id: `b-${stamp}-${i}`, type: 'ticket_issued', ticket: `B${stamp}-${i}`, service: 'payment' }))));
  await expect(page.locator(`#waiting tr[data-ticket="B${stamp}-5"]`)).toBeVisible({ timeout: 3000 });
  // The cards follow the roll-up after the events, with no reload.
  await expect.poll(async () => Number(await arrivals.textContent()), { timeout: 8000 }).toBeGreaterThanOrEqual(before + 5);
  await accessible(page);
  await shot(page, '40-board-live');
});

test('the live board in English on a phone', async ({ browser }) => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: test.info().project.use.baseURL });
  const page = await phone.newPage();
  await signIn(page, 'staff', 'en');
  await page.goto('/halls/' + state().hall + '/board?lang=en');
  await expect(page.locator('#live-state')).toContainText('Live');
  await expect(page.locator('#day-alerts-box summary')).toContainText("All of today's alerts");
  // The header does not wrap a character per line on a phone.
  const brand = await page.locator('header .brand').boundingBox();
  expect(brand.height).toBeLessThan(40);
  await accessible(page);
  await shot(page, '41-board-phone-en');
  await phone.close();
});

test('error pages: the site header, the reader\'s language, HTML at an unknown address', async ({ page }) => {
  await signIn(page, 'manager');
  let r = await page.goto('/no-such-page');
  expect(r.status()).toBe(404);
  await expect(page.locator('header .brand')).toBeVisible();
  await expect(page.locator('h1')).toContainText('页面不存在');
  await accessible(page);
  await shot(page, '42-error-404-zh');
  r = await page.goto('/?node=nowhere-at-all&lang=en');
  expect(r.status()).toBeGreaterThanOrEqual(400);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('#error-message')).not.toContainText('无');
  await shot(page, '43-error-en');
});

test('the blueprint and poster read units as people say them', async ({ page }) => {
  await signIn(page, 'manager');
  await page.goto('/journeys/service-hall');
  const body = await page.locator('main').innerText();
  expect(body).toContain('字/分钟');
  expect(body).not.toContain('chars_per_min');
  expect(body).not.toContain('working_day');
  await page.goto('/journeys/service-hall/poster?lang=en');
  const poster = await page.locator('body').innerText();
  expect(poster).toContain('chars/min');
  expect(poster).not.toContain('chars_per_min');
});

test('the QR page fits a phone and warns when no public address is set', async ({ browser }) => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: test.info().project.use.baseURL });
  const page = await phone.newPage();
  await signIn(page, 'manager');
  await page.goto('/halls/' + state().hall + '/qr');
  await expect(page.locator('.warn')).toContainText('PEAKEND_PUBLIC_URL');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(390);
  await shot(page, '44-qr-phone');
  await phone.close();
});

test('the KPI page: tables by hour, counter and staff, exports, in both languages', async ({ page }) => {
  await signIn(page, 'manager');
  await page.goto('/kpi');
  await expect(page.locator('#kpi-total')).toBeVisible();
  await expect(page.locator('h2', { hasText: '按小时' })).toBeVisible();
  const csv = await page.request.get(await page.locator('#export-csv').getAttribute('href'));
  expect(csv.status()).toBe(200);
  expect((await csv.text()).split('\n')[0]).toContain('到厅');
  await accessible(page);
  await shot(page, '45-kpi-zh');
  await page.goto('/kpi?lang=en');
  await expect(page.locator('h2', { hasText: 'By counter' })).toBeVisible();
  const xlsx = await page.request.get(await page.locator('#export-xlsx').getAttribute('href'));
  expect(xlsx.headers()['content-type']).toContain('spreadsheetml');
  await shot(page, '46-kpi-en');
});

test('honest charts: zero-based bars with titled axes, intervals, no overlapping labels, tables and a comparison', async ({ page }) => {
  await signIn(page, 'director');
  await page.goto('/analysis');
  await expect(page.locator('body[data-charts-ready=true]')).toHaveCount(1);
  const o = await page.evaluate(() => {
    const c = echarts.getInstanceByDom(document.getElementById('journey-curve')).getOption();
    const q = echarts.getInstanceByDom(document.getElementById('quadrant')).getOption();
    const ci = c.series.find((s) => s.id === 'satisfaction-ci').markLine.data.length;
    const qci = q.series.find((s) => s.id === 'intervals').markLine.data.length;
    return { y: c.yAxis.map((a) => [a.min, a.max, a.name]), ci, qci, points: q.series[0].data.length, qx: q.xAxis[0].name, qy: q.yAxis[0].name, hide: q.series[0].labelLayout.hideOverlap };
  });
  expect(o.y.map((a) => a[0])).toEqual([0, 0]);
  expect(o.y.every((a) => a[2] && a[2].includes('1–10'))).toBe(true);
  // An interval for each moment's satisfaction; both ways on the quadrant.
  expect(o.ci).toBe(16);
  expect(o.qci).toBe(2 * o.points);
  expect(o.qx).toContain('重要性');
  expect(o.qy).toContain('满意度');
  expect(o.hide).toBe(true);
  // The table alternative of the curve has every moment; the province compares its cities.
  await expect(page.locator('#curve-table tbody tr')).toHaveCount(16);
  await expect(page.locator('#compare-table tbody tr')).toHaveCount(16);
  expect(await page.locator('#compare-table thead th').count()).toBeGreaterThan(2);
  // Headings are not clipped: each fits its panel.
  const clipped = await page.evaluate(() => [...document.querySelectorAll('.panel h2')].filter((h) => h.scrollWidth > h.clientWidth + 1).length);
  expect(clipped).toBe(0);
  await accessible(page);
  await shot(page, '47-charts-zh');
  await page.goto('/analysis?lang=en');
  await expect(page.locator('body[data-charts-ready=true]')).toHaveCount(1);
  await expect(page.locator('#compare h2')).toContainText('Comparison');
  await shot(page, '48-charts-en');
});

test('the overview: peak and end, trends, child figures, ranking flags; the hall view; a phone', async ({ browser, page }) => {
  await signIn(page, 'director');
  const t0 = Date.now();
  await page.goto('/');
  const took = Date.now() - t0;
  await expect(page.locator('#peak-end .card')).toHaveCount(4);
  await expect(page.locator('#trend-panel[data-loaded=true]')).toHaveCount(1);
  await expect(page.locator('#trend canvas').first()).toBeVisible();
  await expect(page.locator('#peak-end .chg').first()).toBeVisible();
  expect(await page.locator('#trend-table tbody tr').count()).toBeGreaterThan(1);
  await expect(page.locator('#children .card').first()).toContainText('NPS');
  await expect(page.locator('#ranking-csv')).toBeVisible();
  await accessible(page);
  await shot(page, '49-overview-zh');
  console.log('overview took ' + took + ' ms');
  await page.goto('/?lang=en');
  await expect(page.locator('#peak-end')).toBeVisible();
  await shot(page, '50-overview-en');
  // The hall manager's own view.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: test.info().project.use.baseURL });
  const p2 = await phone.newPage();
  await signIn(p2, 'manager');
  await p2.goto('/');
  await expect(p2.locator('#hall-view')).toBeVisible();
  await expect(p2.locator('#hall-rank')).toHaveText(/\d+ \/ \d+/);
  await expect(p2.locator('#hall-weakest li')).toHaveCount(3);
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth);
  expect(overflow).toBeLessThanOrEqual(400);
  await accessible(p2);
  await shot(p2, '51-hall-view-phone');
  await phone.close();
});

test('the A3 poster prints on two sheets and its print button covers nothing', async ({ page }) => {
  await signIn(page, 'manager');
  await page.goto('/journeys/service-hall/poster');
  const button = await page.locator('#print').boundingBox();
  const legend = await page.locator('.legend').first().boundingBox();
  const overlap = !(button.x + button.width <= legend.x || legend.x + legend.width <= button.x || button.y + button.height <= legend.y || legend.y + legend.height <= button.y);
  expect(overlap).toBe(false);
  await page.emulateMedia({ media: 'print' });
  const pdf = await page.pdf({ format: 'A3', landscape: true, printBackground: true, preferCSSPageSize: true });
  const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  expect(pages).toBe(2);
  for (const lang of ['en']) {
    await page.goto('/journeys/service-hall/poster?lang=' + lang);
    const pdf2 = await page.pdf({ format: 'A3', landscape: true, printBackground: true, preferCSSPageSize: true });
    expect((pdf2.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length).toBe(2);
  }
});

test('the blueprint: stage tabs, a sticky header in its own scroll box, each moment\'s satisfaction now', async ({ page }) => {
  await signIn(page, 'director');
  await page.goto('/journeys/service-hall');
  await expect(page.locator('[data-performance]').first()).toBeVisible();
  // Its scrollbar is within the screen: the box is no taller than the window.
  const box = await page.locator('.bp-scroll').boundingBox();
  expect(box.height).toBeLessThanOrEqual(768);
  await page.locator('.bp-scroll').evaluate((el) => { el.scrollTop = 400; });
  const head = await page.locator('.bp-scroll thead tr:nth-child(2) th[data-moment]').first().boundingBox();
  expect(head.y).toBeGreaterThanOrEqual(box.y - 1);
  await page.click('nav.tabs a:nth-child(2)');
  await expect(page).toHaveURL(/stage=people_flow/);
  await expect(page.locator('thead th[data-moment]')).toHaveCount(3);
  await accessible(page);
  await shot(page, '52-blueprint-stage');
});

test('on a phone, in English: the charts, the KPI page and the survey', async ({ browser }) => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: test.info().project.use.baseURL });
  const page = await phone.newPage();
  await signIn(page, 'director', 'en');
  await page.goto('/analysis?lang=en');
  await expect(page.locator('body[data-charts-ready=true]')).toHaveCount(1);
  const y = await page.evaluate(() => echarts.getInstanceByDom(document.getElementById('journey-curve')).getOption().yAxis.map((a) => a.min));
  expect(y).toEqual([0, 0]);
  await accessible(page);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await shot(page, '53-charts-phone-en');
  await page.goto('/kpi?lang=en');
  await expect(page.locator('h2', { hasText: 'By hour' })).toBeVisible();
  await accessible(page);
  await shot(page, '54-kpi-phone-en');
  await page.goto('/?lang=en');
  await expect(page.locator('#peak-end')).toBeVisible();
  // The hall names are not squeezed: the ranking scrolls in its own box.
  const name = await page.locator('#ranking tr[data-hall] td:nth-child(2)').first().boundingBox();
  expect(name.width).toBeGreaterThanOrEqual(150);
  await accessible(page);
  await shot(page, '55-overview-phone-en');
  await page.goto('/halls/' + state().hall + '/survey?lang=en');
  await expect(page.locator('h2').first()).toContainText('On your way to the hall');
  await expect(page.locator('#q-segment')).toContainText('Not sure');
  await shot(page, '56-survey-phone-en');
  await phone.close();
});
