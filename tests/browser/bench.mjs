// benchmarks.md targets 14 and 15 for the web client, on loopback against three nodes behind
// NGINX (release build if there is one):
//   14: gzipped JavaScript shipped (webapp/dist), and time to an interactive channel view: from
//       navigation start of a deep link until the channel's latest posts are on screen, the post
//       box is there and the websocket has said hello (cold: a new browser context, no cache;
//       warm: a reload).
//   15: after the node a browser's websocket is on is SIGKILLed while another user posts, time
//       from the kill until every post made meanwhile is on that browser's screen (no reload),
//       and how many were lost or shown twice. The killed node is restarted between rounds.
// Run: node tests/browser/bench.mjs   (BENCH_LOADS, BENCH_KILLS, BENCH_POSTS, BENCH_JSON)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, sleep } from './cluster.mjs';
import { PASSWORD, launch, waitUntil, wsNode } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOADS = Number(process.env.BENCH_LOADS ?? 20);
const KILLS = Number(process.env.BENCH_KILLS ?? 20);
const POSTS = Number(process.env.BENCH_POSTS ?? 10);
const HISTORY = 200;
/** deploy/nginx/starling.conf.template: max_fails=1 fail_timeout=5s */
const NGINX_FAIL_TIMEOUT_MS = 5000;

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(0)} / p99 ${pct(xs, 99).toFixed(0)} / max ${Math.max(...xs).toFixed(0)} ms (n=${xs.length})`;

function gzippedJs() {
  const dir = path.join(ROOT, 'webapp/dist/static');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .reduce((n, f) => n + gzipSync(readFileSync(path.join(dir, f)), { level: 9 }).length, 0);
}

async function api(base, method, route, token, body) {
  const r = await fetch(`${base}/api/v4${route}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${text}`);
  return { json: text ? JSON.parse(text) : null, headers: r.headers };
}

async function userWithToken(base, name) {
  await api(base, 'POST', '/users', null, { email: `${name}@example.com`, username: name, password: PASSWORD });
  const r = await api(base, 'POST', '/users/login', null, { login_id: name, password: PASSWORD });
  return { id: r.json.id, token: r.headers.get('token') };
}

const bin = process.env.STARLING_BIN ?? (() => {
  try {
    readFileSync(path.join(ROOT, 'target/release/starling'));
    return path.join(ROOT, 'target/release/starling');
  } catch {
    return path.join(ROOT, 'target/debug/starling');
  }
})();

const cluster = new Cluster({ bin });
const report = { machine: `${os.cpus().length} vCPU, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`, bin: path.relative(ROOT, bin) };
let browser;
try {
  await cluster.start();
  const base = cluster.url;
  const a = await userWithToken(base, 'benchalice');
  const b = await userWithToken(base, 'benchbob');
  const team = (await api(base, 'POST', '/teams', a.token, { name: 'bench', display_name: 'Bench', type: 'O' })).json;
  await api(base, 'POST', `/teams/${team.id}/members`, a.token, { team_id: team.id, user_id: b.id });
  const channel = (await api(base, 'POST', '/channels', a.token, { team_id: team.id, name: 'bench-room', display_name: 'Bench Room', type: 'O' })).json;
  await api(base, 'POST', `/channels/${channel.id}/members`, a.token, { user_id: b.id });
  for (let i = 0; i < HISTORY; i++) {
    await api(base, 'POST', '/posts', i % 2 ? a.token : b.token, { channel_id: channel.id, message: `history ${i}: **some** text with a [link](http://example.com) and \`code\`` });
  }
  const deepLink = `${base}/bench/channels/bench-room`;
  browser = await launch();

  // Log Alice in once through the page (cookies + CSRF as the app does) and keep the cookies.
  const first = await browser.newContext();
  const login = await first.newPage();
  await login.goto(`${base}/login`);
  await login.getByLabel('Email or username').fill('benchalice');
  await login.getByLabel('Password').fill(PASSWORD);
  await login.getByRole('button', { name: 'Log in' }).click();
  await login.getByTestId('post-box').waitFor();
  const storage = await first.storageState();
  await first.close();

  const interactive = () =>
    document.querySelectorAll('[data-testid=post]').length >= 30 &&
    !!document.querySelector('[data-testid=post-box]') &&
    (document.querySelector('[data-testid=ws-node]')?.textContent ?? '').includes('node:');

  // ---- target 14
  const cold = [];
  const warm = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await browser.newContext({ storageState: storage });
    const page = await ctx.newPage();
    await page.goto(deepLink);
    await page.waitForFunction(interactive, null, { timeout: 20_000, polling: 'raf' });
    cold.push(await page.evaluate(() => performance.now()));
    if (process.env.BENCH_TRACE && i === LOADS - 1) {
      const trace = await page.evaluate(() =>
        performance.getEntriesByType('resource').map((e) => `${e.startTime.toFixed(0)}-${e.responseEnd.toFixed(0)} ms ${e.name.replace(location.origin, '')}`),
      );
      const started = await page.evaluate(() => performance.getEntriesByName('starling:start')[0]?.startTime ?? NaN);
      console.log(`  last cold load: bundle running at ${started.toFixed(0)} ms; requests:\n    ${trace.join('\n    ')}`);
    }
    await page.reload();
    await page.waitForFunction(interactive, null, { timeout: 20_000, polling: 'raf' });
    warm.push(await page.evaluate(() => performance.now()));
    await ctx.close();
  }
  report.target14 = { gzipped_js_bytes: gzippedJs(), cold_ms: cold, warm_ms: warm };
  console.log(`target 14: ${(gzippedJs() / 1024).toFixed(1)} KiB of gzipped JavaScript; interactive channel view cold ${fmt(cold)}, warm ${fmt(warm)}`);

  // ---- target 15
  const ctx = await browser.newContext({ storageState: storage });
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(deepLink);
  await page.waitForFunction(interactive, null, { timeout: 20_000 });
  await page.evaluate(() => {
    window.__seen = {};
    window.__sameDocument = true;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-testid=post] .post__message')) {
        const t = el.textContent.trim();
        if (t.startsWith('kill') && !window.__seen[t]) window.__seen[t] = Date.now();
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  const rounds = [];
  let lost = 0;
  let twice = 0;
  let retries = 0;
  for (let k = 0; k < KILLS; k++) {
    const nodeName = await wsNode(page);
    const victim = cluster.nodeByHostname(nodeName);
    const killedAt = Date.now();
    cluster.kill9(victim);
    const texts = [];
    for (let i = 0; i < POSTS; i++) {
      const text = `kill${k}-${i}`;
      texts.push(text);
      // As the web client's outbox does: NGINX does not repeat a POST it had sent to the node
      // that died (502), so the poster sends it again with the same pending_post_id.
      const body = { channel_id: channel.id, message: text, pending_post_id: `${b.id.slice(0, 16)}${String(k * 1000 + i).padStart(10, '0')}` };
      for (let attempt = 0; ; attempt++) {
        try {
          await api(base, 'POST', '/posts', b.token, body);
          break;
        } catch (e) {
          if (attempt >= 5 || !/: 50[234] /.test(e.message)) throw e;
          retries += 1;
          await sleep(100);
        }
      }
    }
    try {
      await waitUntil('every post on screen', async () => page.evaluate((ts) => ts.every((t) => window.__seen[t]), texts), 20_000, 20);
    } catch {
      // counted as lost below
    }
    const seen = await page.evaluate((ts) => ts.map((t) => window.__seen[t] ?? 0), texts);
    const missing = seen.filter((s) => !s).length;
    lost += missing;
    await sleep(300);
    for (const t of texts) {
      const n = await page.locator('[data-testid=post] .post__message', { hasText: new RegExp(`^${t}$`) }).count();
      if (n > 1) twice += n - 1;
    }
    const allMs = Math.max(...seen) - killedAt;
    if (!missing) rounds.push(allMs);
    console.log(`  kill ${k + 1}/${KILLS}: ${nodeName} killed, ${POSTS - missing}/${POSTS} posts on screen ${missing ? '(some never)' : `${allMs} ms after the kill`}, now on ${await wsNode(page).catch(() => '?')}`);
    await cluster.restart(victim);
    // NGINX keeps a failed node out for fail_timeout (5 s): let it come back before the next kill.
    await sleep(NGINX_FAIL_TIMEOUT_MS + 500);
  }
  const reloaded = !(await page.evaluate(() => window.__sameDocument === true));
  report.target15 = { kills: KILLS, posts_per_kill: POSTS, all_on_screen_ms: rounds, lost, shown_twice: twice, poster_retries: retries, reloaded, console_errors: errors };
  console.log(`target 15: every post made meanwhile on screen ${fmt(rounds)} after the kill; ${lost} lost, ${twice} shown twice of ${KILLS * POSTS} (the poster re-sent ${retries} after a 502); page reloaded: ${reloaded}; console errors: ${errors.length}`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(report, null, 2));
} finally {
  await browser?.close().catch(() => undefined);
  await cluster.stop();
}
console.log(`machine: ${report.machine}; binary: ${report.bin}; command: node tests/browser/bench.mjs (BENCH_LOADS=${LOADS} BENCH_KILLS=${KILLS} BENCH_POSTS=${POSTS})`);
