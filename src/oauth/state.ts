/**
 * What the authorization server keeps across restarts: registered clients and grants, with every token
 * only as a SHA-256 hash. One JSON file in the state directory, mode 0600, written atomically (a temporary
 * file, fsync, rename). Only the bridge writes it. The owner's commands (`mcp-bridge oauth …`) queue
 * changes as request files in `requests/`, which the bridge applies within a second while it runs and at
 * start otherwise. That works the same when the commands run on a microVM's host and the bridge in the
 * guest, on a shared directory where neither can signal the other: the bridge's lease file, rewritten every
 * few seconds, tells the commands whether one is there to apply them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fchownSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface ClientRecord {
  id: string;
  /** `dcr`: registered by a client (RFC 7591); `static`: made by the owner for Claude's "own client ID" fields. */
  kind: 'dcr' | 'static';
  name: string;
  redirectUris: string[];
  /** A static client's secret, hashed; none for public clients. */
  secretHash?: string;
  createdAt: number;
  lastUsedAt: number;
}

export interface RefreshState {
  hash: string;
  /** The refresh token before this one: still accepted until this one is first used (one step of grace). */
  prevHash?: string;
  /** Older refresh tokens of the grant: presenting one revokes the grant (it was stolen, or replayed). */
  retired: string[];
  idleExpiresAt: number;
  absoluteExpiresAt: number;
}

export interface GrantRecord {
  id: string;
  clientId: string;
  clientName: string;
  resource: string;
  scope: string;
  createdAt: number;
  /** The client address the owner logged in from. */
  from: string;
  refresh: RefreshState;
  access: Array<{ hash: string; expiresAt: number }>;
}

interface StateFile {
  version: 1;
  /** A fingerprint of the owner line the grants were made under: a new passphrase revokes them all. */
  owner: string;
  clients: Record<string, ClientRecord>;
  grants: Record<string, GrantRecord>;
}

export type StateRequest = { op: 'revoke'; grant: string } | { op: 'revoke-all' } | { op: 'add-client'; client: ClientRecord };

export const STATE_FILE = 'oauth.json';
export const LEASE_FILE = 'bridge.lease';
/** How often a running bridge rewrites its lease (its content, so the mtime is the file system's clock, not a guest's). */
export const LEASE_REFRESH_MS = 5_000;
/** A lease not rewritten for this long has no bridge behind it (it was killed). */
const LEASE_STALE_MS = 3 * LEASE_REFRESH_MS;
const REQUESTS = 'requests';

export const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

export class OAuthState {
  clients = new Map<string, ClientRecord>();
  grants = new Map<string, GrantRecord>();
  constructor(
    readonly dir: string,
    /** The owner line the grants belong to; undefined for the commands, which only read. */
    private ownerLine?: string,
  ) {}

  /** The bridge's start: the directory made if missing, the state read (none yet: empty). Grants made under another owner line are dropped. */
  open(): void {
    mkdirSync(join(this.dir, REQUESTS), { recursive: true, mode: 0o700 });
    this.load();
  }

  /** A new owner line (a new passphrase) revokes every grant; returns whether it changed. */
  setOwner(line: string): boolean {
    if (line === this.ownerLine) return false;
    this.ownerLine = line;
    this.grants.clear();
    return true;
  }

  load(): void {
    let file: StateFile | undefined;
    try {
      file = JSON.parse(readFileSync(join(this.dir, STATE_FILE), 'utf8')) as StateFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${join(this.dir, STATE_FILE)}: ${(error as Error).message}`);
    }
    this.clients = new Map(Object.entries(file?.clients ?? {}));
    const sameOwner = this.ownerLine === undefined || file?.owner === sha256(this.ownerLine);
    this.grants = new Map(sameOwner ? Object.entries(file?.grants ?? {}) : []);
  }

  save(): void {
    if (this.ownerLine === undefined) throw new Error('the state is written only by the bridge');
    const file: StateFile = {
      version: 1,
      owner: sha256(this.ownerLine),
      clients: Object.fromEntries(this.clients),
      grants: Object.fromEntries(this.grants),
    };
    const path = join(this.dir, STATE_FILE);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(file));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  }

  /**
   * Queues a change for the bridge; returns the request file's path (gone once applied). Run as root (the
   * owner with sudo), the file is given to the directory's owner, the service's user, so that it can read it.
   */
  request(request: StateRequest): string {
    const dir = join(this.dir, REQUESTS);
    // Written under a name the bridge skips, then renamed: it never reads half a request.
    const name = `${Date.now()}-${randomBytes(4).toString('hex')}`;
    const temporary = join(dir, `.${name}`);
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      if (process.getuid?.() === 0) {
        const owner = statSync(dir);
        fchownSync(fd, owner.uid, owner.gid);
      }
      writeSync(fd, JSON.stringify(request));
    } finally {
      closeSync(fd);
    }
    const path = join(dir, `${name}.json`);
    renameSync(temporary, path);
    return path;
  }

  /** Applies the queued changes, and removes them unless only looking (the commands' view); returns how many there were. */
  applyRequests(remove = true): number {
    const dir = join(this.dir, REQUESTS);
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        this.apply(JSON.parse(readFileSync(path, 'utf8')) as StateRequest);
      } catch {
        // a foreign file: dropped below
      }
      if (remove) rmSync(path, { force: true });
    }
    return names.length;
  }

  /** The running bridge's mark: rewritten every LEASE_REFRESH_MS, removed at exit. */
  writeLease(): void {
    writeFileSync(join(this.dir, LEASE_FILE), `${process.pid}\n`, { mode: 0o600 });
  }

  removeLease(): void {
    rmSync(join(this.dir, LEASE_FILE), { force: true });
  }

  /** Whether a bridge runs on this state now, to apply queued changes. */
  leaseHeld(now = Date.now()): boolean {
    try {
      return now - statSync(join(this.dir, LEASE_FILE)).mtimeMs < LEASE_STALE_MS;
    } catch {
      return false;
    }
  }

  private apply(request: StateRequest): void {
    if (request.op === 'revoke') this.grants.delete(request.grant);
    else if (request.op === 'revoke-all') this.grants.clear();
    else if (request.op === 'add-client') this.clients.set(request.client.id, request.client);
  }
}

/** The state directory: --state-dir, else systemd's STATE_DIRECTORY (its first entry), else $XDG_STATE_HOME/mcp-bridge. */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  const xdg = env.XDG_STATE_HOME || join(env.HOME ?? '/tmp', '.local', 'state');
  return join(xdg, 'mcp-bridge');
}
