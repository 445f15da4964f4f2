/**
 * A tiny watcher process that kills every child process group (and cgroup) if the bridge dies without
 * cleaning up (SIGKILL, OOM kill, crash). It learns them over a pipe and acts when the pipe closes.
 * Why not PR_SET_PDEATHSIG (setpriv --pdeathsig): it reaches only the direct child, not the
 * grandchildren of a wrapper such as npx or a shell script.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';

// POSIX sh: keeps space-padded lists of groups and of cgroup directories (they start with /, and hold
// no spaces: the bridge names them); on EOF kills those still listed and removes the cgroups once empty.
// It ignores the terminal's and the service manager's signals so that it outlives the bridge long enough.
const GUARD_SCRIPT = `
trap '' INT TERM HUP
g=' '
c=' '
while IFS= read -r l; do
  case $l in
    +/*) c="$c\${l#+} " ;;
    -/*) p=\${l#-}; case $c in *" $p "*) c="\${c%% $p *} \${c#* $p }" ;; esac ;;
    +*) g="$g\${l#+} " ;;
    -*) p=\${l#-}; case $g in *" $p "*) g="\${g%% $p *} \${g#* $p }" ;; esac ;;
  esac
done
for p in $g; do kill -KILL -"$p" 2>/dev/null; done
for d in $c; do echo 1 > "$d/cgroup.kill" 2>/dev/null || for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; done
for d in $c; do i=0; while [ $i -lt 50 ] && ! rmdir "$d" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done; done
`;

export interface OrphanGuard {
  watch(pgid: number, cgroup: string | undefined): void;
  forget(pgid: number, cgroup: string | undefined): void;
  close(): void;
}

export function startOrphanGuard(log: Logger): OrphanGuard {
  let guard: ChildProcess | undefined = spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'mcp-bridge-orphan-guard'], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: {},
  });
  guard.on('error', (error) => {
    log.warn({ err: error.message }, 'orphan guard unavailable; children may outlive a killed bridge');
    guard = undefined;
  });
  guard.stdin?.on('error', () => undefined);
  // The guard must not keep the bridge's event loop alive.
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const write = (line: string) => {
    if (guard?.stdin?.writable) guard.stdin.write(`${line}\n`);
  };
  return {
    watch: (pgid, cgroup) => {
      write(`+${pgid}`);
      if (cgroup) write(`+${cgroup}`);
    },
    forget: (pgid, cgroup) => {
      write(`-${pgid}`);
      if (cgroup) write(`-${cgroup}`);
    },
    close: () => {
      guard?.stdin?.end();
      guard = undefined;
    },
  };
}
