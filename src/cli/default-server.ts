/** With no command given, the bridge serves mcp-nixos, found the first way that works on this machine. */
import { findOnPath } from '../child/find-command.js';
import { ConfigError, type ChildCommand } from '../config.js';

/** mcp-nixos speaks stdio only when told to, and FastMCP prints banners and update checks unless told not to. */
export const MCP_NIXOS_ENVIRONMENT: Record<string, string> = {
  MCP_NIXOS_TRANSPORT: 'stdio',
  FASTMCP_SHOW_SERVER_BANNER: 'false',
  FASTMCP_SHOW_CLI_BANNER: 'false',
  FASTMCP_CHECK_FOR_UPDATES: 'off',
  FASTMCP_ENV_FILE: '/dev/null',
};

/** Order: an installed mcp-nixos, then uvx (PyPI), then nix run (nixpkgs); each needs less set up than the next. */
export function resolveDefaultServer(pathVariable: string | undefined): ChildCommand {
  const installed = findOnPath('mcp-nixos', pathVariable);
  if (installed) return { command: installed, args: [], source: 'mcp-nixos on PATH' };
  const uvx = findOnPath('uvx', pathVariable);
  if (uvx) return { command: uvx, args: ['mcp-nixos'], source: 'uvx mcp-nixos' };
  const nix = findOnPath('nix', pathVariable);
  if (nix) {
    return {
      command: nix,
      args: ['--extra-experimental-features', 'nix-command flakes', 'run', 'nixpkgs#mcp-nixos', '--'],
      source: 'nix run nixpkgs#mcp-nixos',
    };
  }
  throw new ConfigError(
    'no command given and mcp-nixos was not found (looked for mcp-nixos, uvx and nix on PATH). ' +
      'Install it (pip install mcp-nixos, or nix profile install nixpkgs#mcp-nixos) ' +
      'or name a server: mcp-bridge -- <command> [args...]',
  );
}
