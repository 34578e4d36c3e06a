// Sets up a fresh demo database with the release or debug binary, starts the server on
// a free port, and leaves the logins and a device token for the tests in state.json.
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

function binary() {
  if (process.env.PEAKEND_BIN) return process.env.PEAKEND_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  for (const p of ['debug', 'release']) {
    const bin = path.join(target, p, 'peakend');
    if (fs.existsSync(bin)) return bin;
  }
  throw new Error('no peakend binary: run `cargo build` first (or set PEAKEND_BIN)');
}

module.exports = async () => {
  const bin = binary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peakend-e2e-'));
  const db = path.join(dir, 'demo.db');
  const run = (...args) => execFileSync(bin, ['--db', db, ...args], { encoding: 'utf8' });
  const out = run('demo', '--no-serve');
  const logins = {};
  for (const m of out.matchAll(/^\s+(\S+)\s+(\S+)\s+\S+ \(.*\) at (\S+)$/gm)) {
    logins[m[1]] = { password: m[2], org: m[3] };
  }
  if (!logins.manager || !logins.admin) throw new Error('the demo printed no logins:\n' + out);
  const token = run('token', 'create', '--hall', logins.manager.org).trim();
  const url = process.env.PEAKEND_E2E_URL || 'http://127.0.0.1:18080';
  const addr = url.replace('http://', '');
  const server = spawn(bin, ['--db', db, 'serve', '--addr', addr], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 30 s')), 30_000);
    server.stderr.on('data', (d) => { if (String(d).includes('serving http://')) { clearTimeout(timer); resolve(); } });
    server.on('exit', (code) => reject(new Error('the server exited with ' + code)));
  });
  server.stderr.resume();
  fs.mkdirSync(path.join(__dirname, 'artifacts'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'artifacts', 'state.json'),
    JSON.stringify({ pid: server.pid, dir, logins, token, hall: logins.manager.org }, null, 2));
};
