// Drives headless Chromium (Debian's /usr/bin/chromium via playwright-core) through one plan and prints
// what the page showed as one JSON line. pytest (tests/browser/) writes the plans and asserts on the answer.
//
//   node tests/browser/drive.mjs PLAN.json
//
// PLAN: {"url", "camera": "FILE.y4m", "p5": "path/to/p5.min.js", "timeout": ms, "steps": [
//   {"wait": "js expression", "timeout": ms},   until the expression is truthy
//   {"eval": "js expression", "as": "name"},      its (JSON-able) value goes into the answer
//   {"click": "selector"}, {"fill": ["selector", "text"]}, {"select": ["selector", "value"]},
//   {"file": ["selector", "path"]}, {"sleep": ms}, {"goto": "url"},
//   {"screenshot": "path.png|.jpg", "fullPage": bool, "selector": "only this element"}],
//   "hosts": {"evil.test": "127.0.0.1"}}   names resolved to a local address (a "remote" site served here)
// Answer: {"ok": true|false, "values": {...}, "error": "...", "console": [...], "pageErrors": [...]}
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'node', 'package.json'));
const { chromium } = require('playwright-core');

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const answer = { ok: false, values: {}, console: [], pageErrors: [], requests: [] };
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];  // and Chromium's default autoplay policy, as users have it: no --autoplay-policy flag
const mapped = Object.keys(plan.hosts || {});
if (mapped.length) {
  args.push(`--host-resolver-rules=${mapped.map((h) => `MAP ${h} ${plan.hosts[h]}`).join(', ')}`);
}
if (plan.camera) {
  args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${plan.camera}`);
}

// playwright gives each launch a fresh temporary --user-data-dir
const browser = await chromium.launch({ executablePath: plan.chromium || '/usr/bin/chromium', headless: true, args });
try {
  const context = await browser.newContext({ viewport: plan.viewport || { width: 1100, height: 800 } });
  // Nothing leaves the machine: p5 comes from the installed npm package, hosts off loopback are refused.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (plan.p5 && /\/p5(\.min)?\.js$/.test(url.pathname)) {
      return route.fulfill({ path: plan.p5, contentType: 'text/javascript' });
    }
    if (!['127.0.0.1', 'localhost', '[::1]', ...mapped].includes(url.hostname) && /^https?:$/.test(url.protocol)) {
      answer.requests.push(`blocked ${url.href}`);
      return route.abort();
    }
    return route.continue();
  });
  const page = await context.newPage();
  page.on('console', (m) => answer.console.push(`${m.type()}: ${m.text()}`.slice(0, 500)));
  page.on('pageerror', (e) => answer.pageErrors.push(String(e).slice(0, 500)));
  page.setDefaultTimeout(plan.timeout || 30000);
  await page.goto(plan.url);
  for (const step of plan.steps || []) {
    answer.step = step;
    if (step.wait) {
      await page.waitForFunction(step.wait, null, { timeout: step.timeout || plan.timeout || 30000, polling: 100 });
    } else if (step.eval) {
      answer.values[step.as || step.eval] = await page.evaluate(step.eval);
    } else if (step.click) {
      await page.click(step.click);
    } else if (step.fill) {
      await page.fill(step.fill[0], String(step.fill[1]));
    } else if (step.select) {
      await page.selectOption(step.select[0], step.select[1]);
    } else if (step.file) {
      await page.setInputFiles(step.file[0], step.file[1]);
    } else if (step.sleep) {
      await page.waitForTimeout(step.sleep);
    } else if (step.screenshot) {
      const jpeg = /\.jpe?g$/.test(step.screenshot);
      const target = step.selector ? page.locator(step.selector) : page;
      await target.screenshot({ path: step.screenshot, ...(step.selector ? {} : { fullPage: !!step.fullPage }),
        ...(jpeg ? { type: 'jpeg', quality: 85 } : {}) });
    } else if (step.goto) {
      await page.goto(step.goto);
    }
  }
  delete answer.step;
  answer.ok = true;
  if (plan.finalScreenshot) await page.screenshot({ path: plan.finalScreenshot });
} catch (e) {
  answer.error = String(e && e.message || e).slice(0, 2000);
  if (plan.failScreenshot) {
    try { await (browser.contexts()[0].pages()[0]).screenshot({ path: plan.failScreenshot }); } catch (_) { /* none */ }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(answer) + '\n');
