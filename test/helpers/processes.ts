/** Finding test processes through /proc by a marker in their environment. */
import { readdirSync, readFileSync } from 'node:fs';

function isZombie(pid: string): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/** PIDs of live (non-zombie) processes whose environment holds this exact `NAME=value`. */
export function processesWith(entry: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry) && !isZombie(pid)) found.push(Number(pid));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    return !isZombie(String(pid));
  } catch {
    return false;
  }
}
