/**
 * Everything a session's child starts, found and ended with it, beyond its process group: a grandchild
 * that calls setsid (a daemon) leaves the group and would outlive the session. Where cgroup v2 can be
 * written (a systemd service with Delegate=yes, a root container), each child runs in a cgroup of its own
 * and the whole cgroup is killed; elsewhere each child's environment carries a marker, and processes that
 * still carry it are found in /proc and killed (one that clears its environment can escape).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One child's container: how to start the command inside it, and how to signal whatever is in it. */
export interface Container {
  /** The command line to spawn (possibly wrapped) and the environment to add. */
  readonly command: string;
  readonly args: string[];
  readonly env: Record<string, string>;
  /** The cgroup directory, for the orphan guard; undefined for the marker. */
  readonly cgroup: string | undefined;
  /** Signals every process in it; resolves with how many there were. */
  signal(signal: 'SIGTERM' | 'SIGKILL'): Promise<number>;
  /** Whether any process is in it, where that is cheap to tell (a cgroup); the marker says false. */
  populated(): boolean;
  /** Frees what the container itself holds (the cgroup directory) once it is empty. */
  release(): void;
}

export interface Containment {
  /** `cgroup` or `marker`, for the start-up log. */
  readonly kind: 'cgroup' | 'marker';
  contain(command: string, args: string[]): Container;
}

/** The environment variable that marks a child and its descendants. */
export const MARKER_VARIABLE = 'MCP_BRIDGE_CHILD';

/** The cgroup v2 directory this process is in, if the unified hierarchy is mounted. */
function ownCgroup(): string | undefined {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (!line) return undefined;
  const path = line.slice(3);
  for (const entry of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = entry.split(' - ');
    if (!after?.startsWith('cgroup2 ')) continue;
    const [, , , root, mountPoint] = before.split(' ');
    if (path === root || path.startsWith(root === '/' ? '/' : `${root}/`)) return join(mountPoint, path.slice(root === '/' ? 0 : root.length));
  }
  return undefined;
}

/** Starts `args` after moving the shell into `cgroup`; `$0` is the cgroup, the rest the command. */
const ENTER_CGROUP = 'echo $$ > "$0/cgroup.procs" && exec "$@"';

/** Whether a process can be started in a new cgroup below ours: tried once, at start. */
function cgroupWorks(parent: string): Promise<boolean> {
  const probe = join(parent, `mcp-bridge.${process.pid}.probe`);
  try {
    mkdirSync(probe);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', ENTER_CGROUP, probe, 'true'], (error) => {
      try {
        rmdirSync(probe);
      } catch {
        // still populated for a moment: it is removed by whoever tries next
      }
      resolve(!error);
    });
  });
}

async function signalPids(pids: number[], signal: NodeJS.Signals): Promise<number> {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
  return pids.length;
}

function cgroupContainment(parent: string): Containment {
  let count = 0;
  return {
    kind: 'cgroup',
    contain(command, args) {
      const dir = join(parent, `mcp-bridge.${process.pid}.${++count}`);
      mkdirSync(dir);
      const pids = () =>
        readFileSync(join(dir, 'cgroup.procs'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map(Number);
      return {
        command: '/bin/sh',
        args: ['-c', ENTER_CGROUP, dir, command, ...args],
        env: {},
        cgroup: dir,
        async signal(signal) {
          if (!existsSync(dir)) return 0;
          const members = pids();
          // cgroup.kill (Linux 5.14) kills everything at once, including processes forked meanwhile.
          if (signal === 'SIGKILL' && members.length > 0 && existsSync(join(dir, 'cgroup.kill'))) writeFileSync(join(dir, 'cgroup.kill'), '1');
          else await signalPids(members, signal);
          return members.length;
        },
        populated: () => existsSync(dir) && /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8')),
        release() {
          try {
            rmdirSync(dir);
          } catch {
            // not empty yet (a process in exit): the orphan guard and the next start leave it be
          }
        },
      };
    },
  };
}

/** Processes whose environment holds `entry`, from /proc. */
async function processesWith(entry: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if ((await readFile(`/proc/${name}/environ`, 'latin1')).split('\0').includes(entry)) found.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Exported for its test; detectContainment picks it where cgroups cannot be used. */
export function markerContainment(): Containment {
  return {
    kind: 'marker',
    contain(command, args) {
      const marker = randomBytes(9).toString('base64url');
      const entry = `${MARKER_VARIABLE}=${marker}`;
      return {
        command,
        args,
        env: { [MARKER_VARIABLE]: marker },
        cgroup: undefined,
        signal: async (signal) => signalPids(await processesWith(entry), signal),
        populated: () => false,
        release: () => undefined,
      };
    },
  };
}

/** The best containment this machine allows. */
export async function detectContainment(): Promise<Containment> {
  const parent = ownCgroup();
  return parent !== undefined && (await cgroupWorks(parent)) ? cgroupContainment(parent) : markerContainment();
}
