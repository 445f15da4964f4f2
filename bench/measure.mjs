// The measurements. Each takes the running driver instances of one backend and adds to `results`
// (keyed by driver name). Timed phases interleave the drivers in blocks (A B C D A B C D …) so that
// every driver sees the same machine noise; a failed call or connect is recorded, never retried,
// because a gateway that loses messages is a finding, not something to paper over.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMsOf, descendants, memoryOf, readStat, treeMemory } from './procs.mjs';

const CALL_TIMEOUT_MS = 10_000;
let sequence = 0;

/** One echo tools/call, checked: a reply to someone else's call would be a lost message. */
export async function echoCall(session) {
  const message = `m${++sequence}`;
  const result = await session.client.callTool({ name: 'echo', arguments: { message } }, undefined, {
    timeout: CALL_TIMEOUT_MS,
  });
  const text = result?.content?.[0]?.text;
  if (text !== `Echo: ${message}`) throw new Error(`wrong reply ${JSON.stringify(result).slice(0, 120)}`);
}

/** Failures by message, counted: a gateway failing every call must not fill memory with copies. */
export class ErrorLog {
  counts = new Map();
  push(message) {
    this.counts.set(message, (this.counts.get(message) ?? 0) + 1);
  }
  get total() {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
}

export function newResults(instances) {
  return Object.fromEntries(
    instances.map((i) => [
      i.name,
      {
        session: [],
        call: [],
        throughput: { calls: 0, ms: 0, serverCpuMs: 0, clientCpuMs: 0 },
        memory: null,
        vanish: null,
        errors: new ErrorLog(),
      },
    ]),
  );
}

const errorText = (e) => String(e?.message ?? e).split('\n')[0].slice(0, 160);

/** Open n sessions, `concurrency` at a time; the ones that fail are recorded and left out. */
async function openSessions(inst, n, concurrency, errors, phase) {
  const sessions = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      try {
        sessions.push(await inst.connect());
      } catch (e) {
        errors.push(`${phase}: connect: ${errorText(e)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return sessions;
}

async function closeSessions(sessions) {
  await Promise.all(sessions.map((s) => s.close()));
}

/**
 * After DELETEs, wait until the gateway's tree is back to its idle size, so the next driver's block
 * is not timed while this one is still reaping children. Bounded; lingering is recorded.
 */
async function settle(inst, errors, phase, timeoutMs = 10_000) {
  if (!inst.root) return;
  const deadline = Date.now() + timeoutMs;
  while (descendants(inst.root).length > inst.idleProcesses) {
    if (Date.now() > deadline) {
      errors.push(`${phase}: children still running ${timeoutMs / 1000} s after DELETE`);
      return;
    }
    await sleep(20);
  }
}

/** New-session time: connect() = initialize round trip + notifications/initialized (spawn included). */
export async function sessionSetup(instances, results, { samples, block, warmup }) {
  for (const inst of instances) {
    const { errors } = results[inst.name];
    await closeSessions(await openSessions(inst, warmup, 1, errors, 'session warm-up'));
    await settle(inst, errors, 'session warm-up');
  }
  for (let done = 0; done < samples; done += block) {
    for (const inst of instances) {
      const { session, errors } = results[inst.name];
      const opened = [];
      for (let i = 0; i < Math.min(block, samples - done); i++) {
        const start = performance.now();
        try {
          opened.push(await inst.connect());
          session.push(performance.now() - start);
        } catch (e) {
          errors.push(`session: connect: ${errorText(e)}`);
        }
      }
      await closeSessions(opened);
      await settle(inst, errors, 'session');
    }
  }
}

/** One session's sequential tools/call latency. */
export async function callLatency(instances, results, { calls, block, warmup }) {
  const sessions = new Map();
  for (const inst of instances) {
    const [s] = await openSessions(inst, 1, 1, results[inst.name].errors, 'latency');
    if (s) sessions.set(inst.name, s);
  }
  const run = async (inst, n, samples) => {
    const s = sessions.get(inst.name);
    if (!s) return;
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      try {
        await echoCall(s);
        samples?.push(performance.now() - start);
      } catch (e) {
        results[inst.name].errors.push(`latency: call: ${errorText(e)}`);
      }
    }
  };
  for (const inst of instances) await run(inst, warmup);
  for (let done = 0; done < calls; done += block) {
    for (const inst of instances) await run(inst, Math.min(block, calls - done), results[inst.name].call);
  }
  await closeSessions([...sessions.values()]);
  for (const inst of instances) await settle(inst, results[inst.name].errors, 'latency');
}

/** Calls/s with `concurrency` sessions, each in a closed loop (next call when the last returns). */
export async function throughput(instances, results, { concurrency, rounds, roundMs, warmupMs }) {
  const sessions = new Map();
  for (const inst of instances) {
    sessions.set(inst.name, await openSessions(inst, concurrency, concurrency, results[inst.name].errors, 'throughput'));
  }
  // The server side of a driver: the gateway's tree, or for direct the server processes themselves.
  const serverPids = (inst) =>
    inst.root
      ? [inst.root, ...descendants(inst.root).map((d) => d.pid)]
      : sessions.get(inst.name).flatMap((s) => [s.pid, ...descendants(s.pid).map((d) => d.pid)]);
  const run = async (inst, ms) => {
    const { errors } = results[inst.name];
    let calls = 0;
    const pids = serverPids(inst);
    const serverCpu = cpuMsOf(pids);
    const clientCpu = process.cpuUsage();
    const start = performance.now();
    const deadline = start + ms;
    await Promise.all(
      sessions.get(inst.name).map(async (s) => {
        while (performance.now() < deadline) {
          try {
            await echoCall(s);
            calls++;
          } catch (e) {
            errors.push(`throughput: call: ${errorText(e)}`);
          }
        }
      }),
    );
    // Divide by the time until the last loop finished: calls in flight at the deadline count.
    const elapsed = performance.now() - start;
    const client = process.cpuUsage(clientCpu);
    return {
      calls,
      ms: elapsed,
      serverCpuMs: cpuMsOf(pids) - serverCpu,
      clientCpuMs: (client.user + client.system) / 1000,
    };
  };
  for (const inst of instances) await run(inst, warmupMs);
  for (let r = 0; r < rounds; r++) {
    for (const inst of instances) {
      const round = await run(inst, roundMs);
      for (const key of Object.keys(round)) results[inst.name].throughput[key] += round[key];
    }
  }
  for (const inst of instances) {
    await closeSessions(sessions.get(inst.name));
    await settle(inst, results[inst.name].errors, 'throughput');
  }
}

/**
 * Memory per session: (tree with n sessions open − idle tree) / n, as Rss and Pss. For direct there
 * is no gateway, so it is the n server processes themselves. Not interleaved: memory is not noisy
 * the way time is, and n open sessions on every driver at once would not fit a small machine.
 */
export async function memory(instances, results, { sessions: n, settleMs }) {
  for (const inst of instances) {
    const { errors } = results[inst.name];
    await settle(inst, errors, 'memory');
    await sleep(settleMs);
    const idle = inst.root ? treeMemory(inst.root) : { rss: 0, pss: 0 };
    const open = await openSessions(inst, n, 5, errors, 'memory');
    await sleep(settleMs);
    let loaded;
    let processes = open.length;
    if (inst.root) {
      loaded = treeMemory(inst.root);
      processes = descendants(inst.root).length - inst.idleProcesses;
    } else {
      const pids = open.flatMap((s) => [s.pid, ...descendants(s.pid).map((d) => d.pid)]);
      loaded = memoryOf(pids);
    }
    results[inst.name].memory = {
      sessions: open.length,
      rssKb: (loaded.rss - idle.rss) / Math.max(1, open.length),
      pssKb: (loaded.pss - idle.pss) / Math.max(1, open.length),
      processesPerSession: processes / Math.max(1, open.length),
      idleRssKb: idle.rss,
      idlePssKb: idle.pss,
    };
    await closeSessions(open);
    await settle(inst, errors, 'memory');
  }
}

const vanishClient = fileURLToPath(new URL('./vanish-client.mjs', import.meta.url));

/**
 * Children left `waitMs` after `clients` clients vanish without DELETE (their process is SIGKILLed).
 * All drivers at once: the wait is idle time, so sharing it costs no accuracy.
 */
export async function vanish(instances, results, { clients, waitMs, janitor }) {
  const runs = await Promise.all(
    instances.map(async (inst) => {
      const before = inst.root ? descendants(inst.root).length : 0;
      const args = inst.target.url ? ['--url', inst.target.url] : ['--stdio', ...inst.target.stdio];
      const child = spawn(process.execPath, [vanishClient, String(clients), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      janitor.adopt(child.pid);
      try {
        const ready = await new Promise((resolve, reject) => {
          let out = '';
          let err = '';
          child.stdout.on('data', (c) => {
            out += c;
            if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
          });
          child.stderr.on('data', (c) => (err += c));
          child.once('exit', (code) => reject(new Error(`vanish client exited ${code}: ${err.trim().split('\n').pop()}`)));
          setTimeout(() => reject(new Error('vanish client not ready after 60 s')), 60_000).unref();
        });
        // Direct's servers are the client's own children: after it dies they are nobody's, so
        // remember them (with start times) to count them and to be sure they are stopped at the end.
        const direct = ready.pids.map((pid) => readStat(pid)).filter(Boolean);
        for (const { pid } of direct) janitor.adopt(pid);
        return { inst, child, before, direct };
      } catch (e) {
        child.kill('SIGKILL');
        results[inst.name].errors.push(`vanish: ${errorText(e)}`);
        return null;
      }
    }),
  );
  for (const run of runs) run?.child.kill('SIGKILL');
  await sleep(waitMs);
  for (const run of runs) {
    if (!run) continue;
    const left = run.inst.root
      ? descendants(run.inst.root).length - run.before
      : run.direct.filter((s) => readStat(s.pid)?.start === s.start).length;
    results[run.inst.name].vanish = { left, clients };
  }
}
