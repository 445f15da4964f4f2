/**
 * The host module's bandwidth limits (modules/bandwidth-limits.sh, which its traffic-control unit runs),
 * run for real in two network namespaces joined by a veth pair standing in for a VM's tap: each direction
 * gets its configured rate to within 10 % over TCP, a second start changes nothing, and stop leaves the
 * tap bare. Needs root and network namespaces (CI has both); skipped otherwise.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, waitFor } from '../helpers/bridge.js';

const run = promisify(execFile);
const SCRIPT = join(ROOT, 'modules/bandwidth-limits.sh');
const THROUGHPUT = join(ROOT, 'test/fixtures/throughput.mjs');

/** Root, network namespaces and veth pairs: what the test builds its two machines from. */
function namespacesWork(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = `mcpb-probe-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    } catch {
      // never made
    }
  }
}

const available = namespacesWork();
if (!available) console.warn('test/nix/bandwidth: skipped: needs root, `ip netns` (iproute2) and veth pairs');

const suffix = randomBytes(3).toString('hex');
const HOST = `mcpb-host-${suffix}`;
const GUEST = `mcpb-guest-${suffix}`;
const HOST_ADDRESS = '10.231.0.1';
const GUEST_ADDRESS = '10.231.0.2';
const RATE_BITS = 20_000_000;
const LIMITS = ['20mbit', '32kb', '100ms'];

const inHost = (command: string, ...args: string[]) => run('ip', ['netns', 'exec', HOST, command, ...args]);
const limits = (...args: string[]) => inHost('sh', SCRIPT, ...args);

/** One TCP stream from one namespace to the other for `seconds`: the receiver's bits per second. */
async function throughput(from: string, to: string, address: string, seconds = 3): Promise<number> {
  const receiver = spawn('ip', ['netns', 'exec', to, process.execPath, THROUGHPUT, 'receive', address, '5201'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  receiver.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  try {
    await waitFor(() => out.includes('ready'), { what: 'the receiver' });
    await run('ip', ['netns', 'exec', from, process.execPath, THROUGHPUT, 'send', address, '5201', String(seconds)]);
    const line = await waitFor(() => out.split('\n').find((text) => text.startsWith('{')), { what: 'the measurement' });
    return (JSON.parse(line) as { bitsPerSecond: number }).bitsPerSecond;
  } finally {
    receiver.kill();
  }
}

describe.skipIf(!available)('bandwidth limits in network namespaces', () => {
  beforeAll(async () => {
    for (const ns of [HOST, GUEST]) await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', HOST, 'link', 'add', 'tap0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GUEST]);
    await run('ip', ['-n', HOST, 'addr', 'add', `${HOST_ADDRESS}/24`, 'dev', 'tap0']);
    await run('ip', ['-n', GUEST, 'addr', 'add', `${GUEST_ADDRESS}/24`, 'dev', 'eth0']);
    for (const [ns, dev] of [[HOST, 'tap0'], [GUEST, 'eth0'], [HOST, 'lo'], [GUEST, 'lo']]) await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  });
  afterAll(async () => {
    for (const ns of [HOST, GUEST]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('holds each direction to its rate over TCP, survives a second start, and leaves the tap bare on stop', async (context) => {
    const unlimited = await throughput(HOST, GUEST, GUEST_ADDRESS, 1);
    const started = await limits('start', 'tap0', 'ifb0', ...LIMITS, ...LIMITS).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    if (started !== undefined) {
      // A kernel without ifb, act_mirred or sch_tbf: the start fails loudly, so the VM would not start.
      expect(started.code).not.toBe(0);
      console.warn(`test/nix/bandwidth: this kernel cannot shape (${started.stderr.trim()}); the unit's start fails, as it must`);
      return context.skip();
    }
    // Twice, as at every restart of the VM: the same result.
    await limits('start', 'tap0', 'ifb0', ...LIMITS, ...LIMITS);
    const toGuest = await throughput(HOST, GUEST, GUEST_ADDRESS);
    const fromGuest = await throughput(GUEST, HOST, HOST_ADDRESS);
    console.info(`bandwidth at a ${RATE_BITS / 1e6} Mbit/s limit: host to guest ${(toGuest / 1e6).toFixed(1)}, guest to host ${(fromGuest / 1e6).toFixed(1)} Mbit/s (unlimited ${(unlimited / 1e6).toFixed(0)})`);
    expect(unlimited, 'the link is faster than the limit to begin with').toBeGreaterThan(RATE_BITS * 2);
    expect(Math.abs(toGuest / RATE_BITS - 1), `host to guest: ${Math.round(toGuest / 1e5) / 10} Mbit/s`).toBeLessThan(0.1);
    expect(Math.abs(fromGuest / RATE_BITS - 1), `guest to host: ${Math.round(fromGuest / 1e5) / 10} Mbit/s`).toBeLessThan(0.1);

    await limits('stop', 'tap0', 'ifb0');
    const { stdout: qdiscs } = await inHost('tc', 'qdisc', 'show', 'dev', 'tap0');
    expect(qdiscs).not.toMatch(/tbf|ingress/);
    await expect(inHost('ip', 'link', 'show', 'ifb0')).rejects.toThrow();
    // A stop with nothing to remove succeeds too.
    await limits('stop', 'tap0', 'ifb0');
  }, 60_000);
});
