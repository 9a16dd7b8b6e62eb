// The self-service web page in a real browser: Debian's chromium driven by playwright-core.
//
// Starts `tresor serve` on loopback with a fresh data directory, adds a user and delivers a
// message over LMTP; then in the browser: log in, change the password (a mismatched
// confirmation first), check with an IMAP login (Python imaplib) that the new password reads
// the message delivered before the change; make a recovery code and download it; log out,
// reset the password with the code, log in again. Screenshots and the downloaded file go to
// the output directory. Any Content-Security-Policy violation or console error fails the test.
//
// usage: node browser-test.mjs TRESOR_BINARY OUTPUT_DIR

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const tresorBin = path.resolve(process.argv[2] ?? path.join(here, '../../target/debug/tresor'));
const outDir = path.resolve(process.argv[3] ?? path.join(here, '../../target/web-test'));
const mailPy = path.join(here, 'mail.py');

const EMAIL = 'browser@example.org';
const OLD = 'first pass phrase';
const NEW = 'second pass phrase ü';
const RESET = 'third pass phrase';
const MARKER = 'BROWSER-MARKER-BEFORE-THE-CHANGE';

let step = 0;
function log(...args) {
  console.log(`[browser-test]`, ...args);
}
function fail(message) {
  throw new Error(message);
}
function expect(cond, message) {
  if (!cond) fail(message);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) fail(`tresor serve exited with ${child.exitCode}`);
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`nothing listens on ${port}`);
}

function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return r;
}

function tresor(config, args, input) {
  const r = run(tresorBin, ['--config', config, ...args], input);
  if (r.status !== 0) fail(`tresor ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The INBOX over IMAP with `password`, or null when the login is refused. */
function imapRead(port, password) {
  const r = run('python3', [mailPy, 'read', String(port), EMAIL], `${password}\n`);
  if (r.status === 3) return null;
  if (r.status !== 0) fail(`imap read: ${r.stderr}`);
  return r.stdout;
}

async function shot(page, name) {
  step += 1;
  const file = path.join(outDir, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', path.relative(process.cwd(), file));
}

async function message(page) {
  return (await page.locator('#message').textContent())?.trim() ?? '';
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  expect(fs.existsSync(tresorBin), `no tresor binary at ${tresorBin} (cargo build -p tresor)`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tresor-web-'));
  // Run as root, tresor works on mail files as the mail user, who must reach the data dir.
  fs.chmodSync(tmp, 0o755);
  const [lmtp, imap, web] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(tmp, 'tresor.toml');
  fs.writeFileSync(config, [
    '[paths]', `data_dir = "${path.join(tmp, 'data')}"`,
    '[lmtp]', `listen = ["127.0.0.1:${lmtp}"]`,
    '[imap]', `listen = ["127.0.0.1:${imap}"]`,
    '[web]', `listen = ["127.0.0.1:${web}"]`,
    '# plain HTTP on loopback: a Secure cookie would never be sent back',
    'cookie_secure = false',
    'failure_delay_ms = 100',
    '[server]', 'hostname = "mx.test"',
    '[mail]', 'curve = "prime256v1"',
    '',
  ].join('\n'));
  tresor(config, ['user', 'add', EMAIL, '--password-stdin'], `${OLD}\n`);
  const serverLog = fs.openSync(path.join(outDir, 'tresor-serve.log'), 'w');
  const server = spawn(tresorBin, ['--config', config, 'serve'], {
    stdio: ['ignore', 'ignore', serverLog],
  });
  let browser;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tresor-chromium-'));
  try {
    await waitForPort(web, server);
    await waitForPort(lmtp, server);
    const d = run('python3', [mailPy, 'deliver', String(lmtp), EMAIL, 'before the change', MARKER]);
    if (d.status !== 0) fail(`LMTP delivery: ${d.stderr}`);
    log('delivered a message over LMTP');

    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      acceptDownloads: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const problems = [];
    page.on('console', (m) => {
      // Error pages answer 4xx on purpose; anything else (a CSP violation) is a failure.
      const expected = /Failed to load resource: the server responded with a status of 4\d\d/;
      if (m.type() === 'error' && !expected.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    const base = `http://127.0.0.1:${web}`;

    // Log in.
    await page.goto(`${base}/`);
    expect(page.url() === `${base}/login`, `/ should lead to /login, got ${page.url()}`);
    await shot(page, 'login');
    await page.getByLabel('Mail address').fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    expect((await message(page)) === 'The mail address or password is wrong.',
      `wrong password message: ${await message(page)}`);
    await shot(page, 'login-wrong-password');
    await page.getByLabel('Password', { exact: true }).fill(OLD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/status`);
    const encryption = await page.locator('#encryption').textContent();
    expect(encryption.startsWith('on'), `encryption: ${encryption}`);
    expect((await page.locator('table code').count()) === 1, 'one key fingerprint');
    await shot(page, 'status');
    log('logged in; status page shows encryption on and one key');

    // Change the password: a mismatched confirmation first.
    await page.getByRole('link', { name: 'Change your password' }).click();
    await page.getByLabel('Current password').fill(OLD);
    await page.getByLabel('New password', { exact: true }).fill(NEW);
    await page.getByLabel('New password again').fill('something else');
    await page.getByRole('button', { name: 'Change password' }).click();
    expect((await message(page)).startsWith('The new passwords do not match'),
      `mismatch message: ${await message(page)}`);
    await shot(page, 'password-mismatch');
    await page.getByLabel('Current password').fill(OLD);
    await page.getByLabel('New password', { exact: true }).fill(NEW);
    await page.getByLabel('New password again').fill(NEW);
    await page.getByRole('button', { name: 'Change password' }).click();
    expect((await message(page)).startsWith('Your password was changed'),
      `change message: ${await message(page)}`);
    await shot(page, 'password-changed');
    log('password changed in the browser');

    // IMAP: the old password is refused, the new one reads the message from before.
    expect(imapRead(imap, OLD) === null, 'IMAP still takes the old password');
    const mail = imapRead(imap, NEW);
    expect(mail !== null && mail.includes(MARKER), `IMAP with the new password: ${mail}`);
    log('IMAP login with the new password reads the message delivered before the change');

    // A recovery code, shown once and downloaded.
    await page.getByRole('link', { name: 'Make a recovery code' }).click();
    await page.getByLabel('Your password').fill(NEW);
    await page.getByRole('button', { name: 'Make a recovery code' }).click();
    const code = (await page.locator('#recovery-code').textContent()).trim();
    expect(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){5}$/.test(code), `recovery code: ${code}`);
    await shot(page, 'recovery-code');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download as a text file' }).click(),
    ]);
    const file = path.join(outDir, download.suggestedFilename());
    await download.saveAs(file);
    expect(fs.readFileSync(file, 'utf8').includes(code), 'the downloaded file holds the code');
    expect(!page.url().includes(code), 'the code is not in the URL');
    log('recovery code made and downloaded as', download.suggestedFilename());
    await page.goto(`${base}/status`);
    expect((await page.locator('#recovery-codes').textContent()).startsWith('1 unused'),
      'status counts the code');

    // Log out, reset the password with the code, log in again.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.getByRole('link', { name: 'Forgot password' }).click();
    await page.getByLabel('Mail address').fill(EMAIL);
    await page.getByLabel('Recovery code').fill(code);
    await page.getByLabel('New password', { exact: true }).fill(RESET);
    await page.getByLabel('New password again').fill(RESET);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    expect((await message(page)).startsWith('Your new password is set'),
      `reset message: ${await message(page)}`);
    await shot(page, 'reset-done');
    await page.getByLabel('Password', { exact: true }).fill(RESET);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/status`);
    await shot(page, 'logged-in-after-reset');
    const after = imapRead(imap, RESET);
    expect(after !== null && after.includes(MARKER), 'IMAP with the reset password');
    log('reset with the recovery code; logged in again; IMAP reads the old message');

    expect(problems.length === 0, `browser console errors: ${problems.join('\n')}`);
  } finally {
    if (browser) await browser.close();
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
    fs.closeSync(serverLog);
    fs.rmSync(userDataDir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const serveLog = fs.readFileSync(path.join(outDir, 'tresor-serve.log'), 'utf8');
  for (const secret of [OLD, NEW, RESET]) {
    expect(!serveLog.includes(secret), `a password is in the server log`);
  }
  log('PASS');
}

main().catch((e) => {
  console.error('[browser-test] FAIL:', e.message ?? e);
  process.exit(1);
});
