/**
 * Who the client is, for per-client limits and logs: the socket peer, or what a trusted proxy says in the
 * one header the deployment names; IPv6 clients are keyed by their network prefix.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

export interface ClientIdentity {
  /** The client's address, for logs. */
  address: string;
  /** What per-client limits count by: the address, or for IPv6 its /N network. */
  key: string;
}

export interface ClientAddressOptions {
  /** Peers (CIDR ranges) that may name the client. */
  trustProxy: string[];
  /** The header a trusted peer names the client in, lowercase (`x-forwarded-for`, `cf-connecting-ip`, …). */
  clientIpHeader: string;
  /** IPv6 clients share limits per network of this prefix length (a /64 is one subscriber's). */
  ipv6Prefix: number;
}

export type ClientIdentityResolver = (peer: string | undefined, headers: IncomingHttpHeaders) => ClientIdentity;

/** IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d. */
function normalise(address: string): string {
  const trimmed = address.trim();
  return trimmed.toLowerCase().startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed.toLowerCase();
}

/** The eight 16-bit words of an IPv6 address (`::` expanded, an embedded IPv4 tail as two words, no zone). */
function ipv6Words(address: string): number[] {
  let text = address.split('%')[0];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((group) => parseInt(group, 16) || 0);
}

/** The network of an IPv6 address at a prefix length, as `<words>/<bits>`. */
export function ipv6Network(address: string, bits: number): string {
  const words = ipv6Words(address).map((word, i) => {
    const kept = Math.min(16, Math.max(0, bits - i * 16));
    return kept === 0 ? 0 : word & (0xffff << (16 - kept)) & 0xffff;
  });
  return `${words.map((word) => word.toString(16)).join(':')}/${bits}`;
}

export function clientIdentityResolver(options: ClientAddressOptions): ClientIdentityResolver {
  const trusted = new BlockList();
  for (const range of options.trustProxy) {
    const [address, prefix] = range.split('/');
    trusted.addSubnet(address, Number(prefix), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
  const isTrusted = (address: string) => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
  const identity = (address: string): ClientIdentity => ({
    address,
    key: isIP(address) === 6 ? ipv6Network(address, options.ipv6Prefix) : address,
  });

  /**
   * Rule: the socket peer is the client, unless the peer is a trusted proxy: then the header the deployment
   * named, and for X-Forwarded-For (which every hop appends to) its rightmost entry that is not itself a
   * trusted proxy. Why: anyone can send these headers; only the hops the operator's own proxies appended
   * may be believed, and a header a proxy passes through unchanged (CF-Connecting-IP behind nginx or
   * tailscale serve) would let a client pick a new address per request.
   */
  return (peer, headers) => {
    const socketAddress = normalise(peer ?? 'unknown');
    if (options.trustProxy.length === 0 || !isTrusted(socketAddress)) return identity(socketAddress);
    const value = headers[options.clientIpHeader];
    const entries = (Array.isArray(value) ? value.join(',') : (value ?? '')).split(',').map(normalise).filter((hop) => isIP(hop) !== 0);
    if (options.clientIpHeader !== 'x-forwarded-for') return identity(entries.at(-1) ?? socketAddress);
    for (let i = entries.length - 1; i >= 0; i--) if (!isTrusted(entries[i])) return identity(entries[i]);
    return identity(entries[0] ?? socketAddress);
  };
}
