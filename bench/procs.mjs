// Processes: who descends from whom, what they cost in memory, where they listen, and how to make
// sure that every one the harness started is gone when it ends (normally, on error or on Ctrl-C).
//
// Everything is read from /proc (Linux only), because process trees are the figure we report: the
// gateways put each stdio child in a process group of its own, so neither a process group nor the
// gateway's own RSS would show what a session really costs.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * pid, ppid, pgid and start time (to tell a pid from a later reuse of it), or undefined if gone. A
 * zombie counts as gone: it has exited and holds no memory, it only waits to be reaped (and a process
 * orphaned to this VM's init may wait a second or two for that).
 */
export function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19] };
}

function allStats() {
  const stats = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.push(stat);
  }
  return stats;
}

/** Every live process below `root` (not `root` itself), by parent links. */
export function descendants(root) {
  const children = new Map();
  for (const stat of allStats()) {
    if (!children.has(stat.ppid)) children.set(stat.ppid, []);
    children.get(stat.ppid).push(stat);
  }
  const found = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/**
 * CPU time (user + system, in ms) used so far by the given processes, from /proc/<pid>/stat fields
 * 14 and 15 (in USER_HZ ticks, 100 per second on Linux). Coarse (10 ms) but, summed over thousands of
 * calls, the figure that a loaded machine disturbs least: waiting for a core costs time, not CPU.
 */
export function cpuMsOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks * 10;
}

/** Summed Rss and Pss in kB over the given pids, from smaps_rollup (Pss splits shared pages fairly). */
export function memoryOf(pids) {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    rss += Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    pss += Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
  }
  return { rss, pss };
}

/** Memory of a process and everything below it. */
export function treeMemory(root) {
  return memoryOf([root, ...descendants(root).map((s) => s.pid)]);
}

// /proc/net/tcp{,6} hold addresses as little-endian hex words.
function decodeAddress(hex) {
  const [addr, port] = hex.split(':');
  const words = addr.match(/.{8}/g).map((w) => w.match(/../g).reverse().join(''));
  let text;
  if (words.length === 1) text = words[0].match(/../g).map((b) => parseInt(b, 16)).join('.');
  else if (words.join('').startsWith('00000000000000000000ffff')) {
    text = words[3].match(/../g).map((b) => parseInt(b, 16)).join('.'); // v4-mapped
  } else text = `[${words.join('').match(/.{4}/g).join(':')}]`;
  return { text, port: parseInt(port, 16) };
}

const LOOPBACK = /^(127\.|\[0000:0000:0000:0000:0000:0000:0000:0001\])/;

/**
 * The TCP addresses that `pid` listens on, each with `loopback: true|false`. We check this for every
 * driver rather than trusting flags, because a peer that binds all interfaces would expose a
 * benchmark target beyond this machine.
 */
export function listeningSockets(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  const found = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9])) continue; // 0A = LISTEN
      const { text, port } = decodeAddress(cols[1]);
      found.push({ address: `${text}:${port}`, loopback: LOOPBACK.test(text) });
    }
  }
  return found;
}

/**
 * What the harness has started. Roots are the processes we spawned (each in its own process group);
 * `snapshot()` records everything below them, with start times, so that children the gateways put in
 * process groups of their own are still found (and only they: a reused pid is never signalled) even
 * after their parent is gone.
 */
export class ProcessJanitor {
  #roots = new Set();
  #known = new Map(); // pid -> stat

  /** Remember a process we spawned (or one we were told of, such as a direct stdio child). */
  adopt(pid) {
    const stat = readStat(pid);
    if (stat) {
      this.#roots.add(pid);
      this.#known.set(pid, stat);
    }
  }

  forget(pid) {
    this.#roots.delete(pid);
  }

  snapshot() {
    for (const stat of descendants(process.pid)) this.#known.set(stat.pid, stat);
    for (const root of this.#roots) for (const stat of descendants(root)) this.#known.set(stat.pid, stat);
  }

  #alive() {
    return [...this.#known.values()].filter((s) => readStat(s.pid)?.start === s.start);
  }

  #signal(stats, signal) {
    // A group leader is signalled through its group (once: a second SIGTERM means "hurry" to some).
    for (const { pid, pgid } of stats) {
      try {
        process.kill(pgid === pid ? -pid : pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** SIGTERM what we started, give it `graceMs` to finish, then SIGKILL whatever is left. */
  async stopAll(graceMs = 5000) {
    this.snapshot();
    const alive = this.#alive();
    this.#signal(alive.filter((s) => this.#roots.has(s.pid)), 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (this.#alive().length > 0 && Date.now() < deadline) await sleep(50);
    const left = this.#alive();
    this.#signal(left, 'SIGKILL');
    return left.length;
  }

  /** Last resort from a process 'exit' handler, where nothing asynchronous runs any more. */
  killAllNow() {
    this.#signal(this.#alive(), 'SIGKILL');
  }
}

/** Stop one driver: SIGTERM its group, wait for its whole tree, SIGKILL the tree if it lingers. */
export async function stopTree(root, graceMs = 5000) {
  const tree = [readStat(root), ...descendants(root)].filter(Boolean);
  const alive = () => tree.filter((s) => readStat(s.pid)?.start === s.start);
  try {
    process.kill(-root, 'SIGTERM');
  } catch {
    // already gone
  }
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline) await sleep(50);
  const left = alive();
  for (const { pid, pgid } of left) {
    try {
      process.kill(pgid === pid ? -pid : pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return left.length;
}
