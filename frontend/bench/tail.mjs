// The page's time to the last line of a 32 MiB log, beside the time `curl` takes to fetch
// that log whole: both from the same `aws-exec serve` on loopback, at a phone's width.
// Run: npm --prefix frontend run bench (AWS_EXEC_BIN picks the binary; a release build
// measures what users get).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.AWS_EXEC_BIN ?? join(here, '../../target/release/aws-exec');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const RUNS = 5;

const dataDir = mkdtempSync(join(tmpdir(), 'aws-exec-bench-'));
const server = spawn(BIN, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let url;
let key;
try {
  await new Promise((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    createInterface({ input: server.stdout }).on('line', (line) => {
      key = /export AUTH=(\S+)/.exec(line)?.[1] ?? key;
      const u = /^aws-exec serving (\S+)/.exec(line);
      if (u) { url = u[1]; resolve(); }
    });
  });
  const api = async (method, path, body) => {
    const resp = await fetch(`${url}${path}`, {
      method, headers: { auth: key, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    return resp.json();
  };
  // 32 MiB exactly: the cap of a log.
  const { uid } = await api('POST', '/api/exec',
    { argv: ['sh', '-c', 'seq 1 4400000 | head -c 33554400; echo; echo LAST'] });
  for (;;) {
    const meta = await api('GET', `/api/job?uid=${uid}`);
    if (typeof meta.exit === 'number') break;
    await new Promise((r) => setTimeout(r, 200));
  }

  const curl = [];
  for (let i = 0; i < RUNS; i++) {
    const { url: log } = await api('GET', `/api/exec?uid=${uid}&range-start=0`);
    const started = process.hrtime.bigint();
    execFileSync('curl', ['-sf', '-o', '/dev/null', log.startsWith('/') ? `${url}${log}` : log]);
    curl.push(Number(process.hrtime.bigint() - started) / 1e6);
  }

  const browser = await chromium.launch({
    executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  const page_ = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await page.goto(url);
    await page.getByLabel('Auth key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Command').waitFor();
    const started = Date.now();
    await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
    await page.waitForFunction(() => document.querySelector('.run pre.out')?.textContent.includes('LAST'),
      undefined, { timeout: 60000 });
    page_.push(Date.now() - started);
    await context.close();
  }
  await browser.close();

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const row = (name, xs) => console.log(`${name.padEnd(44)} ${median(xs).toFixed(0).padStart(6)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`);
  console.log(`a 32 MiB log on loopback, median of ${RUNS}:`);
  row('page: its last line on screen at 375 px', page_);
  row('curl: the whole log fetched', curl);
  console.log(`ratio page/curl: ${(median(page_) / median(curl)).toFixed(2)}x`);
} finally {
  server.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}
