// The customer's survey on a phone: the short form (purpose first, about a minute) and
// the long one, each answered and checked for accessibility by axe-core (WCAG 2 A/AA).
const { test, expect } = require('@playwright/test');
const { AxeBuilder } = require('@axe-core/playwright');
const fs = require('fs');
const path = require('path');

const state = () => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'artifacts', 'state.json'), 'utf8'));
const shot = (page, name) => page.screenshot({ path: path.join(__dirname, '..', 'artifacts', name + '.png'), fullPage: true });

async function accessible(page) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const found = result.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '));
  expect(found).toEqual([]);
}

test('the short survey form on a phone: purpose first, a few moments, accessible', async ({ browser }) => {
  const s = state();
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, baseURL: test.info().project.use.baseURL });
  const page = await phone.newPage();
  await page.goto('/halls/' + s.hall + '/survey?short=1');
  await accessible(page);
  await page.click('ul.purposes a >> nth=0');
  await expect(page).toHaveURL(/short=1&purpose=/);
  // The purpose's peaks in the demo's answers, the end and three others.
  const moments = page.locator('section.moment');
  await expect(moments.first()).toBeVisible();
  const n = await moments.count();
  expect(n).toBeGreaterThanOrEqual(4);
  expect(n).toBeLessThan(10);
  // A minute's form, not the long form's 5,000 px.
  const tall = await page.evaluate(() => document.documentElement.scrollHeight);
  expect(tall).toBeLessThan(4000);
  await accessible(page);
  for (let i = 0; i < n; i++) {
    await moments.nth(i).locator('.scale label >> nth=7').tap();
  }
  await page.locator('#q-overall .scale label >> nth=7').tap();
  await page.locator('#q-nps .scale label >> nth=9').tap();
  await page.locator('#q-segment .chips label >> nth=0').tap();
  await shot(page, '30-survey-short');
  await page.click('button.send');
  await expect(page).toHaveURL(/\/survey\/thanks/);
  await phone.close();
});

test('the long survey form with its need elements is accessible', async ({ browser }) => {
  const s = state();
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: test.info().project.use.baseURL });
  const page = await phone.newPage();
  await page.goto('/halls/' + s.hall + '/survey');
  await expect(page.locator('section.moment')).toHaveCount(16);
  // In the customer's words: no flows' jargon, a question per moment, progress, the
  // scale's meaning on each question, an optional brand with 不清楚.
  await expect(page.locator('h2').first()).toContainText('来营业厅之前');
  expect(await page.locator('main').innerText()).not.toContain('人流');
  await expect(page.locator('section.moment h3').first()).toContainText('1/16');
  await expect(page.locator('section.moment h3').first()).toContainText('出门前');
  await expect(page.locator('section.moment').nth(10).locator('.ends').first()).toContainText('10 = 非常满意');
  await expect(page.locator('#q-segment')).toContainText('选填');
  await expect(page.locator('#q-segment')).toContainText('不清楚');
  await shot(page, '31-survey-long');
  // Open every optional part so axe sees the need elements too.
  await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
  await accessible(page);
  await phone.close();
});
