// Browser tests of the web page: Debian's chromium driven by playwright-core against a real
// `aws-exec serve` on loopback, at phone (375x812, touch) and desktop (1280x800) sizes.
// Screenshots land in frontend/tests/screenshots/.
// AWS_EXEC_PAGE_FROM_DISK=1 serves the page's files from frontend/ as they are now (the
// service's headers kept), so the page can be tested without rebuilding the binary; the
// test that the served page is frontend/ still compares the binary's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { chromium } from 'playwright-core';
import { servePageFromDisk } from '../dev/from-disk.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.AWS_EXEC_BIN ?? join(here, '../../target/debug/aws-exec');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(here, 'screenshots');
const FROM_DISK = Boolean(process.env.AWS_EXEC_PAGE_FROM_DISK);

let server;
let dataDir;
let url;
let key;
let browser;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'aws-exec-web-'));
  mkdirSync(SHOTS, { recursive: true });
  // Loopback allowed for notifications: the tests' receiver is on this machine.
  ({ child: server, url, key } = await startServe(
    ['--data-dir', dataDir, '--allow-push-host', '127.0.0.1'],
    { ...process.env, AWS_EXEC_LOG: 'warn' },
  ));
  assert.ok(key, 'serve printed a key on first start');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (server && server.exitCode === null) await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Starts `aws-exec serve` on a free loopback port with `args` and `env`; answers the process,
 * its URL and the key it printed on its first start.
 * @param {string[]} args @param {NodeJS.ProcessEnv} env
 */
async function startServe(args, env) {
  const child = spawn(BIN, ['serve', '--addr', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'], env,
  });
  let at = '';
  let printed = '';
  const lines = createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    lines.on('line', (line) => {
      const k = /export AUTH=(\S+)/.exec(line);
      if (k) printed = k[1];
      const u = /^aws-exec serving (\S+)/.exec(line);
      if (u) {
        at = u[1];
        resolve(undefined);
      }
    });
  });
  return { child, url: at, key: printed };
}

const SIZES = [
  { name: 'phone', viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true },
  { name: 'desktop', viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false },
];

async function openPage(size, at = url) {
  const context = await browser.newContext({
    viewport: size.viewport, isMobile: size.isMobile, hasTouch: size.hasTouch,
  });
  if (FROM_DISK) await servePageFromDisk(context, at);
  const page = await context.newPage();
  const cspErrors = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/.test(msg.text())) cspErrors.push(msg.text());
  });
  page.on('pageerror', (err) => cspErrors.push(`page error: ${err.message}`));
  await page.goto(at);
  return { context, page, cspErrors };
}

async function signIn(page, withKey = key) {
  await page.getByLabel('Auth key').fill(withKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Command').waitFor();
  assert.match(await page.locator('#who').textContent(), /signed in as default/);
}

/** Types a command, presses Enter, waits for its run to finish; returns the run's locator. */
async function run(page, command, timeout = 15000) {
  const before = await page.locator('.run').count();
  await page.getByLabel('Command').fill(command);
  await page.getByLabel('Command').press('Enter');
  const block = page.locator('.run').nth(before);
  await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout });
  return block;
}

async function outputOf(block) {
  return block.locator('pre.out').evaluate((el) => el.textContent);
}

/** Submits a job straight to the HTTP API with the key, as the CLI does; returns its uid. */
async function submitByApi(argv) {
  const resp = await fetch(`${url}/api/exec`, {
    method: 'POST',
    headers: { auth: key, 'content-type': 'application/json' },
    body: JSON.stringify({ argv }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.match(body.uid, /^\d+\.[0-9a-f-]{36}$/);
  return body.uid;
}

/** The page's row for job `uid` in the jobs panel. */
function jobRow(page, uid) {
  return page.locator(`#jobs-list .job[data-uid="${uid}"]`);
}

/** Polls the API until job `uid` has an exit code. */
async function waitEnded(uid, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const resp = await fetch(`${url}/api/job?uid=${encodeURIComponent(uid)}`, { headers: { auth: key } });
    const meta = await resp.json();
    if (typeof meta.exit === 'number') return meta;
    assert.ok(Date.now() < deadline, `job ${uid} still ${meta.state}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `count` bytes that are the same on every run and cover every byte value. */
function knownBytes(count) {
  const bytes = Buffer.alloc(count);
  for (let i = 0; i < count; i++) bytes[i] = (i * 131 + (i >> 8)) & 0xff;
  return bytes;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function pageOverflow(page) {
  return page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    view: document.documentElement.clientWidth,
  }));
}

for (const size of SIZES) {
  test(`${size.name}: a wrong key is refused with a message`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await page.getByLabel('Auth key').fill('not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signin-error', { hasText: 'not recognised' }).waitFor();
    assert.equal(await page.getByLabel('Command').isVisible(), false);
    await page.screenshot({ path: join(SHOTS, `${size.name}-wrong-key.png`) });
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: runs commands, streams output, shows exit codes`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);

    const failing = await run(page, "printf 'a\\nb'; exit 3");
    assert.equal(await outputOf(failing), 'a\nb');
    const footer = failing.locator('footer');
    assert.equal(await footer.textContent(), 'exit 3');
    assert.equal(await footer.getAttribute('class'), 'fail');
    assert.match(page.url(), /#\/job\/\d+\.[0-9a-f-]{36}$/);

    const ok = await run(page, 'echo fine');
    assert.equal(await ok.locator('footer').getAttribute('class'), 'ok');
    const [okColor, failColor] = await Promise.all([
      ok.locator('footer').evaluate((el) => getComputedStyle(el).color),
      footer.evaluate((el) => getComputedStyle(el).color),
    ]);
    const rgb = (c) => c.match(/\d+/g).map(Number);
    assert.ok(rgb(okColor)[1] > rgb(okColor)[0], `exit 0 is green: ${okColor}`);
    assert.ok(rgb(failColor)[0] > rgb(failColor)[1], `nonzero exit is red: ${failColor}`);

    const colored = await run(page, "printf '\\033[31mred\\033[0m plain \\033[1;38;5;33mblue\\033[0m\\n'");
    assert.equal(await outputOf(colored), 'red plain blue\n');
    const red = colored.locator('pre.out span', { hasText: /^red$/ });
    const color = rgb(await red.evaluate((el) => getComputedStyle(el).color));
    assert.ok(color[0] > 150 && color[1] < 120, `red text is red: ${color}`);
    const blue = colored.locator('pre.out span', { hasText: /^blue$/ });
    assert.equal(await blue.evaluate((el) => getComputedStyle(el).fontWeight), '700');

    const progress = await run(page,
      "for i in 1 2 3 4 5; do printf '\\rprogress %d%%' $((i*20)); sleep 0.1; done; echo");
    assert.equal(await outputOf(progress), 'progress 100%\n');

    const split = await run(page,
      "printf 'euro \\xe2\\x82'; sleep 0.4; printf '\\xac ok\\n'; printf 'bad \\xff end\\n'");
    assert.equal(await outputOf(split), 'euro \u20ac ok\nbad \ufffd end\n');

    await page.screenshot({ path: join(SHOTS, `${size.name}-runs.png`), fullPage: true });
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: reload during a job re-attaches and shows its end`, async () => {
    const { context, page } = await openPage(size);
    await signIn(page);
    await page.getByLabel('Command').fill('echo start; sleep 3; echo end');
    await page.getByLabel('Command').press('Enter');
    await page.locator('.run pre.out', { hasText: 'start' }).waitFor();
    const address = page.url();
    assert.match(address, /#\/job\//);
    await page.reload();
    const block = page.locator('.run').first();
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 15000 });
    assert.equal(await outputOf(block), 'start\nend\n');
    assert.equal(await block.locator('footer').textContent(), 'exit 0');
    assert.match(await block.locator('.cmd').textContent(), /echo start; sleep 3; echo end/);
    assert.equal(page.url(), address);
    await page.screenshot({ path: join(SHOTS, `${size.name}-reattached.png`) });
    await context.close();
  });

  test(`${size.name}: a link prefills a command but never runs it`, async () => {
    const { context, page } = await openPage(size);
    await signIn(page);
    await page.goto(`${url}/#/run?cmd=${encodeURIComponent('echo from-a-link')}`);
    await page.getByLabel('Command').waitFor();
    await page.waitForFunction(() => document.getElementById('cmd').value !== '');
    assert.equal(await page.getByLabel('Command').inputValue(), 'echo from-a-link');
    await page.waitForTimeout(700);
    assert.equal(await page.locator('.run').count(), 0, 'nothing ran');
    await context.close();
  });

  test(`${size.name}: history, built-ins, "/" to focus, sign out`, async () => {
    const { context, page } = await openPage(size);
    await signIn(page);
    await run(page, 'echo first');
    await run(page, 'echo second');
    await page.reload();
    await page.getByLabel('Command').waitFor();
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'cmd');
    await page.getByLabel('Command').press('ArrowUp');
    assert.equal(await page.getByLabel('Command').inputValue(), 'echo second');
    await page.getByLabel('Command').press('ArrowUp');
    assert.equal(await page.getByLabel('Command').inputValue(), 'echo first');
    await page.getByLabel('Command').press('ArrowDown');
    await page.getByLabel('Command').press('ArrowDown');
    assert.equal(await page.getByLabel('Command').inputValue(), '');

    const hist = await run(page, 'history');
    assert.match(await outputOf(hist), /echo first\n.*echo second\n/s);
    await page.getByLabel('Command').fill('clear');
    await page.getByLabel('Command').press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('.run').length === 0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Auth key').waitFor();
    await page.reload();
    await page.getByLabel('Auth key').waitFor();
    assert.equal(await page.getByLabel('Command').isVisible(), false, 'signed out stays out');
    await context.close();
  });

  test(`${size.name}: Cancel stops a running job; its block ends and its row says cancelled`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    await page.getByLabel('Command').fill('echo waiting; sleep 30; echo never');
    await page.getByLabel('Command').press('Enter');
    const block = page.locator('.run').first();
    await block.locator('pre.out', { hasText: 'waiting' }).waitFor();
    const uid = await block.getAttribute('data-uid');
    assert.ok(uid, 'the block knows its job');
    const cancel = block.getByRole('button', { name: 'Cancel' });
    await cancel.waitFor();

    // A refused cancel shows the service's message and leaves the button usable.
    const isExec = (u) => u.pathname === '/api/exec';
    const refuse = (route) => (route.request().method() === 'DELETE'
      ? route.fulfill({ status: 404, contentType: 'application/json',
        body: JSON.stringify({ error: `no job ${uid}` }) })
      : route.continue());
    await page.route(isExec, refuse);
    await cancel.click();
    await block.locator('.alert', { hasText: `Cancel failed: no job ${uid}` }).waitFor();
    assert.equal(await cancel.isEnabled(), true);
    assert.equal(await block.getAttribute('data-state'), 'running');
    await page.unroute(isExec, refuse);

    // The real one: the button disables itself at once, and the job's end arrives as usual.
    const started = Date.now();
    const disabledAtOnce = await cancel.evaluate((button) => {
      button.click();
      return button.disabled;
    });
    assert.equal(disabledAtOnce, true, 'Cancel disables itself when clicked');
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 10000 });
    assert.ok(Date.now() - started < 10000, 'cancelled within 10 s');
    const footer = block.locator('footer');
    const exit = /^exit (-?\d+)$/.exec(await footer.textContent());
    assert.ok(exit, `the block ends with an exit code: ${await footer.textContent()}`);
    assert.notEqual(Number(exit[1]), 0);
    assert.equal(await footer.getAttribute('class'), 'fail');
    const output = await outputOf(block);
    assert.ok(output.startsWith('waiting\n') && !output.includes('never'), output);
    // The service's word is shown apart from the job's output, never in it.
    assert.equal(await block.locator('p.notes').textContent(), 'aws-exec: cancelled');
    assert.ok(!output.includes('aws-exec:'), output);
    assert.equal(await cancel.count(), 0, 'no Cancel once the job has ended');
    assert.equal(await block.locator('.alert').textContent(), '');

    // The jobs panel refreshes after the run ends.
    const row = jobRow(page, uid);
    await row.locator('.job-state', { hasText: /^cancelled$/ }).waitFor({ timeout: 10000 });
    assert.equal(await row.locator('.job-exit').textContent(), `exit ${exit[1]}`);
    assert.match(await row.locator('.job-cmd').textContent(), /^bash -c echo waiting; sleep 30; echo never$/);
    await page.screenshot({ path: join(SHOTS, `${size.name}-cancelled.png`) });
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: a job submitted through the API is listed; its row re-attaches`, async () => {
    const marker = `from-the-api-${size.name}`;
    // Long enough that the row must truncate it.
    const uid = await submitByApi(['bash', '-c', `sleep 1; echo ${marker} # ${'long '.repeat(60)}`]);
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);

    const row = jobRow(page, uid);
    await row.waitFor(); // listed on sign-in: fed by the service, not this browser
    assert.match(await row.locator('.job-state').textContent(), /^(queued|running|exited)$/);
    assert.match(await row.locator('.job-age').textContent(), /^\d+s ago$/);
    const command = row.locator('.job-cmd');
    assert.ok((await command.textContent()).startsWith(`bash -c sleep 1; echo ${marker} # long long`));
    const cell = await command.evaluate((el) => ({
      scroll: el.scrollWidth, client: el.clientWidth, ellipsis: getComputedStyle(el).textOverflow,
    }));
    assert.ok(cell.scroll > cell.client, 'a long command is cut to its row');
    assert.equal(cell.ellipsis, 'ellipsis');
    const sizes = await pageOverflow(page);
    assert.ok(sizes.page <= sizes.view, `page ${sizes.page} wider than view ${sizes.view}`);
    if (size.isMobile) {
      const box = await row.boundingBox();
      assert.ok(box.height >= 44, `a row is tall enough to tap: ${box.height}`);
      assert.ok(box.x >= 0 && box.x + box.width <= size.viewport.width, 'the row fits the screen');
    }
    await page.screenshot({ path: join(SHOTS, `${size.name}-jobs.png`) });

    await row.click();
    const block = page.locator(`.run[data-uid="${uid}"]`);
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 15000 });
    assert.equal(await outputOf(block), `${marker}\n`);
    assert.equal(await block.locator('footer').textContent(), 'exit 0');
    assert.ok(page.url().endsWith(`#/job/${uid}`), page.url());
    assert.equal(await page.locator('.run').count(), 1);
    // Its row catches up with the end; clicking it again attaches nothing twice.
    await row.locator('.job-state', { hasText: /^exited$/ }).waitFor({ timeout: 10000 });
    assert.equal(await row.locator('.job-exit').textContent(), 'exit 0');
    assert.match(await row.locator('.job-dur').textContent(), /^\d+s$/);
    await row.click();
    assert.equal(await page.locator('.run').count(), 1);

    // Refresh picks up a job started elsewhere while the page is open.
    const later = await submitByApi(['true']);
    assert.equal(await jobRow(page, later).count(), 0);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await jobRow(page, later).waitFor();
    assert.equal(await page.locator('#jobs-list .job').first().getAttribute('data-uid'), later,
      'newest first');
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: no horizontal page overflow; long lines scroll in their block`, async () => {
    const { context, page } = await openPage(size);
    await signIn(page);
    const wide = await run(page, "printf '%0400d\\n' 0");
    const sizes = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      view: document.documentElement.clientWidth,
    }));
    assert.ok(sizes.page <= sizes.view, `page ${sizes.page} wider than view ${sizes.view}`);
    const pre = await wide.locator('pre.out').evaluate((el) => [el.scrollWidth, el.clientWidth]);
    assert.ok(pre[0] > pre[1], 'the long line scrolls inside its block');
    if (size.isMobile) {
      for (const label of ['Command']) {
        const box = await page.getByLabel(label).boundingBox();
        assert.ok(box.height >= 44, `${label} is tall enough to tap: ${box.height}`);
      }
      const fontSize = await page.getByLabel('Command').evaluate((el) => getComputedStyle(el).fontSize);
      assert.equal(fontSize, '16px', 'inputs at 16px keep phones from zooming');
    }
    await page.screenshot({ path: join(SHOTS, `${size.name}-wide.png`) });
    await context.close();
  });

  test(`${size.name}: attached files are uploaded and placed in the job's directory`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const data = knownBytes(5000);
    const note = Buffer.from('second file, ü\n');
    const picker = page.getByLabel('Attach files');
    const chosen = page.locator('#inputs-chosen');
    assert.equal(await chosen.isVisible(), false, 'no list while nothing is attached');

    // Chosen files are listed with their sizes; a second pick adds to the first; Clear drops all.
    await picker.setInputFiles([{ name: 'data.bin', mimeType: 'application/octet-stream', buffer: data }]);
    await picker.setInputFiles([{ name: 'note.txt', mimeType: 'text/plain', buffer: note }]);
    await chosen.waitFor();
    assert.deepEqual(await page.locator('#inputs-list li').allTextContents(),
      ['data.bin4.9 KiB', `note.txt${note.length} B`]);
    await page.getByRole('button', { name: 'Clear files' }).click();
    await chosen.waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#inputs-list li').count(), 0);

    await picker.setInputFiles([
      { name: 'data.bin', mimeType: 'application/octet-stream', buffer: data },
      { name: 'note.txt', mimeType: 'text/plain', buffer: note },
    ]);
    await chosen.waitFor();
    if (size.isMobile) {
      for (const target of [page.locator('label.attach'), page.getByRole('button', { name: 'Clear files' })]) {
        const box = await target.boundingBox();
        assert.ok(box.height >= 44 && box.width >= 44, `big enough to tap: ${JSON.stringify(box)}`);
        assert.ok(box.x >= 0 && box.x + box.width <= size.viewport.width, 'on screen');
      }
      const prompt = await page.getByLabel('Command').boundingBox();
      assert.ok(prompt.width >= 150, `the command line keeps its room: ${prompt.width}`);
    }
    const sizes = await pageOverflow(page);
    assert.ok(sizes.page <= sizes.view, `page ${sizes.page} wider than view ${sizes.view}`);
    await page.screenshot({ path: join(SHOTS, `${size.name}-inputs-chosen.png`) });

    const submitted = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/exec');
    const block = await run(page, 'sha256sum data.bin; wc -c < data.bin; cat note.txt');
    const inputs = (await submitted).postDataJSON().inputs;
    assert.deepEqual(Object.keys(inputs).sort(), ['data.bin', 'note.txt']);
    for (const k of Object.values(inputs)) assert.match(k, /^inputs\//);
    assert.equal(await outputOf(block), `${sha256(data)}  data.bin\n5000\nsecond file, ü\n`);
    assert.equal(await block.locator('footer').textContent(), 'exit 0');
    assert.equal(await chosen.isVisible(), false, 'the files went with the command');

    // A command run after it carries no inputs.
    const plain = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/exec');
    const after = await run(page, 'ls data.bin 2>&1 || true');
    assert.equal((await plain).postDataJSON().inputs, undefined);
    assert.match(await outputOf(after), /No such file/);
    await page.screenshot({ path: join(SHOTS, `${size.name}-inputs-run.png`), fullPage: true });
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: a failed upload is shown, runs nothing, and keeps the files attached`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const execs = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/exec') execs.push(r);
    });
    const refusePut = (route) => (route.request().method() === 'PUT'
      ? route.fulfill({ status: 403, body: 'denied' })
      : route.continue());
    await page.route('**/*', refusePut);
    await page.getByLabel('Attach files').setInputFiles([
      { name: 'first.txt', mimeType: 'text/plain', buffer: Buffer.from('one') },
    ]);
    await page.getByLabel('Command').fill('cat first.txt');
    await page.getByLabel('Command').press('Enter');
    const block = page.locator('.run').first();
    await block.locator('xpath=self::*[@data-state="error"]').waitFor();
    assert.equal(await block.locator('.alert').textContent(),
      'Upload of first.txt failed: the upload URL answered HTTP 403');
    assert.equal(await block.locator('footer').getAttribute('class'), 'fail');
    assert.equal(execs.length, 0, 'nothing was submitted');
    assert.deepEqual(await page.locator('#inputs-list li .chosen-name').allTextContents(), ['first.txt']);
    assert.equal(await page.getByLabel('Command').inputValue(), 'cat first.txt');
    await page.screenshot({ path: join(SHOTS, `${size.name}-upload-failed.png`) });

    // The service refusing the upload itself: its message is shown.
    await page.unroute('**/*', refusePut);
    await page.route('**/api/inputs', (route) => route.fulfill({
      status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'store unavailable' }),
    }));
    await page.getByLabel('Command').press('Enter');
    const second = page.locator('.run').nth(1);
    await second.locator('xpath=self::*[@data-state="error"]').waitFor();
    assert.equal(await second.locator('.alert').textContent(), 'Upload of first.txt failed: store unavailable');
    assert.equal(execs.length, 0, 'nothing was submitted');
    await page.unroute('**/api/inputs');

    // Once uploads work again the same command runs with the file.
    await page.getByLabel('Command').press('Enter');
    const third = page.locator('.run').nth(2);
    await third.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 15000 });
    assert.equal(await outputOf(third), 'one');
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: files a job leaves in $AWS_EXEC_ARTIFACTS are download links`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const listed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/artifacts');
    const none = await run(page, 'echo nothing kept');
    assert.equal((await listed).status(), 200);
    await none.locator('.artifacts[data-state="none"]').waitFor({ state: 'attached' });
    assert.equal(await none.locator('.artifacts').isVisible(), false, 'no list without artifacts');
    assert.equal(await page.locator('#artifacts').isVisible(), false);

    const block = await run(page,
      'mkdir -p "$AWS_EXEC_ARTIFACTS/sub" && printf \'hello artifact\' > "$AWS_EXEC_ARTIFACTS/sub/out.txt"');
    const link = block.locator('.artifacts a.artifact');
    await link.waitFor();
    assert.equal(await link.count(), 1);
    assert.equal(await link.textContent(), 'sub/out.txt (14 B)');
    assert.equal(await link.getAttribute('download'), 'out.txt');
    const href = await link.getAttribute('href');
    assert.ok(href.startsWith('http://') || href.startsWith('https://'), `an absolute URL: ${href}`);
    // The newest list is #artifacts, below the output.
    assert.equal(await page.locator('#artifacts a.artifact').getAttribute('href'), href);
    const [outBox, listBox] = await Promise.all([
      block.locator('pre.out').boundingBox(), block.locator('.artifacts').boundingBox()]);
    assert.ok(listBox.y >= outBox.y + outBox.height - 1, 'the links are below the output');
    if (size.isMobile) {
      const box = await link.boundingBox();
      assert.ok(box.height >= 44, `a link is tall enough to tap: ${box.height}`);
    }
    const sizes = await pageOverflow(page);
    assert.ok(sizes.page <= sizes.view, `page ${sizes.page} wider than view ${sizes.view}`);
    await page.screenshot({ path: join(SHOTS, `${size.name}-artifacts.png`) });

    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'out.txt');
    assert.equal(readFileSync(await download.path(), 'utf8'), 'hello artifact');
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: re-attaching to an ended job lists its artifacts`, async () => {
    const uid = await submitByApi(['bash', '-c',
      `cd "$AWS_EXEC_ARTIFACTS" && mkdir -p a/b && head -c 3000 /dev/zero > a/b/zeros.bin && echo hi > top.txt && echo kept`]);
    await waitEnded(uid);
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    await jobRow(page, uid).click();
    const block = page.locator(`.run[data-uid="${uid}"]`);
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 15000 });
    assert.equal(await outputOf(block), 'kept\n');
    const links = block.locator('a.artifact');
    await links.first().waitFor();
    const texts = (await links.allTextContents()).sort();
    assert.deepEqual(texts, ['a/b/zeros.bin (2.9 KiB)', 'top.txt (3 B)']);
    const zeros = block.locator('a.artifact', { hasText: 'zeros.bin' });
    assert.equal(await zeros.getAttribute('download'), 'zeros.bin');
    const [download] = await Promise.all([page.waitForEvent('download'), zeros.click()]);
    const got = readFileSync(await download.path());
    assert.equal(got.length, 3000);
    assert.ok(got.equals(Buffer.alloc(3000)), 'the downloaded bytes are the ones the job wrote');
    assert.deepEqual(cspErrors, []);
    await context.close();
  });
}

for (const size of SIZES) {
  test(`${size.name}: schedules and triggers are listed with their last runs`, async () => {
    const put = async (path, body) => {
      const resp = await fetch(`${url}${path}`, {
        method: 'PUT', headers: { auth: key, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      assert.equal(resp.status, 200, await resp.text());
    };
    const nightly = `nightly-${size.name}`;
    await put(`/api/schedules/${nightly}`, {
      cron: '0 3 * * *', tz: 'Europe/Berlin', exec: { argv: ['echo', 'backed up'] },
    });
    await put(`/api/triggers/thumbs-${size.name}`, { prefix: 'photos/', exec: { argv: ['true'] } });
    const ran = await fetch(`${url}/api/schedules/${nightly}/run`, { method: 'POST', headers: { auth: key } });
    assert.equal(ran.status, 200);
    const { uid } = await ran.json();
    await waitEnded(uid);

    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const panel = page.locator('#autos');
    await panel.locator('summary').click();
    const row = panel.locator(`.auto[data-kind="schedule"][data-name="${nightly}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.auto-when').textContent(), '0 3 * * * (Europe/Berlin)');
    assert.match(await row.locator('.auto-next').textContent(), /^next /);
    assert.equal(await row.locator('.auto-job').textContent(), 'echo backed up');
    const last = row.locator(`.auto-last a[data-uid="${uid}"]`);
    assert.match(await last.textContent(), /^exited · exit 0 · /);
    const trigger = panel.locator(`.auto[data-kind="trigger"][data-name="thumbs-${size.name}"]`);
    assert.equal(await trigger.locator('.auto-when').textContent(), 'upload to photos/');
    assert.equal(await trigger.locator('.auto-last').textContent(), 'never run');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'the panel fits the screen');
    await page.screenshot({ path: join(SHOTS, `${size.name}-schedules.png`) });

    // Its last run's link re-attaches to that job's output.
    await last.click();
    const block = page.locator(`.run[data-uid="${uid}"]`);
    await block.locator('xpath=self::*[@data-state="done"]').waitFor();
    assert.match(await outputOf(block), /backed up/);
    assert.deepEqual(cspErrors, []);
    await context.close();
  });
}

/** The caller's secret names, as the HTTP API lists them. */
async function secretNames() {
  const resp = await fetch(`${url}/api/secrets`, { headers: { auth: key } });
  assert.equal(resp.status, 200);
  return (await resp.json()).secrets.map((s) => s.name);
}

/** Whether `text` is anywhere in the page: its text, attributes, input values or storage. */
function pageHolds(page, text) {
  return page.evaluate((t) => {
    const els = [...document.querySelectorAll('*')];
    return document.documentElement.textContent.includes(t)
      || els.some((el) => [...el.attributes].some((a) => a.value.includes(t)))
      || [...document.querySelectorAll('input, textarea')].some((el) => el.value.includes(t))
      || JSON.stringify({ ...localStorage }).includes(t)
      || JSON.stringify({ ...sessionStorage }).includes(t);
  }, text);
}

for (const size of SIZES) {
  test(`${size.name}: a secret is set in its panel, never shown again, goes masked with the next command, and is deleted on a second click`, async () => {
    const name = `PAGE_SECRET_${size.name.toUpperCase()}`;
    const value = `s3cret-${size.name}-${randomBytes(6).toString('hex')}`;
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const panel = page.locator('#secrets');
    await panel.locator('#secrets-count', { hasText: /none yet|secrets?$/ }).waitFor();
    await panel.locator('summary').click();
    const nameInput = page.getByLabel('Secret name');
    const valueInput = page.getByLabel('Secret value');
    assert.equal(await valueInput.getAttribute('type'), 'password');
    assert.equal(await valueInput.getAttribute('autocomplete'), 'new-password');

    // A name the service refuses: its words are shown, and the value stays to try again.
    await nameInput.fill('bad-name');
    assert.equal(await nameInput.evaluate((el) => el.matches(':invalid')), true, 'the field marks the name');
    await valueInput.fill(value);
    await panel.getByRole('button', { name: 'Save' }).click();
    await panel.locator('#secrets-error', {
      hasText: 'Not saved: secret name "bad-name" is not [A-Z_][A-Z0-9_]* of at most 64 characters',
    }).waitFor();
    assert.equal(await valueInput.inputValue(), value);

    // Saved: listed by name and time, the value gone from the form and from the page.
    await nameInput.fill(name);
    await panel.getByRole('button', { name: 'Save' }).click();
    const row = panel.locator(`.secret[data-name="${name}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.secret-name').textContent(), name);
    assert.match(await row.locator('.secret-when').textContent(), /^set \S/);
    assert.equal(await panel.locator('#secrets-status').textContent(), `${name} saved.`);
    assert.equal(await panel.locator('#secrets-error').textContent(), '');
    assert.equal(await valueInput.inputValue(), '');
    assert.equal(await nameInput.inputValue(), '');
    assert.equal(await pageHolds(page, value), false, 'the value is nowhere in the page');
    assert.ok((await secretNames()).includes(name));

    // Ticked, it is shown by the command line.
    const chosen = page.locator('#secrets-chosen');
    assert.equal(await chosen.isVisible(), false, 'nothing shown while nothing is attached');
    await row.getByRole('checkbox', { name: `use in next run: ${name}` }).check();
    await chosen.waitFor();
    assert.deepEqual(await chosen.locator('.chosen-name').allTextContents(), [`$${name}`]);
    assert.match(await panel.locator('#secrets-count').textContent(), /, 1 attached$/);
    const sizes = await pageOverflow(page);
    assert.ok(sizes.page <= sizes.view, `page ${sizes.page} wider than view ${sizes.view}`);
    if (size.isMobile) {
      for (const target of [row.locator('.secret-use'), row.getByRole('button', { name: `Delete ${name}` }),
        page.getByRole('button', { name: 'Detach secrets' }), panel.getByRole('button', { name: 'Save' })]) {
        const box = await target.boundingBox();
        assert.ok(box.height >= 44, `big enough to tap: ${JSON.stringify(box)}`);
        assert.ok(box.x >= 0 && box.x + box.width <= size.viewport.width, 'on screen');
      }
      for (const input of [nameInput, valueInput]) {
        assert.equal(await input.evaluate((el) => getComputedStyle(el).fontSize), '16px');
      }
    }
    await page.screenshot({ path: join(SHOTS, `${size.name}-secrets.png`), fullPage: true });

    // The next command gets it as a variable; its log shows ***. The one after gets nothing.
    const submitted = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/exec');
    const block = await run(page, `echo "got $${name}"`);
    assert.deepEqual((await submitted).postDataJSON().secrets, [name]);
    assert.equal(await outputOf(block), 'got ***\n');
    assert.equal(await block.locator('footer').textContent(), 'exit 0');
    assert.equal(await chosen.isVisible(), false, 'the secret went with the command');
    assert.equal(await row.getByRole('checkbox').isChecked(), false);
    const plain = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/exec');
    const after = await run(page, `echo "[$${name}]"`);
    assert.equal((await plain).postDataJSON().secrets, undefined);
    assert.equal(await outputOf(after), '[]\n');
    assert.equal(await pageHolds(page, value), false, 'the value is nowhere in the page');

    // Delete asks first: one click changes nothing, the second deletes.
    await row.getByRole('button', { name: `Delete ${name}` }).click();
    const confirm = row.getByRole('button', { name: `Confirm: delete ${name}` });
    await confirm.waitFor();
    assert.ok((await secretNames()).includes(name), 'not deleted on the first click');
    await page.screenshot({ path: join(SHOTS, `${size.name}-secret-confirm.png`) });
    await confirm.click();
    await row.waitFor({ state: 'detached' });
    assert.equal(await panel.locator('#secrets-status').textContent(), `${name} deleted.`);
    assert.ok(!(await secretNames()).includes(name));
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: a secret attached but deleted elsewhere: the command is refused with the service's words`, async () => {
    const name = `GONE_SECRET_${size.name.toUpperCase()}`;
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const put = await fetch(`${url}/api/secrets/${name}`, {
      method: 'PUT', headers: { auth: key, 'content-type': 'application/json' }, body: JSON.stringify({ value: 'x1' }),
    });
    assert.equal(put.status, 200);
    // Refresh lists what was set elsewhere.
    await page.getByRole('button', { name: 'Refresh' }).click();
    const panel = page.locator('#secrets');
    await panel.locator('summary').click();
    const row = panel.locator(`.secret[data-name="${name}"]`);
    await row.getByRole('checkbox').check();
    await page.locator('#secrets-chosen').waitFor();
    const gone = await fetch(`${url}/api/secrets/${name}`, { method: 'DELETE', headers: { auth: key } });
    assert.equal(gone.status, 200);

    await page.getByLabel('Command').fill('echo never');
    await page.getByLabel('Command').press('Enter');
    const block = page.locator('.run').first();
    await block.locator('xpath=self::*[@data-state="error"]').waitFor();
    assert.match(await block.locator('footer').textContent(), new RegExp(`^no secret ${name} for this auth key`));
    // The panel catches up: the secret is gone from the list and from the command line.
    await page.getByRole('button', { name: 'Refresh' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#secrets-chosen').isVisible(), false);
    assert.deepEqual(cspErrors, []);
    await context.close();
  });
}

test('the served page is frontend/ as it is now (rebuild aws-exec after editing it)', async () => {
  for (const file of ['index.html', 'app.js', 'api.js', 'term.js', 'logview.js', 'schedules.js', 'secrets.js', 'ui.js', 'app.css']) {
    const resp = await fetch(`${url}/${file === 'index.html' ? '' : file}`);
    assert.equal(resp.status, 200, file);
    assert.ok((await resp.text()) === readFileSync(join(here, '..', file), 'utf8'),
      `${file} served by ${BIN} differs from frontend/${file}: the binary is older than the page`);
  }
});

test('the page is served with its security headers', async () => {
  const resp = await fetch(`${url}/`);
  assert.equal(resp.status, 200);
  const csp = resp.headers.get('content-security-policy');
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(resp.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(resp.headers.get('referrer-policy'), 'no-referrer');
  const html = await resp.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
});

// ---- a large log ---------------------------------------------------------------------------

/** The numbered lines of the big log, and its last line (32 MiB in all, a log's cap). */
const BIG_LINES = 4333188; // `seq 1 N` is then 33 554 400 bytes
const BIG_LAST = 'LAST-LINE-OF-THE-LOG';
const BIG_SIZE = 33554400 + BIG_LAST.length + 1;

/** A job whose log is 32 MiB of numbered lines and a last line; made once. */
let bigLogUid;
async function bigLog() {
  if (!bigLogUid) {
    bigLogUid = await submitByApi(['sh', '-c', `seq 1 ${BIG_LINES}; echo ${BIG_LAST}`]);
    await waitEnded(bigLogUid, 60000);
  }
  return bigLogUid;
}

/** Opens job `uid` by its address, as a shared link does; answers the ms to its last line. */
async function openAtTail(page, uid, last) {
  const started = Date.now();
  await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
  await page.waitForFunction(({ u, text }) => {
    const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
    const row = out && [...out.children].reverse().find((el) => !el.classList.contains('log-gap'));
    if (!row || row.textContent.trim() !== text) return false;
    // On screen: inside the output's box, and the box inside the viewport.
    const box = out.getBoundingClientRect();
    const at = row.getBoundingClientRect();
    return at.bottom <= box.bottom + 1 && at.top >= box.top && box.bottom <= innerHeight + 1;
  }, { u: uid, text: last }, { timeout: 20000, polling: 10 });
  return Date.now() - started;
}

/**
 * What the output of job `uid` shows: the rows drawn (their count and the elements in the
 * output), the rows at the top and bottom of its view, whether it is scrolled to its end,
 * and whether the numbered rows drawn follow on one from another.
 */
function look(page, uid) {
  return page.evaluate((u) => {
    const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
    const rows = [...out.children].filter((el) => !el.classList.contains('log-gap'));
    const box = out.getBoundingClientRect();
    const style = getComputedStyle(out);
    const inside = rows.filter((el) => {
      const r = el.getBoundingClientRect();
      const mid = (r.top + r.bottom) / 2;
      return r.height > 0 && mid > box.top + parseFloat(style.paddingTop) && mid < box.bottom - parseFloat(style.paddingBottom);
    });
    // Whole lines only: the open line may hold part of a number still being written.
    const numbers = rows.filter((el) => el.classList.contains('ln'))
      .map((el) => el.textContent.trim()).filter((x) => /^\d+$/.test(x)).map(Number);
    const gaps = out.querySelectorAll('.log-gap');
    const rowsIn = (el) => (el ? Math.round(el.getBoundingClientRect().height / parseFloat(style.lineHeight)) : 0);
    return {
      rows: rows.length,
      nodes: out.querySelectorAll('*').length,
      pageNodes: document.querySelectorAll('*').length,
      top: inside[0]?.textContent.trim(),
      bottom: inside[inside.length - 1]?.textContent.trim(),
      first: numbers[0],
      // the first numbered line kept (drawn or not), as rows follow on
      kept: numbers[0] - rowsIn(gaps[0]),
      keptLast: numbers[numbers.length - 1] + rowsIn(gaps[1]),
      atEnd: out.scrollHeight - out.scrollTop - out.clientHeight < 2,
      consecutive: numbers.every((n, i) => i === 0 || n === numbers[i - 1] + 1),
    };
  }, uid);
}

/** The page's JS heap after a garbage collection, in MiB. */
async function heapMiB(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  await cdp.detach();
  return usedSize / 1024 / 1024;
}

/** Scrolls job `uid`'s output as a user does (the wheel, then the new position), and
 * waits for it to be drawn. */
/**
 * Runs `command` from the command box and waits until it runs and its last line drawn is a
 * number past `n`; answers its block and uid.
 */
async function runUntilPast(page, command, n) {
  await page.getByLabel('Command').fill(command);
  await page.getByLabel('Command').press('Enter');
  const block = page.locator('.run').last();
  await block.locator('footer', { hasText: /^running… \d+s$/ }).waitFor({ timeout: 5000 });
  const uid = await block.getAttribute('data-uid');
  await page.waitForFunction(({ u, past }) => {
    const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
    const rows = [...out.children].filter((el) => !el.classList.contains('log-gap'));
    return Number(rows[rows.length - 1]?.textContent) > past;
  }, { u: uid, past: n }, { timeout: 10000 });
  return { block, uid };
}

function scrollOutput(page, uid, to) {
  return page.evaluate(async ({ u, to: where }) => {
    const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
    const top = where === 'top' ? 0 : where === 'end' ? out.scrollHeight : out.scrollTop + where;
    out.dispatchEvent(new WheelEvent('wheel', { deltaY: top < out.scrollTop ? -100 : 100 }));
    out.scrollTop = top;
    for (let i = 0; i < 2; i++) await new Promise((r) => requestAnimationFrame(r));
  }, { u: uid, to });
}

for (const size of SIZES) {
  test(`${size.name}: a 32 MiB log opens at its last line at once, draws only what is on screen, reads earlier parts on scroll`, async (t) => {
    const uid = await bigLog();
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    const took = await openAtTail(page, uid, BIG_LAST);
    t.diagnostic(`time to the last line of a 32 MiB log at ${size.viewport.width}px: ${took} ms`);
    assert.ok(took < 5000, `${took} ms`);
    const block = page.locator(`.run[data-uid="${uid}"]`);
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 10000 });
    let view = await look(page, uid);
    t.diagnostic(`at the end: ${view.rows} rows drawn, ${view.nodes} elements in the output, ${view.pageNodes} in the page`);
    assert.equal(view.bottom, BIG_LAST, 'the last line is at the bottom of the view');
    assert.ok(view.atEnd);
    assert.ok(view.consecutive, 'rows follow on');
    assert.ok(view.first > 1, 'not from the start');
    assert.ok(view.nodes <= 2000, `${view.nodes} elements in the output`);
    assert.ok(view.pageNodes <= 3000, `${view.pageNodes} elements in the page`);
    const opened = await heapMiB(context, page);
    t.diagnostic(`JS heap once open: ${opened.toFixed(1)} MiB`);
    assert.ok(opened < 48, `${opened} MiB`);
    const download = block.locator('a.log-download');
    assert.equal(await download.isVisible(), true, 'the whole log is a download away');
    assert.equal(await download.getAttribute('download'), `${uid}.log`);
    assert.match(await download.textContent(), /^whole log \(32\.0 MiB\)$/);

    // Scrolled to its top, the output reads the part before it, keeping the view still.
    const steps = [];
    for (let i = 0; i < 14; i++) {
      await scrollOutput(page, uid, 'top');
      await page.waitForFunction(({ u, before }) => {
        const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
        const row = [...out.children].find((el) => !el.classList.contains('log-gap'));
        return Number(row.textContent) < before;
      }, { u: uid, before: view.kept }, { timeout: 10000 });
      const now = await look(page, uid);
      assert.ok(now.consecutive, `rows follow on after step ${i}`);
      assert.equal(now.top, String(view.kept), `the row that was at the top stays in view (step ${i})`);
      assert.ok(now.nodes <= 2000, `${now.nodes} elements in the output`);
      steps.push(now.kept);
      view = now;
    }
    t.diagnostic(`first lines drawn going back: ${steps.join(', ')}`);
    // Far back, the end is let go: memory stays bounded.
    const later = block.locator('.log-later');
    assert.equal(await later.isVisible(), true, 'the end was let go');
    // Scrolled to the bottom of what is kept, the output reads the part after it.
    for (let i = 0; i < 3; i++) {
      await scrollOutput(page, uid, 'end');
      await page.waitForFunction(({ u, after }) => {
        const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
        const gaps = out.querySelectorAll('.log-gap');
        const lh = parseFloat(getComputedStyle(out).lineHeight);
        const rows = [...out.children].filter((el) => !el.classList.contains('log-gap'));
        const below = Math.round(gaps[1].getBoundingClientRect().height / lh);
        return Number(rows[rows.length - 1].textContent) + below > after;
      }, { u: uid, after: view.keptLast }, { timeout: 10000 });
      const now = await look(page, uid);
      assert.ok(now.consecutive, `rows follow on after reading on (step ${i})`);
      assert.equal(now.bottom, String(view.keptLast), `the row that was at the bottom stays in view (step ${i})`);
      assert.ok(now.nodes <= 2000, `${now.nodes} elements in the output`);
      view = now;
    }
    // A button brings the end back.
    const back = await heapMiB(context, page);
    t.diagnostic(`JS heap after reading back ${(14 * 256 / 1024).toFixed(1)} MiB: ${back.toFixed(1)} MiB`);
    assert.ok(back < 48, `${back} MiB`);
    await page.screenshot({ path: join(SHOTS, `${size.name}-large-log.png`) });
    await later.click();
    await page.waitForFunction((u) => {
      const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
      const rows = [...out.children].filter((el) => !el.classList.contains('log-gap'));
      return rows[rows.length - 1]?.textContent.trim() === 'LAST-LINE-OF-THE-LOG'
        && out.scrollHeight - out.scrollTop - out.clientHeight < 2;
    }, uid, { timeout: 10000 });
    assert.equal(await later.isVisible(), false);
    view = await look(page, uid);
    assert.equal(view.bottom, BIG_LAST);

    if (size.isMobile) {
      const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
      assert.equal(file.suggestedFilename(), `${uid}.log`);
      assert.equal(statSync(await file.path()).size, BIG_SIZE, 'the whole log downloads');
    }
    assert.deepEqual(cspErrors, []);
    await context.close();
  });

  test(`${size.name}: a running job's output follows its end, stays put when scrolled up, and follows again at the bottom`, async (t) => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    // 200 000 lines in 40 bursts: more than the view keeps, so its start goes as it follows.
    const { block, uid } = await runUntilPast(page,
      'i=0; while [ $i -lt 40 ]; do seq $((i*5000+1)) $((i*5000+5000)); i=$((i+1)); sleep 0.1; done; echo FOLLOW-END', 20000);
    let most = 0;
    for (let i = 0; i < 4; i++) {
      const view = await look(page, uid);
      assert.ok(view.atEnd, `following at the end (${view.bottom})`);
      assert.ok(view.consecutive);
      most = Math.max(most, view.nodes);
      await page.waitForTimeout(150);
    }
    // Scrolled up, it stays put while lines come in below and the oldest go above.
    await scrollOutput(page, uid, -2000);
    const held = await look(page, uid);
    assert.equal(held.atEnd, false);
    await page.waitForTimeout(800);
    const still = await look(page, uid);
    assert.equal(still.top, held.top, 'the view stays on the rows it showed');
    assert.equal(still.atEnd, false);
    assert.equal(await block.getAttribute('data-state'), 'running', 'the job still ran meanwhile');
    // Back at the bottom, it follows on to the end.
    await scrollOutput(page, uid, 'end');
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 20000 });
    const end = await look(page, uid);
    assert.equal(end.bottom, 'FOLLOW-END');
    assert.ok(end.atEnd);
    most = Math.max(most, end.nodes);
    t.diagnostic(`at most ${most} elements in the output while following 200 000 lines`);
    assert.ok(most <= 2000, `${most} elements`);
    assert.equal(await block.locator('.log-earlier').isVisible(), true, 'the start was let go');
    assert.deepEqual(cspErrors, []);
    await context.close();
  });
}

for (const size of SIZES) {
  test(`${size.name}: a finished run shows what it used: time, CPU, peak memory, log`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    await page.getByLabel('Command').fill(
      "python3 -c \"x = b'x' * (64 << 20); sum(range(3000000))\"; echo used");
    await page.getByLabel('Command').press('Enter');
    const block = page.locator('.run').last();
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 20000 });
    const usage = block.locator('.usage');
    await usage.waitFor({ timeout: 5000 });
    const text = await usage.textContent();
    const [, peak] = /(\d+) MiB peak/.exec(text ?? '') ?? [];
    assert.ok(Number(peak) >= 64, `a peak of at least 64 MiB: ${text}`);
    const [, cpu] = /CPU (\d+\.\d+) s/.exec(text ?? '') ?? [];
    // A fixed amount of work: some CPU time however busy the machine is.
    assert.ok(Number(cpu) >= 0.02, `the work's CPU time: ${text}`);
    assert.match(text ?? '', /5 B of log/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false);
    assert.deepEqual(cspErrors, []);
    await context.close();
  });
}

test('a run whose end is notified shows the delivery, retried until the receiver takes it', async () => {
  // A receiver that fails once, then takes it.
  let posts = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(posts === 1 ? 500 : 204);
      res.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = receiver.address();
  const hook = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  try {
    const resp = await fetch(`${url}/api/exec`, {
      method: 'POST',
      headers: { auth: key, 'content-type': 'application/json' },
      body: JSON.stringify({ argv: ['sh', '-c', 'echo told'], notify: { url: hook } }),
    });
    assert.equal(resp.status, 200);
    const { uid } = await resp.json();
    const { context, page, cspErrors } = await openPage(SIZES[0]);
    await signIn(page);
    await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
    const block = page.locator(`.run[data-uid="${uid}"]`);
    await block.locator('.delivery', { hasText: 'delivered (2 attempts)' }).waitFor({ timeout: 20000 });
    assert.match(await block.locator('.usage').first().textContent() ?? '', /5 B of log/);
    assert.equal(posts, 2);
    assert.deepEqual(cspErrors, []);
    await context.close();
  } finally {
    receiver.close();
  }
});

test('a retried job shows every attempt in its log and lists them under its end', async () => {
  const resp = await fetch(`${url}/api/exec`, {
    method: 'POST',
    headers: { auth: key, 'content-type': 'application/json' },
    body: JSON.stringify({
      argv: ['sh', '-c', 'echo "try $AWS_EXEC_ATTEMPT"; [ "$AWS_EXEC_ATTEMPT" = 2 ] || exit 75'],
      retry: { attempts: 2, delay: 1 },
    }),
  });
  assert.equal(resp.status, 200);
  const { uid } = await resp.json();
  const { context, page, cspErrors } = await openPage(SIZES[0]);
  await signIn(page);
  await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
  const block = page.locator(`.run[data-uid="${uid}"]`);
  const attempts = block.locator('.attempts');
  await attempts.waitFor({ timeout: 20000 });
  assert.equal(await attempts.textContent(), '2 attempts: #1 exited 75 · #2 exited 0');
  const text = await block.locator('pre.out').textContent();
  assert.match(text ?? '', /try 1\s*\[aws-exec\] attempt 2 of 2\s*try 2/);
  assert.deepEqual(cspErrors, []);
  await context.close();
});

/** A tool of the repository's .venv (bin/setup.sh), else the one on PATH. @param {string} name */
function venvTool(name) {
  const inVenv = join(here, '../../.venv/bin', name);
  return existsSync(inVenv) ? inVenv : name;
}

/** A free port on loopback. */
async function freePort() {
  const probe = createNetServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((resolve) => probe.close(() => resolve(undefined)));
  return port;
}

/**
 * moto_server with a bucket and the long runner (crates/testkit/src/long_runner.py), and a
 * `serve --bucket` told of both: what a service that hands long jobs to Fargate looks like.
 */
async function startLongRunner() {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const moto = spawn(venvTool('moto_server'), ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      await fetch(endpoint);
      break;
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const awsEnv = {
    ...process.env, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'AKIAAWSEXECTEST00001',
    AWS_SECRET_ACCESS_KEY: 'awsexectestsecretkey000000000000000000001', AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_EXEC_LOG: 'warn',
  };
  const setup = spawnSync(venvTool('python3'), [join(here, '../../crates/testkit/src/long_runner.py')], {
    env: { ...awsEnv, BUCKET: 'web' }, encoding: 'utf8',
  });
  assert.equal(setup.status, 0, setup.stderr);
  const made = JSON.parse(setup.stdout);
  const env = {
    ...awsEnv, ECS_CLUSTER: 'aws-exec', ECS_TASK_DEFINITION: 'aws-exec-runner',
    ECS_SUBNETS: made.subnet, ECS_SECURITY_GROUPS: made.sg,
  };
  const { child: serve, url: at, key: withKey } = await startServe(['--bucket', 'web'], env);
  const stop = async () => {
    for (const child of [serve, moto]) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
  };
  return { url: at, key: withKey, env, stop };
}

// Also: a bucket on another S3 endpoint than AWS's (moto here, MinIO elsewhere) is one the
// page may read logs from; its policy once let it read only AWS's, and showed nothing.
test('a job that ran on Fargate says so, with its size, under its end', async () => {
  const aws = await startLongRunner();
  try {
    const resp = await fetch(`${aws.url}/api/exec`, {
      method: 'POST',
      headers: { auth: aws.key, 'content-type': 'application/json' },
      body: JSON.stringify({ argv: ['sh', '-c', 'echo far away'], runner: 'fargate', 'memory-mb': 1024 }),
    });
    assert.equal(resp.status, 200);
    const { uid } = await resp.json();
    // What the task's container runs (moto runs no container): its command override.
    const server = join(dirname(BIN), 'aws-exec-server');
    const task = spawnSync(server, ['run-job', 'default', uid], {
      env: { ...aws.env, PROJECT_BUCKET: 'web' }, encoding: 'utf8',
    });
    assert.equal(task.status, 0, task.stderr);
    const { context, page, cspErrors } = await openPage(SIZES[0], aws.url);
    await signIn(page, aws.key);
    await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
    const block = page.locator(`.run[data-uid="${uid}"]`);
    const usage = block.locator('.usage').first();
    await usage.waitFor({ timeout: 20000 });
    assert.match(await usage.textContent() ?? '', /on fargate \(0\.25 vCPU, 1024 MiB\)/);
    assert.match(await block.locator('pre.out').textContent() ?? '', /far away/);
    assert.deepEqual(cspErrors, []);
    await context.close();
  } finally {
    await aws.stop();
  }
});

// Lines that came between a scroll to the bottom and its scroll event once left the view
// short of the bottom, and it stopped following for good.
test('a fast log scrolled back to its bottom follows again every time', async () => {
  const { context, page, cspErrors } = await openPage(SIZES[0]);
  // A slower machine: more lines come between a scroll and its event.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  await signIn(page);
  const { block, uid } = await runUntilPast(page,
    'i=0; while [ $i -lt 150 ]; do seq $((i*2000+1)) $((i*2000+2000)); i=$((i+1)); sleep 0.05; done; echo FAST-END', 4000);
  for (let i = 0; i < 8; i++) {
    await scrollOutput(page, uid, -600);
    await page.waitForTimeout(100);
    assert.equal((await look(page, uid)).atEnd, false, `scrolled up (round ${i})`);
    await scrollOutput(page, uid, 'end');
    await page.waitForTimeout(300);
    if ((await block.getAttribute('data-state')) !== 'running') break;
    const view = await look(page, uid);
    assert.ok(view.atEnd, `following again (round ${i}, at ${view.bottom})`);
  }
  await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 20000 });
  assert.equal((await look(page, uid)).bottom, 'FAST-END');
  assert.deepEqual(cspErrors, []);
  await context.close();
});

for (const size of SIZES) {
  test(`${size.name}: scrolled up far enough that the end goes, a running job's output reads on and follows again at the bottom`, async () => {
    const { context, page, cspErrors } = await openPage(size);
    await signIn(page);
    await page.getByLabel('Command').fill(
      'seq 1 300000; i=0; while [ $i -lt 80 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done; echo FOLLOW-END');
    await page.getByLabel('Command').press('Enter');
    const block = page.locator('.run').last();
    await block.locator('pre.out', { hasText: 'tick 1' }).waitFor({ timeout: 10000 });
    const uid = await block.getAttribute('data-uid');
    const later = block.locator('.log-later');
    for (let i = 0; i < 10 && !(await later.isVisible()); i++) {
      const before = (await look(page, uid)).kept;
      await scrollOutput(page, uid, 'top');
      await page.waitForFunction(({ u, n }) => {
        const out = document.querySelector(`.run[data-uid="${u}"] pre.out`);
        const row = [...out.children].find((el) => !el.classList.contains('log-gap'));
        return Number(row.textContent) < n;
      }, { u: uid, n: before }, { timeout: 10000 });
    }
    assert.equal(await later.isVisible(), true, 'the end was let go');
    assert.equal(await block.getAttribute('data-state'), 'running');
    // Scrolled down, step by step, it reads on to the end and follows it again.
    for (let i = 0; i < 40 && (await later.isVisible()); i++) {
      await scrollOutput(page, uid, 'end');
      await page.waitForTimeout(50);
    }
    assert.equal(await later.isVisible(), false, 'read on to the end');
    // At the bottom of it, it follows on.
    await scrollOutput(page, uid, 'end');
    assert.equal(await block.getAttribute('data-state'), 'running', 'the job still ran meanwhile');
    await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 20000 });
    const end = await look(page, uid);
    assert.equal(end.bottom, 'FOLLOW-END');
    assert.ok(end.atEnd, 'at the end');
    const text = await outputOf(block);
    assert.match(text, /tick 78\ntick 79\nFOLLOW-END\n$/, 'every tick, in order');
    assert.deepEqual(cspErrors, []);
    await context.close();
  });
}

test('a service that ignores suffix ranges (200, the whole log) still opens a 32 MiB log at its end', async (t) => {
  const uid = await bigLog();
  const { context, page, cspErrors } = await openPage(SIZES[1]);
  await signIn(page);
  let whole = 0;
  await page.route((u) => u.pathname.endsWith('/log.txt'), (route) => {
    const headers = { ...route.request().headers() };
    if (/^bytes=-/.test(headers.range ?? '')) {
      delete headers.range;
      whole++;
    }
    return route.continue({ headers });
  });
  const took = await openAtTail(page, uid, BIG_LAST);
  t.diagnostic(`time to the last line when the whole 32 MiB log comes: ${took} ms`);
  assert.equal(whole, 1, 'the suffix range was asked for once, and answered with it all');
  const view = await look(page, uid);
  assert.ok(view.consecutive && view.first > 1);
  assert.ok(view.nodes <= 2000, `${view.nodes} elements`);
  const heap = await heapMiB(context, page);
  t.diagnostic(`JS heap after: ${heap.toFixed(1)} MiB`);
  assert.ok(heap < 48, `${heap} MiB`);
  assert.deepEqual(cspErrors, []);
  await context.close();
});

test('phone 375x667: the output starts on the first screen, the placeholder fits, a running job shows its time', async () => {
  const size = { ...SIZES[0], viewport: { width: 375, height: 667 } };
  for (let i = 0; i < 12; i++) await submitByApi(['true']);
  const { context, page, cspErrors } = await openPage(size);
  await signIn(page);
  await page.locator('#jobs-list .job').first().waitFor();
  const fits = await page.getByLabel('Command').evaluate((input) => {
    const style = getComputedStyle(input);
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = style.font;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return { text: ctx.measureText(input.placeholder).width, room };
  });
  assert.ok(fits.text <= fits.room, `placeholder ${fits.text}px in ${fits.room}px`);
  await page.getByLabel('Command').fill('echo started; sleep 3; echo done');
  await page.getByLabel('Command').press('Enter');
  const block = page.locator('.run').last();
  // The time it has run ticks on, a second at a time.
  await block.locator('footer', { hasText: /^running… 1s$/ }).waitFor({ timeout: 5000 });
  await block.locator('footer', { hasText: /^running… 2s$/ }).waitFor({ timeout: 5000 });
  // Its first lines are on the first screen, above the command line, the page unscrolled.
  await page.evaluate(() => window.scrollTo(0, 0));
  const fold = await block.locator('pre.out').evaluate((out) => {
    const prompt = document.getElementById('prompt').getBoundingClientRect();
    const lh = parseFloat(getComputedStyle(out).lineHeight);
    return { outTop: out.getBoundingClientRect().top + window.scrollY, lh, visibleTo: Math.min(innerHeight, prompt.top) };
  });
  assert.ok(fold.outTop + 3 * fold.lh <= fold.visibleTo,
    `the output starts at ${fold.outTop}px, the first screen ends at ${fold.visibleTo}px`);
  const list = await page.locator('#jobs-list').boundingBox();
  assert.ok(list && list.height <= size.viewport.height * 0.25, `the jobs list is ${list?.height}px tall`);
  await page.screenshot({ path: join(SHOTS, 'phone-fold.png') });
  await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 10000 });
  assert.equal(await block.locator('footer').textContent(), 'exit 0');
  assert.deepEqual(cspErrors, []);
  await context.close();
});

// Once runs filled the screen, a new run's card opened under the command line, which
// sticks over the bottom of the screen, and stayed there: its Cancel could not be reached.
test('phone: a new run opens in view above the sticky command line, its Cancel tappable where it is', async () => {
  const size = SIZES[0];
  const { context, page, cspErrors } = await openPage(size);
  await signIn(page);
  for (let i = 0; i < 5; i++) await run(page, `echo filler ${i}`);
  assert.ok(await page.evaluate(() => document.documentElement.scrollHeight > innerHeight + 200),
    'the runs fill more than the screen');
  await page.getByLabel('Command').fill('echo waiting; sleep 30');
  await page.getByLabel('Command').press('Enter');
  const block = page.locator('.run').last();
  const cancel = block.getByRole('button', { name: 'Cancel' });
  await cancel.waitFor();
  await block.locator('pre.out', { hasText: 'waiting' }).waitFor();
  // Measured as it is: nothing here scrolls the page.
  const seen = await block.evaluate((card) => {
    const bar = document.getElementById('prompt').getBoundingClientRect();
    const box = card.getBoundingClientRect();
    const button = card.querySelector('button.cancel');
    const at = button.getBoundingClientRect();
    const hit = document.elementFromPoint(at.left + at.width / 2, at.top + at.height / 2);
    return { top: box.top, bottom: box.bottom, barTop: bar.top, onTop: button.contains(hit) };
  });
  assert.ok(seen.top >= 0 && seen.bottom <= seen.barTop + 1,
    `the card spans ${seen.top}-${seen.bottom}px, the command line starts at ${seen.barTop}px`);
  assert.ok(seen.onTop, 'nothing covers Cancel');
  const at = await cancel.boundingBox();
  await page.touchscreen.tap(at.x + at.width / 2, at.y + at.height / 2);
  await block.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 10000 });
  assert.equal(await block.locator('p.notes').textContent(), 'aws-exec: cancelled');
  await page.screenshot({ path: join(SHOTS, 'phone-new-run-in-view.png') });
  assert.deepEqual(cspErrors, []);
  await context.close();
});

// The Jobs panel said `queued` while the run's card said `running`.
test("a run's card and its row in the Jobs panel say the same state all along: queued, running, its end", async () => {
  const { context, page, cspErrors } = await openPage(SIZES[1]);
  await signIn(page);
  // Silent while it runs: only asking the service shows that it started.
  await page.getByLabel('Command').fill('sleep 3; echo slept');
  await page.getByLabel('Command').press('Enter');
  const samples = [];
  for (const deadline = Date.now() + 15000; Date.now() < deadline;) {
    const s = await page.evaluate(() => {
      const card = [...document.querySelectorAll('.run')].pop();
      const uid = card?.dataset.uid;
      const row = uid ? document.querySelector(`#jobs-list .job[data-uid="${uid}"] .job-state`) : null;
      return {
        done: card?.dataset.state === 'done', uid,
        footer: card?.querySelector('footer')?.textContent ?? '', row: row?.textContent ?? null,
      };
    });
    samples.push(s);
    if (s.done) break;
    await page.waitForTimeout(100);
  }
  const last = samples[samples.length - 1];
  assert.ok(last.done, `the run ended: ${JSON.stringify(last)}`);
  // What the card says while it follows the job, as a state.
  const stateOf = (footer) => /^([a-z-]+)…/.exec(footer)?.[1] ?? null;
  const disagree = samples.filter((s) => !s.done && s.uid && s.row !== null && stateOf(s.footer)
    && stateOf(s.footer) !== s.row).map((s) => `card "${s.footer}", row "${s.row}"`);
  assert.deepEqual(disagree, [], 'the card and the row disagree');
  assert.ok(samples.some((s) => s.row === 'running' && stateOf(s.footer) === 'running'),
    `both said running while it ran: ${JSON.stringify(samples.map((s) => [s.footer, s.row]))}`);
  // Its end too, as soon as the card shows it.
  const row = jobRow(page, last.uid);
  assert.equal(await page.locator('.run').last().locator('footer').textContent(), 'exit 0');
  assert.equal(await row.locator('.job-state').textContent(), 'exited');
  assert.equal(await row.locator('.job-exit').textContent(), 'exit 0');
  assert.deepEqual(cspErrors, []);
  await context.close();
});

// A running job filled the console with red 416s: the page read its log past its end to
// learn that nothing new had come.
test('following a running job makes no request that fails and logs no console error', async () => {
  const { context, page, cspErrors } = await openPage(SIZES[1]);
  const failures = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') failures.push(`console: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => failures.push(`failed: ${req.method()} ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (resp) => {
    if (resp.status() >= 400) failures.push(`${resp.status()}: ${resp.request().method()} ${resp.url()}`);
  });
  await signIn(page);
  // Opened by its address while its log is still empty, then followed as it prints.
  const uid = await submitByApi(['sh', '-c', 'sleep 1; for i in 1 2 3; do echo quiet $i; sleep 0.5; done']);
  await page.evaluate((u) => { location.hash = `#/job/${u}`; }, uid);
  const attached = page.locator(`.run[data-uid="${uid}"]`);
  await attached.locator('xpath=self::*[@data-state="done"]').waitFor({ timeout: 15000 });
  assert.equal(await outputOf(attached), 'quiet 1\nquiet 2\nquiet 3\n');
  // Run from the command line: a line every half second for 3 s.
  const block = await run(page, 'for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done');
  assert.equal(await outputOf(block), 'line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n');
  assert.equal(await block.locator('footer').textContent(), 'exit 0');
  assert.deepEqual(failures, []);
  assert.deepEqual(cspErrors, []);
  await context.close();
});
