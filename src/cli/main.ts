/** Entry point: parse options (exit 2 on bad ones), then run the bridge, or one of the owner's `oauth` commands. */
import { ConfigError } from '../config.js';
import { createLogger } from '../log.js';
import { runBridge } from '../server.js';
import { runOAuthCommand } from './oauth-command.js';
import { parseArgs } from './parse-args.js';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => (text += chunk));
    process.stdin.once('end', () => resolve(text));
    process.stdin.once('error', reject);
  });
}

function userError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`mcp-bridge: ${error.message}\nTry 'mcp-bridge --help'.\n`);
  process.exit(2);
}

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = await parseArgs(argv);
  } catch (error) {
    userError(error);
  }
  if (parsed.kind === 'exit') {
    process.stdout.write(`${parsed.output}\n`);
    return;
  }
  if (parsed.kind === 'oauth') {
    await runOAuthCommand(parsed.args, { stdout: (text) => process.stdout.write(text), stdin: readStdin, env: process.env }).catch(userError);
    return;
  }
  const log = createLogger(parsed.config.logLevel, parsed.config.logFormat);
  for (const warning of parsed.warnings) log.warn(warning);
  await runBridge(parsed.config, log);
}
