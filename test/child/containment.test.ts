/** Containment without cgroups: the environment marker finds a child's descendants, even a daemon, in /proc. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { markerContainment } from '../../src/child/containment.js';
import { isAlive, waitFor } from '../helpers/bridge.js';
import { processesWith } from '../helpers/processes.js';

describe('the environment marker', () => {
  it('signals every process that carries it, a daemon in a session of its own included, and no other', async () => {
    const container = markerContainment().contain('sh', ['-c', 'setsid sleep 600 </dev/null >/dev/null 2>&1 & sleep 600']);
    const env = { ...process.env, ...container.env, FIXTURE_RUN: inject('runId') };
    const child = spawn(container.command, container.args, { env, stdio: 'ignore', detached: true });
    const stranger = spawn('sleep', ['600'], { env: { ...process.env, FIXTURE_RUN: inject('runId') }, stdio: 'ignore' });
    const entry = Object.entries(container.env).map(([k, v]) => `${k}=${v}`)[0];
    const marked = await waitFor(() => (processesWith(entry).length >= 3 ? processesWith(entry) : undefined), { what: 'the shell, its sleep and the daemon' });
    expect(await container.signal('SIGKILL')).toBe(marked.length);
    await waitFor(() => marked.every((pid) => !isAlive(pid)) || undefined, { what: 'every marked process to end' });
    expect(isAlive(stranger.pid as number)).toBe(true);
    stranger.kill('SIGKILL');
    child.unref();
  });
});
