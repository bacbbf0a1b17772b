import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { startTestHub, type TestHub } from '../support/hub.js';

/**
 * The local console in a real browser: Debian's chromium, headless, driven by playwright-core
 * (`.ci/run` installs it with apt-get; never `npx playwright install`). The hub behind it is the
 * real local runtime with a simulated CRM, fed with signed Stripe webhooks.
 *
 * Screenshots go to test-results/. docs/images/console.png is written when it is missing or when
 * UPDATE_DOCS_SCREENSHOTS=1, so running the tests does not leave a changed file in the repository.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = join(process.cwd(), 'test-results');
const DOCS_SCREENSHOT = join(process.cwd(), 'docs/images/console.png');
// In CI a missing browser is a failure, not a skip.
const runnable = existsSync(CHROMIUM) || Boolean(process.env.CI);
if (!runnable) console.warn(`test/browser skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium)`);

const now = () => Math.floor(Date.now() / 1000);
const LANE = '[data-lane="customers-to-crm/crm"]';

describe.skipIf(!runnable)('the local console in headless Chromium', () => {
  let hub: TestHub;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  const cell = (selector: string) => page.locator(selector).first();
  const textOf = (selector: string) => cell(selector).textContent({ timeout: 2_000 });
  /** Waits until the element's text is `expected` (the page polls the hub every second). */
  const waitForText = async (selector: string, expected: string, timeoutMs = 20_000) => {
    await expect
      .poll(() => textOf(selector).catch(() => null), { timeout: timeoutMs, interval: 200 })
      .toBe(expected);
  };

  beforeAll(async () => {
    await mkdir(RESULTS, { recursive: true });
    hub = await startTestHub();
    profile = await mkdtemp(join(tmpdir(), 'switchyard-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      // A CSP violation or a failed request shows up as a console error.
      if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
    });
  });

  afterAll(async () => {
    await context?.close();
    await hub?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('loads with its hub name, flows, sources and queues, and no script or CSP error', async () => {
    const response = await page.goto(hub.runtime.url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    await waitForText('#hub-name', 'e2e');
    await waitForText('#balance', 'balanced');
    await expect.poll(() => page.locator(`${LANE}`).count()).toBe(1);
    await expect.poll(() => page.locator('[data-source="stripe"]').count()).toBe(1);
    expect(await page.locator('#queues tbody tr').count()).toBe(2);
    expect(pageErrors).toEqual([]);
  });

  it('shows the counters move as signed webhooks arrive', async () => {
    await waitForText(`${LANE} [data-field="delivered"]`, '0');
    for (const n of [1, 2, 3]) {
      expect((await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), now()))).status).toBe(
        202,
      );
    }
    await waitForText(`${LANE} [data-field="delivered"]`, '3');
    await waitForText('[data-source="stripe"] [data-field="accepted"]', '3');
    await waitForText('[data-total="delivered"]', '3');
    expect(await textOf(`${LANE} [data-field="p99"]`)).toMatch(/^\d+$/);
    await page.screenshot({ path: join(RESULTS, 'console-counters.png'), fullPage: true });
  });

  it('lists a quarantined record with its reason', async () => {
    const { body } = await hub.send(
      stripeCustomerEvent('customer.created', demoCustomer(4, { email: 'not-an-email' }), now()),
    );
    const row = `#quarantine tr[data-event="${String(body.eventId)}"]`;
    await expect.poll(() => page.locator(row).count(), { timeout: 20_000 }).toBe(1);
    expect(await page.locator(`${row} [data-rule="customer.email.format"]`).textContent()).toContain(
      'must be a valid email address',
    );
    // The value is redacted, never shown as sent.
    expect(await page.locator(row).textContent()).not.toContain('not-an-email');
    await waitForText('#quarantine-count', '(1)');
    await waitForText(`${LANE} [data-field="quarantined"]`, '1');
  });

  it('redrives a dead-lettered message with the button, and it is delivered', async () => {
    hub.crm.fail({ status: 503, times: 4 });
    const { body } = await hub.send(stripeCustomerEvent('customer.created', demoCustomer(5), now()));
    const eventId = String(body.eventId);
    const dlq = '[data-queue="deliver-crm"] [data-field="deadLetterDepth"]';
    await waitForText(dlq, '1', 30_000);
    await waitForText(`${LANE} [data-field="deadLettered"]`, '1');
    const button = page.locator('button[data-redrive="deliver-crm"]');
    await expect.poll(() => button.isEnabled()).toBe(true);
    await page.screenshot({ path: join(RESULTS, 'console-dead-letter.png'), fullPage: true });

    await button.click();
    await waitForText('#redrive-result', 'Moved 1 message back to e2e-deliver-crm.fifo.');
    await waitForText(dlq, '0');
    await waitForText(`${LANE} [data-field="delivered"]`, '4');
    await waitForText(`${LANE} [data-field="deadLettered"]`, '0');
    await waitForText('#balance', 'balanced');
    expect(
      [...hub.crm.contacts.values()].some(
        (c) => (c.data.refs as { stripe?: string }).stripe === 'cus_demo00005',
      ),
    ).toBe(true);

    // Find that event by id: delivered after the redrive, with every attempt in its trace.
    await page.fill('#search-id', eventId);
    await page.press('#search-id', 'Enter');
    await expect
      .poll(() => page.locator('#event-lanes [data-status]').textContent(), { timeout: 10_000 })
      .toBe('delivered');
    const steps = await page.locator('#event-steps li').allTextContents();
    expect(steps.filter((s) => s.includes('→ 503'))).toHaveLength(4);
    expect(steps.some((s) => s.includes('redriven to e2e-deliver-crm.fifo'))).toBe(true);
    expect(steps.at(-1)).toMatch(/deliver to crm .* attempt 1: handled/);
    expect(await page.locator('#search-result').textContent()).toContain('Journey from the audit trail');
    const journey = await page
      .locator('#event-journey li')
      .evaluateAll((items) => items.map((li) => li.getAttribute('data-outcome')));
    expect(journey).toEqual(['accepted', 'routed', 'dead-lettered', 'redriven', 'delivered']);

    await page.locator('#search-result').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(RESULTS, 'console-search.png'), fullPage: true });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(RESULTS, 'console.png'), fullPage: true });
    if (!existsSync(DOCS_SCREENSHOT) || process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
      await mkdir(join(process.cwd(), 'docs/images'), { recursive: true });
      await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
    }
    expect(pageErrors).toEqual([]);
  });

  it('tells an unknown event id plainly', async () => {
    await page.fill('#search-id', 'evt_does_not_exist');
    await page.press('#search-id', 'Enter');
    await expect
      .poll(() => page.locator('#search-result [data-found="false"]').textContent(), { timeout: 10_000 })
      .toContain('No event evt_does_not_exist');
  });
});
