#!/usr/bin/env node
// Benchmark harness: mcp-bridge against `direct` stdio (the limit) and two peer gateways, on two
// backends. Prints one markdown table. A benchmark, not a test: nothing here passes or fails.
//
//   node run.mjs [--quick] [--backends echo,everything] [--drivers bridge,bridge-pool,bridge-shared,floor,direct,supergateway,mcp-proxy]
//                [--phases sessions,latency,throughput,memory,vanish] [--calls N] [--sessions N]
//                [--duration S] [--concurrency N] [--memory-sessions N] [--vanish-clients N]
//                [--vanish-wait S] [--client sdk|raw] [--bridge-arg=ARG ...] [--profile DIR] [--json FILE]
//
// --client raw swaps the SDK client for raw-client.mjs (node:http, no GET stream) in every phase but
// vanish, to see the servers' side of the latency without the SDK's fetch-based client cost.
// --bridge-arg=ARG (repeatable) adds a bridge CLI option, e.g. --bridge-arg=--no-resume.
// --profile DIR runs the bridge under node --cpu-prof (see cpuprofile-top.mjs).
// Progress goes to stderr, the report to stdout. Gateways' stderr goes to log files under /tmp.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { backends, drivers } from './drivers.mjs';
import { callLatency, memory, newResults, sessionSetup, throughput, vanish } from './measure.mjs';
import { descendants, ProcessJanitor } from './procs.mjs';
import { figures, LEGEND, markdownTable } from './table.mjs';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backends: { type: 'string', default: 'echo,everything' },
    drivers: { type: 'string', default: 'bridge,bridge-pool,bridge-shared,floor,direct,supergateway,mcp-proxy' },
    phases: { type: 'string', default: 'sessions,latency,throughput,memory,vanish' },
    calls: { type: 'string' },
    sessions: { type: 'string' },
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    'memory-sessions': { type: 'string' },
    'vanish-clients': { type: 'string' },
    'vanish-wait': { type: 'string' },
    profile: { type: 'string' },
    json: { type: 'string' },
    client: { type: 'string', default: 'sdk' },
    'bridge-arg': { type: 'string', multiple: true, default: [] },
  },
});

// Full counts follow the issue (≥ 2000 calls, 10 sessions, 50 open sessions, 10 vanishing clients,
// 5 s); quick keeps every phase but shrinks the counts so a run takes well under a minute.
const preset = opts.quick
  ? { sessions: 3, calls: 100, duration: 0.5, concurrency: 10, memorySessions: 3, vanishClients: 3, vanishWait: 2 }
  : { sessions: 50, calls: 2000, duration: 5, concurrency: 10, memorySessions: 50, vanishClients: 10, vanishWait: 5 };
const int = (v, fallback) => (v === undefined ? fallback : Number(v));
const config = {
  sessions: int(opts.sessions, preset.sessions),
  calls: int(opts.calls, preset.calls),
  duration: int(opts.duration, preset.duration),
  concurrency: int(opts.concurrency, preset.concurrency),
  memorySessions: int(opts['memory-sessions'], preset.memorySessions),
  vanishClients: int(opts['vanish-clients'], preset.vanishClients),
  vanishWait: int(opts['vanish-wait'], preset.vanishWait),
};
const roundMs = opts.quick ? 500 : 1000; // throughput is measured in interleaved rounds of this length
const phases = new Set(opts.phases.split(','));
const chosenBackends = opts.backends.split(',').map((n) => backends[n] ?? fail(`unknown backend ${n}`));
const chosenDrivers = opts.drivers.split(',').map((n) => drivers[n] ?? fail(`unknown driver ${n}`));

function fail(message) {
  console.error(message);
  process.exit(2);
}

const progress = (message) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}\n`);
const t0 = performance.now();

// Whatever we started is stopped however we leave: normal end, error, Ctrl-C or SIGTERM.
const janitor = new ProcessJanitor();
let stopping = false;
async function abort(reason, code) {
  if (stopping) return;
  stopping = true;
  console.error(`\n${reason}: stopping everything the benchmark started…`);
  const killed = await janitor.stopAll(3000);
  if (killed) console.error(`${killed} process(es) needed SIGKILL`);
  process.exit(code);
}
process.on('SIGINT', () => abort('interrupted', 130));
process.on('SIGTERM', () => abort('terminated', 143));
process.on('uncaughtException', (e) => abort(`error: ${e.stack ?? e}`, 1));
process.on('unhandledRejection', (e) => abort(`error: ${e?.stack ?? e}`, 1));
process.on('exit', () => janitor.killAllNow());

const loadAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const logDir = mkdtempSync(join(tmpdir(), 'mcp-bridge-bench-'));
const ctx = { janitor, logDir, profileDir: opts.profile, client: opts.client, bridgeArgs: opts['bridge-arg'] };
if (!['sdk', 'raw'].includes(opts.client)) fail(`--client is sdk or raw`);
const byBackend = {};
const raw = {};
const notes = [];

for (const backend of chosenBackends) {
  progress(`${backend.name}: starting ${chosenDrivers.map((d) => d.name).join(', ')}`);
  // Started together (they are idle until measured), kept in the order given for the interleaving.
  const started = await Promise.all(
    chosenDrivers.map(async (driver) => {
      try {
        const inst = await driver.start(backend, ctx);
        inst.kind = driver.kind;
        // Processes a gateway keeps with no session (mcp-bridge: its orphan guard; mcp-proxy: the
        // shared child): "settled" and "children left" are counted against this.
        inst.idleProcesses = (inst.root ? descendants(inst.root).length : 0) + (inst.keptChildren ?? 0);
        return { inst, note: `listening ${inst.listen}, ${inst.idleProcesses} idle process(es) below it` };
      } catch (e) {
        progress(`${driver.name} did not start: ${e.message}`);
        return { inst: null, note: `did not start: ${e.message}` };
      }
    }),
  );
  started.forEach(({ note }, i) => notes.push(`${backend.name}/${chosenDrivers[i].name}: ${note}`));
  const instances = started.map(({ inst }) => inst).filter(Boolean);
  const results = newResults(instances);
  const step = async (name, fn) => {
    if (!phases.has(name)) return;
    progress(`${backend.name}: ${name}`);
    await fn();
    janitor.snapshot();
  };
  await step('sessions', () =>
    sessionSetup(instances, results, { samples: config.sessions, block: 5, warmup: opts.quick ? 0 : 3 }),
  );
  await step('latency', () =>
    callLatency(instances, results, { calls: config.calls, block: opts.quick ? 50 : 100, warmup: opts.quick ? 30 : 200 }),
  );
  await step('throughput', () =>
    throughput(instances, results, {
      concurrency: config.concurrency,
      rounds: Math.max(1, Math.round((config.duration * 1000) / roundMs)),
      roundMs,
      warmupMs: opts.quick ? 200 : 500,
    }),
  );
  await step('memory', () =>
    memory(instances, results, { sessions: config.memorySessions, settleMs: opts.quick ? 300 : 1000 }),
  );
  await step('vanish', () =>
    vanish(instances, results, { clients: config.vanishClients, waitMs: config.vanishWait * 1000, janitor }),
  );
  progress(`${backend.name}: stopping drivers`);
  // In parallel: a gateway that waits out its graceful-shutdown timer should not hold up the others.
  await Promise.all(
    instances.map(async (inst) => {
      const killed = await inst.stop();
      if (killed) notes.push(`${backend.name}/${inst.name}: ${killed} process(es) needed SIGKILL at shutdown`);
    }),
  );
  byBackend[backend.name] = Object.fromEntries(instances.map((i) => [i.name, figures(i.kind, results[i.name])]));
  raw[backend.name] = results;
  for (const inst of instances) {
    const f = byBackend[backend.name][inst.name];
    if (Number.isFinite(f.clientCpuUs)) {
      notes.push(`${backend.name}/${inst.name}: the harness's own client CPU per call (throughput phase): ${f.clientCpuUs.toFixed(0)} µs`);
    }
    for (const [message, count] of results[inst.name].errors.counts) {
      notes.push(`${backend.name}/${inst.name}: ${count}× ${message}`);
    }
  }
}
const leftovers = await janitor.stopAll(3000);
if (leftovers) notes.push(`${leftovers} process(es) were still running at the end and were killed`);

const seconds = (performance.now() - t0) / 1000;
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpus()[0]?.model;
console.log(`
## mcp-bridge benchmark${opts.quick ? ' (quick)' : ''}${opts.client === 'raw' ? ', raw client' : ''}

${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · node ${process.version} · ${cpus().length} × ${cpu} · run took ${seconds.toFixed(0)} s · load average ${loadAtStart} at start, ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} at end
${ctx.bridgeArgs.length ? `Bridge run with ${ctx.bridgeArgs.join(' ')}.\n` : ''}Per driver and backend: ${config.sessions} new sessions (blocks of 5); ${config.calls} sequential tools/call on one session (blocks of ${opts.quick ? 50 : 100}, after a warm-up); ${config.concurrency} sessions in closed loops for ${config.duration} s (rounds of ${roundMs} ms); ${config.memorySessions} sessions held open for memory; ${config.vanishClients} clients SIGKILLed without DELETE, children counted ${config.vanishWait} s later. Drivers interleaved in that order within each backend.

${markdownTable(byBackend, config.concurrency)}

${LEGEND}

Notes:
${notes.map((n) => `- ${n}`).join('\n')}
- gateway logs: ${logDir}
`);
if (opts.json) {
  const errors = (r) => Object.fromEntries(r.errors.counts);
  const plain = Object.fromEntries(
    Object.entries(raw).map(([b, rs]) => [b, Object.fromEntries(Object.entries(rs).map(([d, r]) => [d, { ...r, errors: errors(r) }]))]),
  );
  writeFileSync(opts.json, JSON.stringify({ config, figures: byBackend, raw: plain, seconds }, null, 1));
}
process.exit(0);
