/**
 * The child's environment is explicit: a small safe base, then what the operator passes.
 * The parent's environment can hold secrets (tokens, cloud keys) that a stdio server must not see by accident.
 */

/** Variables every child gets when the bridge has them: what programs need to run, find certificates and pick a locale. */
export const SAFE_BASE_VARIABLES = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TERM',
  'TZ',
  'TMPDIR',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NIX_SSL_CERT_FILE',
];

/** Never passed on, not even with `--pass-env '*'`: the bridge's own settings and its systemd channels. */
const NEVER_PASSED = /^(MCP_BRIDGE_|NOTIFY_SOCKET$|WATCHDOG_|LISTEN_FDS$|LISTEN_PID$|LISTEN_FDNAMES$)/;

export interface EnvironmentOptions {
  /** Names (or `PREFIX*` patterns, or `*`) copied from the bridge's environment. */
  passEnv: string[];
  /** Values set explicitly; they win over everything else. */
  set: Record<string, string>;
  /** Values the default server needs; explicit `set` entries override them. */
  defaults?: Record<string, string>;
}

function matches(name: string, pattern: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

export function buildChildEnvironment(
  parent: NodeJS.ProcessEnv,
  options: EnvironmentOptions,
): Record<string, string> {
  const env: Record<string, string> = {};
  const patterns = [...SAFE_BASE_VARIABLES, ...options.passEnv];
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || NEVER_PASSED.test(name)) continue;
    if (patterns.some((pattern) => matches(name, pattern))) env[name] = value;
  }
  return { ...env, ...options.defaults, ...options.set };
}

/** Parses one `--env KEY=VALUE`; throws a message for anything else. */
export function parseEnvAssignment(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq > 0 ? text.slice(0, eq) : '';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
    throw new Error(`--env expects KEY=VALUE with a valid variable name, got "${text}"`);
  }
  return [key, text.slice(eq + 1)];
}
