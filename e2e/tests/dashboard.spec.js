// The dashboard in a real browser against `peakend demo` data: sign in, the analysis
// chart, the live board moving with posted events, acknowledging an alert, English,
// and a hall manager refused another hall. Each page's screenshot is saved.
const { test, expect } = require('@playwright/test');
const fs = require('fs');
const path = require('path');

const state = () => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'artifacts', 'state.json'), 'utf8'));
const shot = (page, name) => page.screenshot({ path: path.join(__dirname, '..', 'artifacts', name + '.png'), fullPage: true });

async function signIn(page, who) {
  const s = state();
  await page.goto('/login');
  await page.fill('input[name=name]', who);
  await page.fill('input[name=password]', s.logins[who].password);
  await page.click('button[type=submit]');
  await expect(page.locator('#who')).toContainText(who);
}

// Events as a hall device posts them, at the current time.
async function postEvents(request, events) {
  const s = state();
  const body = events.map((e) => JSON.stringify({ hall: s.hall, at: new Date().toISOString(), ...e })).join('\n');
  const r = await request.post('/api/v1/events', { headers: { Authorization: 'Bearer ' + s.token }, data: body });
  expect(r.status()).toBe(200);
  return r.json();
}

test('sign in and see the overview', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
  await shot(page, '01-login');
  await signIn(page, 'director');
  await expect(page.locator('#node-name')).toContainText('示范省');
  await expect(page.locator('#ranking tr[data-hall]')).toHaveCount(38);
  await shot(page, '02-overview');
});

test('the analysis page draws the journey curve with the study peaks', async ({ page }) => {
  await signIn(page, 'director');
  await page.goto('/analysis');
  await expect(page.locator('body[data-charts-ready=true]')).toHaveCount(1);
  const chart = await page.evaluate(() => {
    const c = echarts.getInstanceByDom(document.getElementById('journey-curve'));
    const o = c.getOption();
    const bars = o.series.find((s) => s.id === 'importance').data;
    return { moments: o.xAxis[0].data.length, peaks: bars.filter((b) => b.peak).map((b) => b.key), end: bars.filter((b) => b.end).map((b) => b.key) };
  });
  expect(chart.moments).toBe(16);
  expect(chart.peaks.sort()).toEqual(['data_trial', 'phone_purchase', 'result']);
  expect(chart.end).toEqual(['leave']);
  // The dimensions: two radars, the six experience dimensions and the five SERVQUAL ones.
  const radar = await page.evaluate(() => {
    const o = echarts.getInstanceByDom(document.getElementById('dimensions')).getOption();
    return o.radar.map((r) => r.indicator.length);
  });
  expect(radar).toEqual([6, 5]);
  await expect(page.locator('#dimension-table tr')).toHaveCount(12);
  // The chart is drawn, not only configured: its canvas has pixels.
  const box = await page.locator('#journey-curve canvas').first().boundingBox();
  expect(box.width).toBeGreaterThan(400);
  await shot(page, '03-analysis');
  const csv = await page.request.get(await page.locator('#export-csv').getAttribute('href'));
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toContain('result');
});

test('the journey blueprint and its poster', async ({ page }) => {
  await signIn(page, 'manager');
  await page.goto('/journeys/service-hall');
  await expect(page.locator('th.peak')).toHaveCount(3);
  await shot(page, '04-journey');
  await page.goto('/journeys/service-hall/poster');
  await expect(page.locator('#print')).toBeVisible();
  await shot(page, '05-poster');
});

test('the live board shows a posted ticket within 2 s and an alert is acknowledged', async ({ page, request }) => {
  const s = state();
  await signIn(page, 'staff');
  await page.goto('/halls/' + s.hall + '/board');
  await expect(page.locator('body[data-live=true]')).toHaveCount(1);
  const stamp = String(Date.now()).slice(-6);
  const ticket = 'E' + stamp;
  await page.waitForTimeout(300);
  await postEvents(request, [
    { id: 'open-' + stamp, type: 'counter_opened', counter: 'e2e-' + stamp },
    { id: 'issue-' + stamp, type: 'ticket_issued', ticket, service: 'payment' },
  ]);
  await expect(page.locator(`#waiting tr[data-ticket="${ticket}"]`)).toBeVisible({ timeout: 2000 });
  // Four more waiting at the one counter: more than 3 per counter raises pre-processing.
  await postEvents(request, [1, 2, 3, 4].map((i) => ({ id: `more-${stamp}-${i}`, type: 'ticket_issued', ticket: `${ticket}-${i}`, service: 'payment' })));
  const alert = page.locator('#alerts li', { hasText: '预处理' }).first();
  await expect(alert).toBeVisible({ timeout: 3000 });
  await shot(page, '06-board');
  await alert.locator('button.ack').click();
  await expect(page.locator('#alerts li', { hasText: '预处理' })).toHaveCount(0, { timeout: 3000 });
  const open = await page.request.get('/api/v1/halls/' + s.hall + '/alerts?state=all');
  const acked = (await open.json()).filter((a) => a.kind === 'pre_processing' && a.acked_by === 'staff');
  expect(acked.length).toBeGreaterThan(0);
});

test('switching to English translates the pages', async ({ page }) => {
  await signIn(page, 'admin');
  await page.click('#lang-switch');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('header nav')).toContainText('Overview');
  await expect(page.locator('h2').first()).toContainText('Customer survey');
  await expect(page.locator('h2', { hasText: 'Halls ranked' })).toBeVisible();
  await shot(page, '07-overview-en');
  await page.goto('/analysis');
  await expect(page.locator('h1')).toContainText('Peak-end analysis');
  await page.goto('/admin');
  await expect(page.locator('h2').first()).toContainText('Users');
  await shot(page, '08-admin-en');
  await page.goto('/lang/zh?back=/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
});

test('a hall manager gets 403 on another hall, in pages and in the API', async ({ page }) => {
  const s = state();
  await signIn(page, 'manager');
  const own = await page.goto('/halls/' + s.hall + '/board');
  expect(own.status()).toBe(200);
  const other = s.hall.replace(/-01$/, '-02');
  const page403 = await page.goto('/halls/' + other + '/board');
  expect(page403.status()).toBe(403);
  await shot(page, '09-forbidden');
  const api = await page.request.get('/api/v1/halls/' + other + '/queue');
  expect(api.status()).toBe(403);
  const kpi = await page.request.get('/api/v1/kpi?org=demo&from=2026-01-01&to=2026-01-01');
  expect(kpi.status()).toBe(403);
});

test('a complaint at the counter becomes a case the hall manager works to a callback', async ({ page, request }) => {
  const out = await postEvents(request, [
    { id: 'e2e-complaint-' + Date.now(), type: 'complaint', counter: 'c1', staff: 's9', text: '柜台多收了费用' },
  ]);
  expect(out.cases_opened).toBe(1);
  await signIn(page, 'manager');
  await page.goto('/cases?source=complaint');
  const row = page.locator('#cases tr.case').filter({ hasText: '投诉' }).first();
  await expect(row).toBeVisible();
  // The case KPIs fill in after the list.
  await expect(page.locator('[data-kpi=opened]')).not.toHaveText('…');
  await shot(page, '07-cases');
  await row.locator('a').click();
  await expect(page.locator('#case-state')).toHaveText('待受理');
  for (const to of ['acknowledged', 'investigating']) {
    await page.selectOption('#move select[name=to]', to);
    await page.click('#move button[type=submit]');
  }
  await page.fill('#move input[name=root_cause]', '资费解释不清');
  await page.selectOption('#move select[name=to]', 'resolved');
  await page.click('#move button[type=submit]');
  await expect(page.locator('#case-state')).toHaveText('已解决');
  await expect(page.locator('#callback-sms')).toContainText('/c/');
  await shot(page, '08-case');
  // The customer's link, on a phone, once.
  const link = (await page.locator('#callback-sms code').innerText()).match(/http\S+/)[0];
  const phone = await page.context().browser().newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(link);
  await phone.check('input[name=recovery][value="5"]');
  await phone.click('button[type=submit]');
  await expect(phone.locator('#callback-done')).toBeVisible();
  await phone.close();
  await page.reload();
  await expect(page.locator('#case-state')).toHaveText('已回访');
});

test('a mystery shopper audits a hall on a phone and reads no results', async ({ browser }) => {
  const s = state();
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, hasTouch: true, baseURL: test.info().project.use.baseURL });
  const page = await phone.newPage();
  await signIn(page, 'shopper');
  // An auditor lands on the halls it may audit, never on the overview.
  await expect(page).toHaveURL(/\/audit$/);
  await page.click('#audit-halls a >> nth=0');
  await expect(page).toHaveURL(/\/halls\/demo-dj-cq-01\/audit/);
  await expect(page.locator('#audit')).toHaveAttribute('data-kind', 'mystery');
  // Fits the phone: nothing wider than the screen.
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(wide).toBeLessThanOrEqual(375);
  await page.locator('section[data-standard=clean_radius] .yesno label >> nth=0').tap();
  await page.fill('input[name="n-max_standing_signs"]', '4');
  await shot(page, '20-audit-phone');
  await page.click('#audit-submit');
  await expect(page.locator('#audit-msg')).toContainText(/已提交|Sent/);
  // Results stay closed to it.
  const r = await page.request.get('/api/v1/compliance?org=' + s.hall);
  expect(r.status()).toBe(403);
  await phone.close();
});

test('a hall manager reads compliance and the hall\'s 5-step plan', async ({ page }) => {
  await signIn(page, 'manager');
  await page.goto('/compliance');
  await expect(page.locator('#compliance-summary')).toContainText(/达标指数|compliance index/);
  await expect(page.locator('#standards tr')).not.toHaveCount(1);
  await shot(page, '21-compliance');
  await page.goto('/halls/' + state().hall + '/plan');
  await expect(page.locator('#problem-table tr')).toHaveCount(17);
  await expect(page.locator('#calendar tr')).toHaveCount(15);
  await shot(page, '22-plan');
});

test('the house of quality in three stages and the gap model on the analysis page', async ({ page }) => {
  await signIn(page, 'director');
  await page.goto('/journeys/service-hall/qfd?stage=2');
  await expect(page.locator('#house svg')).toHaveCount(1);
  // Stage 2 of the built-in journey: its 15 process elements ranked.
  await expect(page.locator('#importance tr[data-column]')).toHaveCount(15);
  // The study's journey is read-only; a region's journey is where a director edits.
  await expect(page.locator('#qfd-readonly')).toBeVisible();
  await shot(page, '23-qfd-stage2');
  const svg = await page.request.get(await page.locator('#svg-link').getAttribute('href'));
  expect(svg.headers()['content-type']).toContain('image/svg+xml');
  await page.goto('/journeys/service-hall/qfd');
  await expect(page.locator('#importance tr[data-column]')).toHaveCount(16);
  // The demo's survey carries expectation items and its managers' estimates.
  await page.goto('/analysis');
  await expect(page.locator('#gap5 tr')).not.toHaveCount(1);
  await expect(page.locator('#gap1 tr')).not.toHaveCount(1);
  await shot(page, '24-gap-model');
});

test('a director sets the strategy: a theme, an initiative with its owner, saved and shown', async ({ page }) => {
  await signIn(page, 'director');
  await page.goto('/strategy/service-hall');
  // The eleven dimensions, ranked or listed with the reason they are not.
  await expect(page.locator('#ranking tr[data-dimension]')).toHaveCount(11);
  await page.selectOption('#theme', 'efficiency');
  await page.locator('select[name=feasibility][data-dimension=efficiency]').selectOption('4');
  await page.click('#add-initiative');
  const row = page.locator('#initiatives tr.initiative').last();
  await row.locator('input[name=title]').fill('高峰预处理：排队超过3人即分流');
  await row.locator('input[name=owner]').fill('hall_manager');
  await page.click('#strategy button[type=submit]');
  await expect(page.locator('#initiatives input[name=title]').last()).toHaveValue('高峰预处理：排队超过3人即分流');
  await expect(page.locator('#ranking tr.theme')).toHaveCount(1);
  await shot(page, '25-strategy');
  const csv = await page.request.get(await page.locator('#csv-link').getAttribute('href'));
  expect(await csv.text()).toContain('高峰预处理');
});
