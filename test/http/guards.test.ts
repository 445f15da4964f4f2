import { describe, expect, it } from 'vitest';
import { guardPolicy, hostNameOf, isHostAllowed, isOriginAllowed } from '../../src/http/guards.js';

const loopback = guardPolicy({ host: '127.0.0.1', allowedHosts: [], allowedOrigins: [] });
const tunnel = guardPolicy({ host: '127.0.0.1', allowedHosts: ['mcp.example.com'], allowedOrigins: ['https://app.example.com'] });
const open = guardPolicy({ host: '0.0.0.0', allowedHosts: [], allowedOrigins: [] });
const narrowed = guardPolicy({ host: '100.64.0.7', allowedHosts: ['box.tailnet.ts.net'], allowedOrigins: [] });

describe('hostNameOf', () => {
  it.each([
    ['localhost:8080', 'localhost'],
    ['EXAMPLE.com', 'example.com'],
    ['[::1]:80', '[::1]'],
    ['127.0.0.1', '127.0.0.1'],
  ])('%s → %s', (input, expected) => expect(hostNameOf(input)).toBe(expected));
});

describe('isHostAllowed', () => {
  it('allows only loopback names on a loopback bind', () => {
    for (const host of ['localhost', 'localhost:1', '127.0.0.1:9', '[::1]:8080', '127.1.2.3']) expect(isHostAllowed(host, loopback), host).toBe(true);
    for (const host of ['evil.example.com', 'localhost.evil.com', '10.0.0.1', undefined, '']) expect(isHostAllowed(host, loopback), String(host)).toBe(false);
  });
  it('adds --allowed-host names', () => {
    expect(isHostAllowed('mcp.example.com', tunnel)).toBe(true);
    expect(isHostAllowed('MCP.example.com:443', tunnel)).toBe(true);
    expect(isHostAllowed('other.example.com', tunnel)).toBe(false);
  });
  it('allows any Host on a non-loopback bind unless --allowed-host narrows it (the bind address stays allowed)', () => {
    expect(isHostAllowed('anything.example', open)).toBe(true);
    expect(isHostAllowed('box.tailnet.ts.net', narrowed)).toBe(true);
    expect(isHostAllowed('100.64.0.7:8080', narrowed)).toBe(true);
    expect(isHostAllowed('evil.example.com', narrowed)).toBe(false);
  });
});

describe('isOriginAllowed', () => {
  it('allows a missing Origin and the built-in and configured origins', () => {
    expect(isOriginAllowed(undefined, tunnel)).toBe(true);
    expect(isOriginAllowed('https://claude.ai', tunnel)).toBe(true);
    expect(isOriginAllowed('https://claude.com', open)).toBe(true);
    expect(isOriginAllowed('https://app.example.com', tunnel)).toBe(true);
    expect(isOriginAllowed('https://APP.example.com', tunnel)).toBe(true);
  });
  it('refuses foreign, malformed and look-alike origins', () => {
    for (const origin of ['https://evil.example.com', 'http://claude.ai', 'https://claude.ai.evil.com', 'null', 'garbage']) {
      expect(isOriginAllowed(origin, tunnel), origin).toBe(false);
    }
  });
  it('allows loopback origins only on a loopback bind', () => {
    expect(isOriginAllowed('http://localhost:6274', loopback)).toBe(true);
    expect(isOriginAllowed('http://127.0.0.1:3000', loopback)).toBe(true);
    expect(isOriginAllowed('http://localhost:6274', open)).toBe(false);
  });
});
