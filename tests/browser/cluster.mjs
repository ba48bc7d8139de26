// A three-node Starling cluster behind a real NGINX, for the browser tests and the client
// benchmarks: its own PostgreSQL database, free ports, temp dirs; nothing on the fixed dev ports.
// Each node runs in a UTS namespace of its own with hostname node-N (as root), so the hostname
// the websocket's hello reports tells the nodes apart, as on separate machines.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, createWriteStream, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PG = (process.env.STARLING_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');
const BOOT_TIMEOUT_MS = 60_000;

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function psql(sql) {
  const r = spawnSync('psql', ['-w', '-d', `${PG}/postgres`, '-qAtc', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function portIsFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

const taken = new Set();
/** A port below the ephemeral range (so no outbound connection takes it meanwhile) that is free now. */
export async function freePort() {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!taken.has(port) && (await portIsFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port');
}

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function nginxBinary() {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p;
  return 'nginx';
}

export class Cluster {
  constructor(opts = {}) {
    this.size = opts.nodes ?? 3;
    this.bin = opts.bin ?? process.env.STARLING_BIN ?? path.join(ROOT, 'target/debug/starling');
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'starling-browser-'));
    this.db = `starling_browser_${process.pid}_${Date.now().toString(36)}`;
    this.nodes = [];
    this.nginx = null;
    this.url = '';
    this.env = opts.env ?? {};
  }

  async start() {
    psql(`CREATE DATABASE "${this.db}"`);
    const files = path.join(this.dir, 'files');
    mkdirSync(files, { recursive: true });
    const cluster = `browser-${process.pid}`;
    this.lbPort = await freePort();
    this.url = `http://127.0.0.1:${this.lbPort}`;
    for (let i = 1; i <= this.size; i++) {
      const dir = path.join(this.dir, `node-${i}`);
      mkdirSync(dir, { recursive: true });
      const node = {
        name: `node-${i}`,
        dir,
        http: await freePort(),
        gossip: await freePort(),
        metrics: await freePort(),
        proc: null,
      };
      node.env = {
        ...process.env,
        MM_SQLSETTINGS_DATASOURCE: `${PG}/${this.db}?sslmode=disable`,
        MM_SQLSETTINGS_MAXOPENCONNS: '20',
        MM_SERVICESETTINGS_LISTENADDRESS: `127.0.0.1:${node.http}`,
        MM_SERVICESETTINGS_SITEURL: this.url,
        MM_METRICSSETTINGS_ENABLE: 'false',
        MM_METRICSSETTINGS_LISTENADDRESS: `127.0.0.1:${node.metrics}`,
        MM_CLUSTERSETTINGS_ENABLE: 'true',
        MM_CLUSTERSETTINGS_CLUSTERNAME: cluster,
        MM_CLUSTERSETTINGS_GOSSIPPORT: String(node.gossip),
        MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME: '127.0.0.1',
        MM_CLUSTERSETTINGS_BINDADDRESS: '127.0.0.1',
        MM_FILESETTINGS_DIRECTORY: files,
        MM_PLUGINSETTINGS_DIRECTORY: `${dir}/plugins`,
        MM_LOGSETTINGS_ENABLECONSOLE: 'true',
        MM_LOGSETTINGS_CONSOLELEVEL: 'INFO',
        MM_LOGSETTINGS_FILELOCATION: dir,
        MM_TEAMSETTINGS_ENABLEOPENSERVER: 'true',
        ...this.env,
      };
      this.nodes.push(node);
      this.startNode(node);
    }
    for (const n of this.nodes) await this.waitReady(n);
    await this.startNginx();
    return this;
  }

  /** Start (or restart) a node, in a UTS namespace with its own hostname when we are root. */
  startNode(node) {
    const out = createWriteStream(path.join(node.dir, 'console.log'), { flags: 'a' });
    const args = ['serve', '--config', path.join(node.dir, 'config.json')];
    const isRoot = process.getuid?.() === 0;
    const proc = isRoot
      ? spawn('unshare', ['--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', node.name, this.bin, ...args], { env: node.env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(this.bin, args, { env: node.env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pipe(out);
    proc.stderr.pipe(out);
    node.proc = proc;
    node.hostname = isRoot ? node.name : os.hostname();
  }

  async waitReady(node) {
    await waitFor(
      `${node.name} to answer ping`,
      async () => {
        if (!alive(node.proc.pid)) throw new Error(`${node.name} exited:\n${this.logTail(node)}`);
        const r = await fetch(`http://127.0.0.1:${node.http}/api/v4/system/ping`);
        return r.ok;
      },
      BOOT_TIMEOUT_MS,
    ).catch((e) => {
      throw new Error(`${e.message}\n${this.logTail(node)}`);
    });
  }

  logTail(node) {
    try {
      return readFileSync(path.join(node.dir, 'console.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  async startNginx() {
    const dir = path.join(this.dir, 'nginx');
    mkdirSync(path.join(dir, 'tmp'), { recursive: true });
    const upstreams = this.nodes.map((n) => `server 127.0.0.1:${n.http} max_fails=1 fail_timeout=5s;`).join('\n        ');
    const conf = readFileSync(path.join(ROOT, 'deploy/nginx/starling.conf.template'), 'utf8')
      .replaceAll('@@PREFIX@@', dir)
      .replace('@@LISTEN@@', `127.0.0.1:${this.lbPort}`)
      .replace('@@UPSTREAMS@@', upstreams);
    writeFileSync(path.join(dir, 'nginx.conf'), conf);
    this.nginx = spawn(nginxBinary(), ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    await waitFor('NGINX', async () => (await fetch(`${this.url}/api/v4/system/ping`)).ok, 15_000);
  }

  nodeByHostname(hostname) {
    return this.nodes.find((n) => n.hostname === hostname);
  }

  /** SIGKILL a node: no goodbye to its peers, its websockets just drop. */
  kill9(node) {
    if (node.proc && alive(node.proc.pid)) node.proc.kill('SIGKILL');
  }

  async restart(node) {
    this.kill9(node);
    await waitFor(`${node.name} to exit`, async () => !alive(node.proc.pid), 10_000);
    this.startNode(node);
    await this.waitReady(node);
  }

  async stop() {
    for (const n of this.nodes) {
      if (n.proc && alive(n.proc.pid)) n.proc.kill('SIGTERM');
    }
    if (this.nginx && alive(this.nginx.pid)) this.nginx.kill('SIGTERM');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && [...this.nodes.map((n) => n.proc), this.nginx].some((p) => p && alive(p.pid))) await sleep(100);
    for (const p of [...this.nodes.map((n) => n.proc), this.nginx]) if (p && alive(p.pid)) p.kill('SIGKILL');
    try {
      psql(`DROP DATABASE IF EXISTS "${this.db}" WITH (FORCE)`);
    } catch (e) {
      console.error(`could not drop database ${this.db}: ${e.message}`);
    }
  }
}
