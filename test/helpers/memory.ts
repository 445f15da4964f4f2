/** What a bridge really holds: its heap and external memory right after a full GC (test/fixtures/gc-probe.cjs). */
import { ROOT, waitFor, type Bridge } from './bridge.js';

/** The environment that preloads the probe into a bridge: give it to startBridge. */
export const GC_PROBE_ENV = { NODE_OPTIONS: `--expose-gc --require ${ROOT}test/fixtures/gc-probe.cjs` };

export interface Retained {
  heapUsed: number;
  /** Buffers and other memory outside the JS heap (external includes arrayBuffers). */
  external: number;
}

/** Makes the bridge collect garbage in full and returns what is left. */
export async function retainedAfterGc(bridge: Bridge): Promise<Retained> {
  const seen = bridge.logs.filter((l) => l.msg === 'gc probe').length;
  bridge.process.kill('SIGUSR2');
  const probes = await waitFor(
    () => {
      const all = bridge.logs.filter((l) => l.msg === 'gc probe');
      return all.length > seen ? all : undefined;
    },
    { what: 'the gc probe' },
  );
  const last = probes[probes.length - 1];
  return { heapUsed: last.heapUsed as number, external: last.external as number };
}

/** Heap plus external memory, in MiB. */
export const mib = ({ heapUsed, external }: Retained) => (heapUsed + external) / 2 ** 20;
