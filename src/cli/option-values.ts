/** Option text turned into checked values: numbers, durations, addresses, paths, origins and URLs; each throws a ConfigError that quotes what was given. */
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { ConfigError } from '../config.js';
import { isLoopbackHost } from '../http/guards.js';

/** A number option's value: yargs leaves text that is not a number as it came, so the message can quote it. */
export function numberOf(name: string, value: unknown): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(number)) throw new ConfigError(`--${name} must be a number, got "${String(value)}"`);
  return number;
}

export function seconds(name: string, value: unknown, { allowZero = false } = {}): number {
  const number = numberOf(name, value);
  if (number < 0 || (!allowZero && number === 0)) {
    throw new ConfigError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got ${number}`);
  }
  return Math.round(number * 1000);
}

export function integerIn(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const number = numberOf(name, value);
  if (!Number.isInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? 'a non-negative integer' : 'a positive integer') : `an integer from ${min} to ${max}`;
    throw new ConfigError(`--${name} must be ${range}, got ${number}`);
  }
  return number;
}

export const positiveInteger = (name: string, value: unknown) => integerIn(name, value, 1);
export const nonNegativeInteger = (name: string, value: unknown) => integerIn(name, value, 0);

/** An HTTP header name, lowercase (as Node gives request headers). */
export function headerName(name: string, value: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(value)) throw new ConfigError(`--${name} must be an HTTP header name, got "${value}"`);
  return value.toLowerCase();
}

/** The listen address as Node wants it: an IPv6 address without the brackets of its URL form. */
export function listenHost(host: string): string {
  return /^\[[0-9a-fA-F:.]+\]$/.test(host) ? host.slice(1, -1) : host;
}

/** `HOST:PORT` (IPv6 in brackets) for the metrics listener. */
export function listenAddress(name: string, text: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port < 0 || port > 65535) throw new ConfigError(`--${name} must be HOST:PORT, got "${text}"`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

export function cidr(text: string): string {
  const [address, bits, extra] = text.trim().split('/');
  const family = isIP(address);
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
  if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
    throw new ConfigError(`--trust-proxy must be an address or CIDR range like 10.0.0.0/8, got "${text}"`);
  }
  return `${address}/${prefix}`;
}

/** Path as served: leading slash, no trailing slash (the root stays "/"). */
export function normalisePath(path: string, option = 'path'): string {
  if (!path.startsWith('/') || /[\s?#]/.test(path)) {
    throw new ConfigError(`--${option} must start with "/" and hold no spaces, "?" or "#", got "${path}"`);
  }
  return path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
}

/** Origins compare as `scheme://host[:port]`, lowercase, the way browsers send them. */
export function normaliseOrigin(origin: string): string {
  try {
    const url = new URL(origin);
    if (url.origin === 'null') throw new Error('opaque');
    return url.origin.toLowerCase();
  } catch {
    throw new ConfigError(`--allowed-origin must be an origin like https://example.com, got "${origin}"`);
  }
}

export function normaliseHostName(host: string): string {
  const name = host.trim().toLowerCase();
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(name)) {
    throw new ConfigError(`--allowed-host must be a host name without port or scheme, got "${host}"`);
  }
  return name;
}

export function existingDirectory(path: string): string {
  const absolute = resolve(path);
  if (!statSync(absolute, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError(`--cwd must be an existing directory, got "${path}"`);
  }
  return absolute;
}

/** The endpoint's public URL: https, or http for a loopback host; no credentials, query or fragment; no trailing slash. */
export function publicUrlOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--public-url must be a URL like https://mcp.example.org/mcp, got "${text}"`);
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(`--public-url must be https (plain http only for a loopback host), got "${text}"`);
  }
  if (url.username || url.password || url.search || url.hash) throw new ConfigError(`--public-url must have no credentials, query or fragment, got "${text}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
