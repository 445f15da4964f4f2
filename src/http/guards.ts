/** Host and Origin checks (DNS rebinding, cross-site requests) as pure functions. */
import { isIP } from 'node:net';
import { DEFAULT_ALLOWED_ORIGINS } from '../config.js';

export function isLoopbackHost(name: string): boolean {
  const bare = name.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** The host name of a Host header or URL authority, lowercase, without port; IPv6 keeps its brackets. */
export function hostNameOf(authority: string): string {
  const lower = authority.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  return lower.replace(/:\d*$/, '');
}

export interface GuardPolicy {
  /** The bridge listens on a loopback address only. */
  loopbackBind: boolean;
  /** Host names besides the loopback names (and the bind address); empty means "any" on a non-loopback bind. */
  allowedHosts: string[];
  allowedOrigins: string[];
}

export function guardPolicy(config: { host: string; allowedHosts: string[]; allowedOrigins: string[] }): GuardPolicy {
  const bindAddress = config.host.includes(':') ? `[${config.host}]` : config.host.toLowerCase();
  const wildcard = bindAddress === '0.0.0.0' || bindAddress === '[::]';
  const allowedHosts = config.allowedHosts.length > 0 && !wildcard ? [...config.allowedHosts, bindAddress] : config.allowedHosts;
  return {
    loopbackBind: isLoopbackHost(config.host),
    allowedHosts,
    allowedOrigins: [...DEFAULT_ALLOWED_ORIGINS, ...config.allowedOrigins],
  };
}

/**
 * Rule: on a loopback bind only loopback names (and --allowed-host) pass; elsewhere any Host passes unless
 * --allowed-host narrows it. Why: a browser page on an attacker's domain that re-resolves to 127.0.0.1 still
 * sends its own name as Host (DNS rebinding); behind a tunnel the public name is the operator's to list.
 */
export function isHostAllowed(host: string | undefined, policy: GuardPolicy): boolean {
  if (!policy.loopbackBind && policy.allowedHosts.length === 0) return true;
  if (host === undefined || host === '') return false;
  const name = hostNameOf(host);
  return isLoopbackHost(name) || policy.allowedHosts.includes(name);
}

/**
 * Rule: no Origin passes (non-browser clients such as Claude Code send none); an allowlisted Origin passes;
 * on a loopback bind a loopback Origin passes; anything else is refused. Why: the spec requires rejecting
 * foreign browser origins, and claude.ai sends its own.
 */
export function isOriginAllowed(origin: string | undefined, policy: GuardPolicy): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (policy.allowedOrigins.includes(url.origin.toLowerCase())) return true;
  return policy.loopbackBind && (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname);
}
