/** Paths of the pinned third-party clients in test/interop/node_modules, run on the Node 22 they need. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
export const NODE22 = `${here}node_modules/.bin/node`;
export const INSPECTOR = `${here}node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js`;
export const MCP_REMOTE = `${here}node_modules/mcp-remote/dist/proxy.js`;
export const MCP_REMOTE_CLIENT = `${here}node_modules/mcp-remote/dist/client.js`;
export const CONFORMANCE = `${here}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
/** @modelcontextprotocol/conformance 0.2.0-alpha.12, installed beside 0.1.16 under an alias: the 2026-07-28 requirements. */
export const CONFORMANCE_2026 = `${here}node_modules/conformance-2026/dist/index.js`;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a script on Node 22 and collects its output; never rejects. */
export function runOnNode22(args: string[], { timeoutMs = 120_000, cwd }: { timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      NODE22,
      args,
      { timeout: timeoutMs, cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PATH: `${here}node_modules/.bin:${process.env.PATH}` } },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
