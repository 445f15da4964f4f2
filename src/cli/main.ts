/** Entry point: parse options (exit 2 on bad ones), then run the bridge. */
import { ConfigError } from '../config.js';
import { createLogger } from '../log.js';
import { runBridge } from '../server.js';
import { parseArgs } from './parse-args.js';

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = await parseArgs(argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`mcp-bridge: ${error.message}\nTry 'mcp-bridge --help'.\n`);
    process.exit(2);
  }
  if (parsed.kind === 'exit') {
    process.stdout.write(`${parsed.output}\n`);
    return;
  }
  const log = createLogger(parsed.config.logLevel, parsed.config.logFormat);
  for (const warning of parsed.warnings) log.warn(warning);
  await runBridge(parsed.config, log);
}
