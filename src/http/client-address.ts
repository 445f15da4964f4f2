/** Who the client is, for per-client limits and logs: the socket peer, or what a trusted proxy says. */
import { BlockList, isIP } from 'node:net';

/** IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d. */
function normalise(address: string): string {
  const trimmed = address.trim();
  return trimmed.toLowerCase().startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed;
}

export type ClientAddressResolver = (peer: string | undefined, headers: Headers) => string;

export function clientAddressResolver(trustedRanges: string[]): ClientAddressResolver {
  const trusted = new BlockList();
  for (const range of trustedRanges) {
    const [address, prefix] = range.split('/');
    trusted.addSubnet(address, Number(prefix), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
  const isTrusted = (address: string) => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };

  /**
   * Rule: the socket peer is the client, unless the peer is a trusted proxy: then CF-Connecting-IP, else the
   * rightmost X-Forwarded-For entry that is not itself a trusted proxy. Why: anyone can send these headers;
   * only the operator's own tunnel or proxy may be believed, and only the hops it appended.
   */
  return (peer, headers) => {
    const socketAddress = normalise(peer ?? 'unknown');
    if (trustedRanges.length === 0 || !isTrusted(socketAddress)) return socketAddress;
    const cloudflare = headers.get('cf-connecting-ip');
    if (cloudflare && isIP(normalise(cloudflare))) return normalise(cloudflare);
    const hops = (headers.get('x-forwarded-for') ?? '').split(',').map(normalise).filter((hop) => isIP(hop) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i])) return hops[i];
    return hops[0] ?? socketAddress;
  };
}
