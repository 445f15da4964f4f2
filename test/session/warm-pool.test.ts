/** --pool: children started ahead of need, taken by new sessions, bounded by the cap, never a spawn loop. */
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startBridge, stopAllBridges, taggedProcesses, waitFor } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';

afterEach(stopAllBridges);

describe('warm pool', () => {
  it('starts children ahead of need, hands one to a new session and replaces it', async () => {
    const bridge = await startBridge(['--pool', '2']);
    const pooled = await waitFor(() => (taggedProcesses(bridge.tag).length === 2 ? taggedProcesses(bridge.tag) : undefined), {
      what: 'two pooled children',
    });
    // Each was warmed up with a ping before it was offered.
    const ready = await bridge.waitForLog((l) => l.msg === 'pooled child ready' && pooled.includes(l.childPid as number));
    expect(ready.warmUp).toBe('answered');
    const { client } = await connect(bridge.url);
    const started = await bridge.waitForLog((l) => l.msg === 'session started');
    expect(pooled).toContain(started.childPid);
    const who = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} })));
    expect(who.pid).toBe(started.childPid);
    // The ping's answer was the pool's; nothing of it reached the session.
    expect(bridge.logs.some((l) => l.msg === 'dropped a response to no request in flight')).toBe(false);
    await waitFor(() => taggedProcesses(bridge.tag).length === 3 || undefined, { what: 'a replacement in the pool' });
  });

  it('counts pooled children toward --max-sessions', async () => {
    const bridge = await startBridge(['--pool', '3', '--max-sessions', '2']);
    await waitFor(() => taggedProcesses(bridge.tag).length === 2 || undefined, { what: 'two pooled children' });
    await connect(bridge.url);
    await connect(bridge.url);
    // Two sessions fill the cap: the pool stays empty.
    expect(taggedProcesses(bridge.tag)).toHaveLength(2);
  });

  it('backs off when pooled children keep dying instead of spawning in a loop', async () => {
    const bridge = await startBridge(['--pool', '1'], [`${ROOT}test/fixtures/not-mcp.sh`]);
    const third = await bridge.waitForLog(
      (l) => l.msg === 'pooled child failed; spawning again later' && (l.retryInMs as number) >= 4000,
      15_000,
    );
    expect(third.exitCode).toBe(3);
    const failures = bridge.logs.filter((l) => l.msg === 'pooled child failed; spawning again later').map((l) => l.retryInMs);
    expect(failures).toEqual([1000, 2000, 4000]);
  });
});
