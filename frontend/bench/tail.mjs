// The page's time to the last line of a 32 MiB log, beside the time `curl` takes to fetch
// that log whole: both from the same `aws-exec serve` on loopback, in Debian's chromium at
// a phone's size (375x667) and a desktop's (1280x800); with the elements the output holds.
// Run: npm --prefix frontend run bench. AWS_EXEC_BIN picks the binary (the release build if
// there is one, else the debug build); AWS_EXEC_PAGE_FROM_DISK=1 serves the page's files
// from frontend/ as they are now instead of those built into the binary.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { servePageFromDisk } from '../dev/from-disk.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const RELEASE = join(here, '../../target/release/aws-exec');
// A relative AWS_EXEC_BIN is read from where npm was run.
const BIN = process.env.AWS_EXEC_BIN
  ? resolve(process.env.INIT_CWD ?? process.cwd(), process.env.AWS_EXEC_BIN)
  : existsSync(RELEASE) ? RELEASE : join(here, '../../target/debug/aws-exec');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FROM_DISK = Boolean(process.env.AWS_EXEC_PAGE_FROM_DISK);
const RUNS = 5;
const LAST = 'LAST-LINE-OF-THE-LOG';
const SIZES = [
  { name: 'page at 375x667 (phone)', viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true },
  { name: 'page at 1280x800 (desktop)', viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false },
];

const dataDir = mkdtempSync(join(tmpdir(), 'aws-exec-bench-'));
const server = spawn(BIN, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, AWS_EXEC_LOG: 'warn' },
});
let browser;
try {
  let url;
  let key;
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
  // 32 MiB: numbered lines (`seq 1 4333188` is 33 554 400 bytes) and a last line.
  const { uid } = await api('POST', '/api/exec', { argv: ['sh', '-c', `seq 1 4333188; echo ${LAST}`] });
  for (;;) {
    const meta = await api('GET', `/api/job?uid=${uid}`);
    if (typeof meta.exit === 'number') break;
    await new Promise((r) => setTimeout(r, 200));
  }

  const curl = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const { url: log } = await api('GET', `/api/exec?uid=${uid}&range-start=0`);
    const started = process.hrtime.bigint();
    const out = execFileSync('curl', ['-sf', '-o', '/dev/null', '-w', '%{size_download}',
      log.startsWith('/') ? `${url}${log}` : log]);
    curl.push(Number(process.hrtime.bigint() - started) / 1e6);
    bytes = Number(out.toString());
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const rows = [];
  for (const size of SIZES) {
    const times = [];
    let nodes = 0;
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext({
        viewport: size.viewport, isMobile: size.isMobile, hasTouch: size.hasTouch,
      });
      if (FROM_DISK) await servePageFromDisk(context, url);
      const page = await context.newPage();
      await page.goto(url);
      await page.getByLabel('Auth key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Command').waitFor();
      const started = Date.now();
      await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
      // The last line drawn, inside the output's box, the box inside the viewport.
      await page.waitForFunction((text) => {
        const out = document.querySelector('.run pre.out');
        const row = out && [...out.children].reverse().find((el) => !el.classList.contains('log-gap'));
        if (!row || row.textContent.trim() !== text) return false;
        const box = out.getBoundingClientRect();
        const at = row.getBoundingClientRect();
        return at.bottom <= box.bottom + 1 && at.top >= box.top && box.bottom <= innerHeight + 1;
      }, LAST, { timeout: 60000, polling: 10 });
      times.push(Date.now() - started);
      nodes = Math.max(nodes, await page.evaluate(() => document.querySelector('.run pre.out').querySelectorAll('*').length));
      await context.close();
    }
    rows.push({ name: `${size.name}: last line on screen`, times, note: `${nodes} elements in the output` });
  }

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const line = (name, xs, note = '') => console.log(
    `${name.padEnd(48)} ${median(xs).toFixed(0).padStart(6)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})${note ? `  ${note}` : ''}`);
  console.log(`a ${(bytes / 1024 / 1024).toFixed(1)} MiB log (${bytes} bytes) on loopback, median of ${RUNS}, ${BIN}${FROM_DISK ? ', page from frontend/' : ''}:`);
  for (const row of rows) {
    line(row.name, row.times, `${row.note}; ${(median(row.times) / median(curl)).toFixed(2)}x curl`);
  }
  line('curl: the whole log fetched', curl);
} finally {
  await browser?.close();
  server.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}
