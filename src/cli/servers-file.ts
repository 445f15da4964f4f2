/**
 * `--config FILE`: several servers in Claude Desktop's format, `{"mcpServers": {NAME: {command, args, env,
 * cwd, disabled}}}` (or VS Code's top-level `"servers"`), with our own keys per server (`tools`, `shared`,
 * `pool`, `maxSessions`, `idleTimeout`, `authTokenFile`, `childEra`). Unknown keys are ignored, since the same file often
 * serves other clients; a known key with a bad value stops the bridge with a message naming the server and
 * the key.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ServerConfig, type ToolFilterConfig } from '../config.js';

/** One server entry as the file gives it, checked; paths are absolute (relative ones are from the file's folder). */
export interface ServerEntry {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  tools: ToolFilterConfig | undefined;
  shared: boolean | undefined;
  pool: number | undefined;
  childEra: ServerConfig['childEra'] | undefined;
  maxSessions: number | undefined;
  idleTimeoutMs: number | undefined;
  authTokenFile: string | undefined;
}

export const SERVER_NAME = /^[a-z0-9-]+$/;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

class Entry {
  constructor(
    private readonly file: string,
    readonly name: string,
    private readonly json: Json,
  ) {}

  fail(key: string, wanted: string): never {
    throw new ConfigError(`${this.file}: server "${this.name}": "${key}" must be ${wanted}, got ${JSON.stringify(this.json[key])}`);
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const value = this.json[key];
    if (typeof value !== 'string' || value === '') this.fail(key, 'a non-empty string');
    return value;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value !== undefined && !values.includes(value as T)) this.fail(key, `one of ${values.map((v) => `"${v}"`).join(', ')}`);
    return value as T | undefined;
  }

  boolean(key: string): boolean | undefined {
    if (!this.has(key)) return undefined;
    const value = this.json[key];
    if (typeof value !== 'boolean') this.fail(key, 'true or false');
    return value;
  }

  integer(key: string, min: number): number | undefined {
    if (!this.has(key)) return undefined;
    const value = this.json[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) this.fail(key, min === 0 ? 'a non-negative integer' : 'a positive integer');
    return value;
  }

  strings(key: string, value: unknown = this.json[key], where = key): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) this.fail(where, 'a list of strings');
    return value as string[];
  }

  environment(): Record<string, string> {
    if (!this.has('env')) return {};
    const env = this.json.env;
    if (!isObject(env) || !Object.entries(env).every(([key, value]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && typeof value === 'string')) {
      this.fail('env', 'an object of variable names to strings');
    }
    return env as Record<string, string>;
  }

  tools(): ToolFilterConfig | undefined {
    if (!this.has('tools')) return undefined;
    const tools = this.json.tools;
    if (!isObject(tools)) this.fail('tools', 'an object with "allow" and/or "deny" lists of globs');
    const allow = this.strings('tools.allow', tools.allow);
    const deny = this.strings('tools.deny', tools.deny);
    return { allow, deny: deny ?? [] };
  }

  /** A path from the file, absolute: relative ones start at the file's folder. */
  path(key: string): string | undefined {
    const value = this.string(key);
    return value === undefined ? undefined : resolve(dirname(this.file), value);
  }
}

function entryOf(file: string, name: string, json: unknown): ServerEntry | undefined {
  if (!SERVER_NAME.test(name)) throw new ConfigError(`${file}: server name "${name}" must be lowercase letters, digits and "-" only`);
  if (!isObject(json)) throw new ConfigError(`${file}: server "${name}" must be an object`);
  const entry = new Entry(file, name, json);
  if (entry.boolean('disabled')) return undefined;
  // VS Code's and Claude Code's files also describe remote servers; the bridge runs stdio ones only.
  const type = entry.string('type');
  if (type !== undefined && type !== 'stdio') entry.fail('type', '"stdio" (the bridge runs local servers only)');
  const command = entry.string('command') ?? entry.fail('command', 'the server\'s program, a non-empty string');
  const cwd = entry.path('cwd');
  if (cwd !== undefined && !statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) entry.fail('cwd', 'an existing directory');
  const shared = entry.boolean('shared');
  const pool = entry.integer('pool', 0);
  if (shared && (pool ?? 0) > 0) entry.fail('pool', '0 or absent with "shared": true, which keeps one child for all sessions');
  const idleTimeout = entry.integer('idleTimeout', 1);
  return {
    name,
    command,
    args: entry.strings('args') ?? [],
    env: entry.environment(),
    cwd,
    tools: entry.tools(),
    shared,
    pool,
    childEra: entry.oneOf('childEra', ['auto', 'legacy', 'modern']),
    maxSessions: entry.integer('maxSessions', 1),
    idleTimeoutMs: idleTimeout === undefined ? undefined : idleTimeout * 1000,
    authTokenFile: entry.path('authTokenFile'),
  };
}

/** The enabled servers of a config file, in the file's order; throws ConfigError for anything to fix. */
export function readServersFile(path: string): ServerEntry[] {
  const file = resolve(path);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${file}: ${(error as Error).message}`);
  }
  const servers = isObject(json) ? (json.mcpServers ?? json.servers) : undefined;
  if (!isObject(servers)) throw new ConfigError(`${file}: expected {"mcpServers": {"NAME": {"command": …}}} (or VS Code's "servers")`);
  const entries = Object.entries(servers).flatMap(([name, server]) => entryOf(file, name, server) ?? []);
  if (entries.length === 0) throw new ConfigError(`${file}: no server is enabled`);
  return entries;
}
