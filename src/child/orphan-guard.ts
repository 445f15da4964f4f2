/**
 * A tiny watcher process that kills every child process group if the bridge dies without cleaning up
 * (SIGKILL, OOM kill, crash). It learns the groups over a pipe and acts when the pipe closes.
 * Why not PR_SET_PDEATHSIG (setpriv --pdeathsig): it reaches only the direct child, not the
 * grandchildren of a wrapper such as npx or a shell script.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';

// POSIX sh: keeps a space-padded list of groups; on EOF kills those still listed. It ignores the
// terminal's and the service manager's signals so that it outlives the bridge long enough to act.
const GUARD_SCRIPT = `
trap '' INT TERM HUP
g=' '
while IFS= read -r l; do
  case $l in
    +*) g="$g\${l#+} " ;;
    -*) p=\${l#-}; case $g in *" $p "*) g="\${g%% $p *} \${g#* $p }" ;; esac ;;
  esac
done
for p in $g; do kill -KILL -"$p" 2>/dev/null; done
`;

export interface OrphanGuard {
  watch(pgid: number): void;
  forget(pgid: number): void;
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
    watch: (pgid) => write(`+${pgid}`),
    forget: (pgid) => write(`-${pgid}`),
    close: () => {
      guard?.stdin?.end();
      guard = undefined;
    },
  };
}
