// Pages people act on (issue 25), the last points: axum's own errors as translated
// pages, customers' pages keep the customer's error page, the language chosen at sign-in
// stays, the header on a 375 px phone, the blueprint's current figures, and every
// built-in journey's poster on two A3 sheets. Each page passes axe-core (WCAG 2 A/AA).
const { test, expect } = require('@playwright/test');
const { AxeBuilder } = require('@axe-core/playwright');
const fs = require('fs');
const path = require('path');

const state = () => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'artifacts', 'state.json'), 'utf8'));
const shot = (page, name) => page.screenshot({ path: path.join(__dirname, '..', 'artifacts', name + '.png'), fullPage: true });
const PHONE = { width: 375, height: 812 };

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

async function phone(browser) {
  const context = await browser.newContext({ viewport: PHONE, baseURL: test.info().project.use.baseURL, locale: 'zh-CN' });
  return [context, await context.newPage()];
}

// Nothing wider than the screen: no horizontal scroll of the page.
async function noSideways(page) {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
}

// Submits a form the browser builds, as a page's form would (a real navigation).
async function submitForm(page, action, fields, enctype) {
  await Promise.all([
    page.waitForNavigation(),
    page.evaluate(({ action, fields, enctype }) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = action;
      if (enctype) f.enctype = enctype;
      for (const [k, v] of Object.entries(fields)) {
        const i = document.createElement('input');
        i.type = 'hidden'; i.name = k; i.value = v;
        f.appendChild(i);
      }
      document.body.appendChild(f);
      f.submit();
    }, { action, fields, enctype }),
  ]);
}

test('framework errors are translated pages in the site header; the API keeps JSON', async ({ browser, request }) => {
  const [context, page] = await phone(browser);
  await signIn(page, 'manager');
  // 405: an address that only takes a form, opened directly.
  let resp = await page.goto('/logout');
  expect(resp.status()).toBe(405);
  await expect(page.locator('h1')).toContainText('不支持这种操作');
  await expect(page.locator('#who')).toContainText('manager');
  await expect(page.locator('#error-detail')).not.toHaveAttribute('open', '');
  await expect(page.locator('#error-detail p')).toBeHidden();
  await page.locator('#error-detail summary').click();
  await expect(page.locator('#error-detail p')).toContainText('GET is not allowed at /logout');
  await noSideways(page);
  await accessible(page);
  await shot(page, '60-error-405-phone');
  resp = await page.goto('/logout?lang=en');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('h1')).toContainText('This address does not take that action');
  await accessible(page);
  // 415: a form sent as plain text; 422: a form without a field.
  await page.goto('/analysis');
  await submitForm(page, '/logout', { csrf: 'x' }, 'text/plain');
  await expect(page.locator('h1')).toContainText('提交的内容格式不对');
  // The extractor's reason only under "details", folded.
  await expect(page.locator('#error-message')).not.toContainText('Form requests must have');
  await expect(page.locator('#error-detail p')).toBeHidden();
  await accessible(page);
  await shot(page, '61-error-415-phone');
  await page.goto('/analysis?lang=en');
  await submitForm(page, '/login?lang=en', { name: 'manager' });
  await expect(page.locator('h1')).toContainText('Something is not right in the request');
  await expect(page.locator('#error-detail p')).toContainText('missing field');
  await accessible(page);
  await shot(page, '62-error-422-phone-en');
  // The API answers JSON with the same status.
  const api = await request.delete('/api/v1/journeys');
  expect(api.status()).toBe(405);
  expect((await api.json()).error.status).toBe(405);
  await context.close();
});

test('customers\' pages keep the customer\'s error page, in the page\'s language', async ({ browser }) => {
  const [context, page] = await phone(browser);
  const hall = state().hall;
  const plain = async () => {
    await expect(page.locator('header')).toHaveCount(0);
    await expect(page.locator('nav')).toHaveCount(0);
    await expect(page.locator('a[href^="/login"]')).toHaveCount(0);
    await noSideways(page);
    await accessible(page);
  };
  let resp = await page.goto('/halls/no-such-hall/survey');
  expect(resp.status()).toBe(404);
  await expect(page.locator('h1')).toContainText('找不到这份问卷');
  await plain();
  await shot(page, '63-customer-404-phone');
  resp = await page.goto('/c/no-such-link?lang=en');
  expect(resp.status()).toBe(404);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('h1')).toContainText('This callback link does not work');
  await plain();
  await shot(page, '64-customer-callback-phone-en');
  resp = await page.goto('/i/no-such-link?lang=en');
  expect(resp.status()).toBeGreaterThanOrEqual(400);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await plain();
  // A framework error on the survey: its form sent as plain text.
  await page.goto('/halls/' + hall + '/survey?lang=en');
  await submitForm(page, '/halls/' + hall + '/survey?lang=en', { nonce: 'x' }, 'text/plain');
  await expect(page.locator('h1')).toContainText('We could not read this submission');
  await expect(page.locator('body')).not.toContainText('Content-Type');
  await plain();
  await shot(page, '65-customer-415-phone-en');
  // Signed in, staff still see a customer's page there.
  await signIn(page, 'manager');
  await page.goto('/c/no-such-link');
  await expect(page.locator('h1')).toContainText('这个回访链接无效');
  await plain();
  await context.close();
});

test('the language chosen on the sign-in page stays after signing in, and after a failed one', async ({ browser }) => {
  const s = state();
  const [context, page] = await phone(browser);
  await page.goto('/login');
  await page.click('#lang-switch');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.fill('input[name=name]', 'manager');
  await page.fill('input[name=password]', 'wrong-password');
  await page.click('button[type=submit]');
  await expect(page.locator('#login-error')).toContainText('Wrong user name or password');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.fill('input[name=password]', s.logins.manager.password);
  await page.click('button[type=submit]');
  await expect(page.locator('#who')).toContainText('manager');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.goto('/analysis');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await accessible(page);
  await context.close();
  // English asked on the address (a page opened in English sends to such a sign-in).
  const [context2, page2] = await phone(browser);
  await page2.goto('/cases?lang=en');
  await expect(page2).toHaveURL(/\/login\?next=.*lang=en/);
  await page2.fill('input[name=name]', 'manager');
  await page2.fill('input[name=password]', s.logins.manager.password);
  await page2.click('button[type=submit]');
  await expect(page2.locator('#who')).toContainText('manager');
  await page2.goto('/');
  await expect(page2.locator('html')).toHaveAttribute('lang', 'en');
  await context2.close();
});

for (const lang of ['zh', 'en']) {
  test(`the header on a 375 px phone wraps by whole menu items (${lang})`, async ({ browser }) => {
    const [context, page] = await phone(browser);
    await signIn(page, 'manager', lang);
    for (const url of ['/', '/journeys/service-hall', '/cases', '/compliance', '/halls/' + state().hall + '/plan', '/no-such-page']) {
      await page.goto(url);
      const items = page.locator('header nav a');
      expect(await items.count()).toBeGreaterThanOrEqual(8);
      const lineHeight = await items.first().evaluate((el) => parseFloat(getComputedStyle(el).fontSize) * 1.6);
      for (const box of await items.evaluateAll((els) => els.map((e) => {
        const r = e.getBoundingClientRect();
        return { text: e.textContent, w: r.width, h: r.height, right: r.right, rects: e.getClientRects().length };
      }))) {
        // One line each, never a character per line, inside the screen.
        expect(box.rects, box.text).toBe(1);
        expect(box.h, box.text).toBeLessThanOrEqual(lineHeight + 8);
        expect(box.right, box.text).toBeLessThanOrEqual(PHONE.width);
      }
      const who = await page.locator('#who').boundingBox();
      expect(who.x + who.width).toBeLessThanOrEqual(PHONE.width);
      await noSideways(page);
    }
    await page.goto('/');
    await accessible(page);
    await shot(page, `66-header-phone-${lang}`);
    await context.close();
  });
}

test('the blueprint shows each moment\'s satisfaction and importance now, small samples flagged', async ({ browser }) => {
  for (const lang of ['zh', 'en']) {
    const [context, page] = await phone(browser);
    await signIn(page, 'manager', lang);
    await page.goto('/journeys/service-hall?stage=business_flow');
    await expect(page.locator('nav.tabs a[aria-current=page]')).toHaveAttribute('href', /stage=business_flow/);
    const moments = page.locator('thead th[data-moment]');
    const count = await moments.count();
    expect(count).toBeGreaterThan(0);
    let rated = 0;
    for (let i = 0; i < count; i++) {
      const th = moments.nth(i);
      const key = await th.getAttribute('data-moment');
      const perf = th.locator(`[data-performance="${key}"]`);
      if (await perf.count() === 0) continue;
      rated += 1;
      await expect(th.locator(`[data-importance-now="${key}"]`)).toContainText(lang === 'en' ? 'Importance now' : '当前重要性');
      const n = Number((await perf.textContent()).match(/n=(\d+)/)[1]);
      await expect(th.locator(`[data-small-sample="${key}"]`)).toHaveCount(n < 30 ? 1 : 0);
      if (n < 30) await expect(th.locator('[data-small-sample]')).toHaveText(lang === 'en' ? 'small sample' : '样本少');
    }
    expect(rated).toBeGreaterThan(0);
    await noSideways(page);
    await accessible(page);
    await shot(page, `67-blueprint-now-phone-${lang}`);
    await context.close();
  }
});

test('every built-in journey\'s poster fits two A3 sheets, its units in words', async ({ page }) => {
  await signIn(page, 'director');
  for (const key of ['service-hall', 'hotline', 'app', 'onsite']) {
    for (const lang of ['zh', 'en']) {
      await page.goto(`/journeys/${key}/poster${lang === 'en' ? '?lang=en' : ''}`);
      const text = await page.locator('body').innerText();
      // A threshold never shows the file's unit key after its number.
      expect(text, `${key} ${lang}`).not.toMatch(/\d ?(chars_per_min|working_day|percent|count)\b/);
      if (lang === 'zh') expect(text).toMatch(/[≤≥] \d+(\.\d+)? (分钟|秒|个|个工作日|天|米|字\/分钟)|[≤≥] \d+%/);
      await page.emulateMedia({ media: 'print' });
      const pdf = await page.pdf({ format: 'A3', landscape: true, printBackground: true, preferCSSPageSize: true });
      await page.emulateMedia({ media: 'screen' });
      fs.writeFileSync(path.join(__dirname, '..', 'artifacts', `68-poster-${key}-${lang}.pdf`), pdf);
      const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
      expect(pages, `${key} ${lang}`).toBe(2);
    }
    await shot(page, `68-poster-${key}`);
  }
});
