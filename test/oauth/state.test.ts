/**
 * The state directory's hand-off between the owner's commands and the bridge, on a real file system: the
 * lease that says a bridge is there, and a request written by root for a service user.
 */
import { chownSync, mkdtempSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LEASE_FILE, OAuthState } from '../../src/oauth/state.js';

const freshState = () => {
  const state = new OAuthState(mkdtempSync(join(tmpdir(), 'mcp-bridge-state-')), 'owner-line');
  state.open();
  return state;
};

describe('the OAuth state directory', () => {
  it('holds a lease while it is rewritten, and none once it is older than three refreshes', () => {
    const state = freshState();
    expect(state.leaseHeld()).toBe(false);
    state.writeLease();
    expect(state.leaseHeld()).toBe(true);
    const past = (Date.now() - 16_000) / 1000;
    utimesSync(join(state.dir, LEASE_FILE), past, past);
    expect(state.leaseHeld()).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)("gives a request made as root to the directory's owner, the service user", () => {
    const state = freshState();
    chownSync(join(state.dir, 'requests'), 65534, 65534);
    const path = state.request({ op: 'revoke-all' });
    expect(statSync(path)).toMatchObject({ uid: 65534, gid: 65534 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('applies a request once, and a look without removing leaves it queued', () => {
    const state = freshState();
    state.grants.set('grant_a', { id: 'grant_a' } as never);
    state.request({ op: 'revoke', grant: 'grant_a' });
    expect(state.applyRequests(false)).toBe(1);
    expect(state.grants.has('grant_a')).toBe(false);
    expect(state.applyRequests()).toBe(1);
    expect(state.applyRequests()).toBe(0);
  });
});
