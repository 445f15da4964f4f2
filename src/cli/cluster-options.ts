/** --node-id, --peer, --peer-secret-file and --drain-timeout: this bridge as one node of several. */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ConfigError, type ClusterConfig } from '../config.js';
import { seconds } from './option-values.js';

const NODE_ID = /^[a-z0-9]{1,16}$/;

/** `NODE=URL`: a peer's id and origin (http or https, no path: requests keep theirs). */
function peerOf(text: string, self: string): [string, string] {
  const [node, url] = [text.slice(0, text.indexOf('=')), text.slice(text.indexOf('=') + 1)];
  if (!text.includes('=') || !NODE_ID.test(node)) throw new ConfigError(`--peer must be NODE=URL with NODE of [a-z0-9]{1,16}, got "${text}"`);
  if (node === self) throw new ConfigError(`--peer ${node} is this node's own id (--node-id)`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`--peer ${node}: "${url}" is not a URL like http://10.0.0.2:8080`);
  }
  if (!/^https?:$/.test(parsed.protocol) || parsed.pathname !== '/' || parsed.search || parsed.username) {
    throw new ConfigError(`--peer ${node}: the URL must be http(s)://HOST:PORT with no path, got "${url}"`);
  }
  return [node, parsed.origin];
}

export function clusterOf(parsed: { nodeId?: string; peer: string[]; peerSecretFile?: string; drainTimeout: unknown }): ClusterConfig {
  if (parsed.nodeId !== undefined && !NODE_ID.test(parsed.nodeId)) {
    throw new ConfigError(`--node-id must be 1 to 16 lowercase letters and digits, got "${parsed.nodeId}"`);
  }
  const nodeId = parsed.nodeId ?? randomNodeId();
  const peers = new Map<string, string>();
  for (const text of parsed.peer) {
    const [node, origin] = peerOf(text, nodeId);
    if (peers.has(node)) throw new ConfigError(`--peer ${node} is given twice`);
    peers.set(node, origin);
  }
  if (peers.size > 0 && parsed.peerSecretFile === undefined) {
    throw new ConfigError('--peer needs --peer-secret-file: the nodes prove themselves to each other with a shared secret');
  }
  return {
    nodeId,
    nodeIdGiven: parsed.nodeId !== undefined,
    peers,
    peerSecretFile: parsed.peerSecretFile === undefined ? undefined : resolve(parsed.peerSecretFile),
    drainTimeoutMs: seconds('drain-timeout', parsed.drainTimeout, { allowZero: true }),
  };
}

/** Six characters of [a-z0-9], chosen at random: unique enough among a handful of nodes. */
function randomNodeId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(6), (byte) => alphabet[byte % alphabet.length]).join('');
}
