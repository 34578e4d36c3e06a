const fs = require('fs');
const path = require('path');

module.exports = async () => {
  const file = path.join(__dirname, 'artifacts', 'state.json');
  if (!fs.existsSync(file)) return;
  const state = JSON.parse(fs.readFileSync(file, 'utf8'));
  try { process.kill(state.pid, 'SIGTERM'); } catch (e) { /* already gone */ }
  fs.rmSync(state.dir, { recursive: true, force: true });
};
