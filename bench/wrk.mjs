#!/usr/bin/env node
// The HTTP side's own cost, with wrk (a C load generator, so the client costs little) driving tools/call
// on MCP sessions: the bridge against `floor` (node:http and a pipe, nothing else), the peers, and an
// older build of the bridge as the baseline, all in front of the same lean echo server, interleaved in
// rounds within one run. Prints a markdown table and the goals as ratios. A benchmark, not a test.
//
//   node wrk.mjs [--quick] [--duration S] [--rounds N] [--baseline-ref REF] [--drivers a,b,…] [--json FILE]
//
// Needs wrk on PATH (Debian: apt-get install wrk). --baseline-ref (default: the commit before the bridge
// owned its HTTP core) is built once into a temporary folder from this repository's history.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backends, bridgeDriver, drivers } from './drivers.mjs';
import { cpuMsOf, ProcessJanitor } from './procs.mjs';
import { LeanHttp } from './lean-http.mjs';
import { connectRawHttp } from './raw-client.mjs';
import { quantile } from './stats.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..');
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    'baseline-ref': { type: 'string', default: '3e70531' },
    drivers: { type: 'string', default: 'floor,bridge,bridge-shared,bridge-pool,baseline,baseline-shared,supergateway,mcp-proxy' },
    json: { type: 'string' },
  },
});
const seconds = Number(opts.duration ?? (opts.quick ? 2 : 5));
const rounds = Number(opts.rounds ?? (opts.quick ? 1 : 3));
const SESSIONS = 10;
const NEW_SESSION_SAMPLES = opts.quick ? 16 : 40;
const progress = (message) => process.stderr.write(`[wrk ${((performance.now() - t0) / 1000).toFixed(0)}s] ${message}\n`);
const t0 = performance.now();

/** An older build of the bridge, from this repository's history, built once. */
function baselineBuild(ref) {
  const commit = execFileSync('git', ['-C', repo, 'rev-parse', '--short', ref], { encoding: 'utf8' }).trim();
  const dir = join(tmpdir(), `mcp-bridge-baseline-${commit}`);
  if (!existsSync(join(dir, 'dist', 'cli', 'main.js'))) {
    progress(`building the baseline ${commit} in ${dir}`);
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git -C '${repo}' archive ${commit} | tar -x -C '${dir}'`]);
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  }
  return { dir, commit };
}

const wanted = opts.drivers.split(',');
const baseline = wanted.some((name) => name.startsWith('baseline')) ? baselineBuild(opts['baseline-ref']) : undefined;
const all = {
  ...drivers,
  ...(baseline && {
    baseline: bridgeDriver('baseline', [], baseline.dir),
    'baseline-shared': bridgeDriver('baseline-shared', ['--shared'], baseline.dir),
  }),
};

/** One wrk run over these sessions (one connection and thread each); returns calls, seconds, errors, latencies, and the server's CPU. */
async function wrk(inst, sessionIds) {
  const before = cpuMsOf(inst.roots ?? [inst.root]);
  const args = ['-t', String(sessionIds.length), '-c', String(sessionIds.length), '-d', `${seconds}s`, '--latency', '-s', join(here, 'wrk-call.lua'), inst.url];
  const out = await new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { env: { ...process.env, MCP_SESSIONS: sessionIds.join(',') }, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const cpuMs = cpuMsOf(inst.roots ?? [inst.root]) - before;
  const result = /RESULT requests=(\d+) seconds=([\d.]+) errors=(\d+) p50us=(\d+) p99us=(\d+)/.exec(out);
  if (!result) throw new Error(`no RESULT line from wrk: ${out}`);
  const [requests, duration, errors, p50us, p99us] = result.slice(1).map(Number);
  return { requests, perSecond: requests / duration, errors, p50ms: p50us / 1000, p99ms: p99us / 1000, cpuUsPerCall: (cpuMs * 1000) / requests };
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'mcp-bridge-bench-lean', version: '1' } },
});
const INITIALIZED = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
/** Sessions taken back to back, then a pause long enough for a warm pool to refill. */
const BURST = 4;
const REFILL_PAUSE_MS = 500;

/** initialize + notifications/initialized on one keep-alive connection of the lean client, in bursts; then DELETE (untimed). */
async function newSessionP50(inst) {
  const http = await LeanHttp.connect(inst.url);
  const times = [];
  while (times.length < NEW_SESSION_SAMPLES) {
    for (let i = 0; i < BURST; i++) {
      const started = performance.now();
      const init = await http.request('POST', MCP_HEADERS, INITIALIZE);
      const session = init.headers['mcp-session-id'];
      const ack = await http.request('POST', { ...MCP_HEADERS, 'mcp-session-id': session }, INITIALIZED);
      times.push(performance.now() - started);
      if (init.status !== 200 || !init.body.includes('"result"') || ack.status !== 202) throw new Error(`${inst.name}: a new session failed (${init.status}, ${ack.status})`);
      await http.request('DELETE', { 'mcp-session-id': session });
    }
    await new Promise((resolve) => setTimeout(resolve, REFILL_PAUSE_MS));
  }
  http.close();
  return quantile(times, 0.5);
}

const janitor = new ProcessJanitor();
process.on('exit', () => janitor.killAllNow());
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const ctx = { janitor, logDir: tmpdir(), client: 'raw', bridgeArgs: [] };
const backend = backends.echo;
const instances = [];
for (const name of wanted) {
  const driver = all[name];
  if (!driver) throw new Error(`unknown driver ${name}`);
  progress(`starting ${name}`);
  const inst = await driver.start(backend, ctx);
  inst.name = name;
  inst.sessions = [];
  for (let i = 0; i < SESSIONS; i++) inst.sessions.push(await connectRawHttp(inst.sessionUrl ?? inst.url, 15_000));
  inst.ids = inst.sessions.map((s) => s.id);
  instances.push(inst);
}

const samples = Object.fromEntries(instances.map((inst) => [inst.name, { one: [], ten: [], newSession: undefined }]));
for (const inst of instances) {
  progress(`${inst.name}: warming up`);
  await wrk(inst, inst.ids);
}
for (let round = 1; round <= rounds; round++) {
  for (const inst of instances) {
    progress(`round ${round}/${rounds}: ${inst.name}`);
    samples[inst.name].one.push(await wrk(inst, inst.ids.slice(0, 1)));
    samples[inst.name].ten.push(await wrk(inst, inst.ids));
  }
}
for (const inst of instances) {
  if (!['bridge-pool', 'bridge-shared', 'floor', 'mcp-proxy'].includes(inst.name)) continue;
  progress(`${inst.name}: new sessions`);
  samples[inst.name].newSession = await newSessionP50(inst);
}
for (const inst of instances) {
  await Promise.all(inst.sessions.map((s) => s.close()));
  await inst.stop();
}

const median = (values) => quantile(values, 0.5);
const figures = Object.fromEntries(
  Object.entries(samples).map(([name, s]) => [
    name,
    {
      p50ms: median(s.one.map((r) => r.p50ms)),
      p99ms: median(s.one.map((r) => r.p99ms)),
      cpuOne: median(s.one.map((r) => r.cpuUsPerCall)),
      perSecond: median(s.ten.map((r) => r.perSecond)),
      cpuTen: median(s.ten.map((r) => r.cpuUsPerCall)),
      errors: [...s.one, ...s.ten].reduce((sum, r) => sum + r.errors, 0),
      newSession: s.newSession,
    },
  ]),
);
const f = (x, digits = 2) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const ratio = (a, b) => (a === undefined || b === undefined ? undefined : a / b);
const floor = figures.floor;
const peers = ['supergateway', 'mcp-proxy'].filter((name) => figures[name]);
const bestPeer = peers.reduce((best, name) => (!best || figures[name].perSecond > figures[best].perSecond ? name : best), undefined);

const rows = Object.entries(figures).map(
  ([name, x]) =>
    `| ${name} | ${f(x.p50ms, 3)} (${f(ratio(x.p50ms, floor?.p50ms))}×) | ${f(x.p99ms, 3)} | ${f(x.cpuOne, 0)} (${f(ratio(x.cpuOne, floor?.cpuOne))}×) | ${f(x.perSecond, 0)} | ${f(x.cpuTen, 0)} (${f(ratio(x.cpuTen, floor?.cpuTen))}×) | ${f(x.newSession, 2)} | ${x.errors} |`,
);
const goal = (label, value, target, better) => `| ${label} | ${f(value)} | ${better === 'low' ? '≤' : '≥'} ${target} | ${value === undefined ? '–' : (better === 'low' ? value <= target : value >= target) ? 'met' : 'not met'} |`;
const b = figures.bridge;
const shared = figures['bridge-shared'];
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const report = `
## mcp-bridge under wrk

${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · node ${process.version} · ${cpus().length} × ${cpus()[0]?.model} · load average ${load} at the end · ${rounds} round(s) of ${seconds} s per figure, drivers interleaved; medians of the rounds. Backend: bench/echo-server.mjs. Baseline: ${baseline ? `the bridge at ${baseline.commit}` : 'not run'}.

| driver | tools/call p50 ms, 1 connection (× floor) | p99 ms | server CPU µs/call, 1 connection (× floor) | calls/s, ${SESSIONS} sessions | server CPU µs/call, ${SESSIONS} sessions (× floor) | new session p50 ms (lean client) | errors |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

| goal | ratio | target | |
|---|---:|---:|---|
${[
  goal('bridge tools/call p50 × floor', ratio(b?.p50ms, floor?.p50ms), 2, 'low'),
  goal('bridge CPU per call × floor (10 sessions)', ratio(b?.cpuTen, floor?.cpuTen), 3, 'low'),
  goal('bridge calls/s × supergateway --stateful', ratio(b?.perSecond, figures.supergateway?.perSecond), 2.5, 'high'),
  goal(`bridge --shared calls/s × best peer (${bestPeer ?? '–'})`, ratio(shared?.perSecond, bestPeer && figures[bestPeer].perSecond), 2.5, 'high'),
  goal('new session from the warm pool, p50 ms', figures['bridge-pool']?.newSession, 3, 'low'),
].join('\n')}

Server CPU is the gateway process's own (utime + stime from /proc), not its children's. floor is node:http
and a pipe to one child with one-event SSE answers and nothing else (bench/floor-server.mjs).
`;
console.log(report);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ seconds, rounds, figures, samples }, null, 1));
