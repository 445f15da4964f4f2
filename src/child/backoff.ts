/** How long to wait before starting a child again after `failures` failures in a row: 1 s, doubling, at most 60 s. */
export function restartDelayMs(failures: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, failures - 1));
}
