import { describe, expect, it } from 'vitest';
import { buildChildEnvironment, parseEnvAssignment } from '../../src/child/environment.js';

const parent = { PATH: '/bin', HOME: '/root', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'eu', MCP_BRIDGE_AUTH: 't', NOTIFY_SOCKET: '/run/n', OTHER: 'o' };

describe('buildChildEnvironment', () => {
  it('passes only the safe base by default', () => {
    expect(buildChildEnvironment(parent, { passEnv: [], set: {} })).toEqual({ PATH: '/bin', HOME: '/root' });
  });
  it('adds named and prefixed variables, and explicit values over defaults', () => {
    const env = buildChildEnvironment(parent, { passEnv: ['OTHER', 'AWS_R*'], set: { A: '1', B: '2' }, defaults: { B: 'default', C: '3' } });
    expect(env).toEqual({ PATH: '/bin', HOME: '/root', OTHER: 'o', AWS_REGION: 'eu', A: '1', B: '2', C: '3' });
  });
  it("never passes the bridge's own settings or systemd channels, even with '*'", () => {
    const env = buildChildEnvironment(parent, { passEnv: ['*'], set: {} });
    expect(env.AWS_SECRET_ACCESS_KEY).toBe('x');
    expect(env.MCP_BRIDGE_AUTH).toBeUndefined();
    expect(env.NOTIFY_SOCKET).toBeUndefined();
  });
});

describe('parseEnvAssignment', () => {
  it('splits at the first =', () => expect(parseEnvAssignment('A=b=c')).toEqual(['A', 'b=c']));
  it('allows empty values', () => expect(parseEnvAssignment('A=')).toEqual(['A', '']));
  it.each(['A', '=x', '1A=x', 'A B=x'])('rejects %s', (text) => expect(() => parseEnvAssignment(text)).toThrow(/KEY=VALUE/));
});
