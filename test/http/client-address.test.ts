import { describe, expect, it } from 'vitest';
import { clientIdentityResolver, ipv6Network } from '../../src/http/client-address.js';

describe('client identity', () => {
  it('keys IPv6 clients by their network', () => {
    expect(ipv6Network('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(ipv6Network('2001:db8:1:2::7', 64)).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(ipv6Network('2001:db8:1:2ff::7', 56)).toBe('2001:db8:1:200:0:0:0:0/56');
    expect(ipv6Network('::ffff:1.2.3.4', 128)).toBe('0:0:0:0:0:ffff:102:304/128');
    const identify = clientIdentityResolver({ trustProxy: [], clientIpHeader: 'x-forwarded-for', ipv6Prefix: 64 });
    expect(identify('2001:db8:1:2::7', {})).toEqual({ address: '2001:db8:1:2::7', key: '2001:db8:1:2:0:0:0:0/64' });
    expect(identify('::ffff:192.0.2.1', {})).toEqual({ address: '192.0.2.1', key: '192.0.2.1' });
  });

  it('believes only the named header, and only from a trusted peer', () => {
    const cf = clientIdentityResolver({ trustProxy: ['127.0.0.1/32'], clientIpHeader: 'cf-connecting-ip', ipv6Prefix: 64 });
    expect(cf('127.0.0.1', { 'cf-connecting-ip': '198.51.100.7', 'x-forwarded-for': '203.0.113.9' }).address).toBe('198.51.100.7');
    expect(cf('192.0.2.5', { 'cf-connecting-ip': '198.51.100.7' }).address).toBe('192.0.2.5');
    const xff = clientIdentityResolver({ trustProxy: ['127.0.0.1/32', '10.0.0.0/8'], clientIpHeader: 'x-forwarded-for', ipv6Prefix: 64 });
    // A client-chosen CF-Connecting-IP is ignored; X-Forwarded-For is read from the right, past trusted hops.
    expect(xff('127.0.0.1', { 'cf-connecting-ip': '198.51.100.7', 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.1.1.1' }).address).toBe('203.0.113.9');
    expect(xff('127.0.0.1', {}).address).toBe('127.0.0.1');
  });
});
