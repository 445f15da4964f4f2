#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node run.mjs --profile DIR`, which runs the bridge under
// node --cpu-prof): the functions with the most self time, and self time grouped by package, so that
// "where does the bridge spend a call" has an answer before anyone optimises.
// Usage: node cpuprofile-top.mjs FILE.cpuprofile [N=25]
import { readFileSync } from 'node:fs';

const [file, top = '25'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node cpuprofile-top.mjs FILE.cpuprofile [N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

// Self time per node: each sample is charged the time delta that follows it.
const self = new Map();
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
});
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = ({ url, lineNumber }) => {
  if (!url) return '';
  const short = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '');
  return `${short}:${lineNumber + 1}`;
};
// Which package (or node internals, or our dist/) a frame belongs to.
const packageOf = ({ url, functionName }) => {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/')) return 'mcp-bridge dist/' + url.split('/dist/')[1].split('/')[0];
  return url;
};

const fns = new Map();
const pkgs = new Map();
for (const [id, us] of self) {
  const { callFrame } = byId.get(id);
  const key = `${callFrame.functionName || '(anonymous)'} ${where(callFrame)}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const pkg = packageOf(callFrame);
  pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
}

const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n\nTop self time by function:`);
for (const [key, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${pct(us)} ${ms(us)}  ${key}`);
}
console.log('\nSelf time by package:');
for (const [key, us] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(us)} ${ms(us)}  ${key}`);
