// The answers a stdio MCP server writes: each stdout line parsed as JSON, lines that are not JSON and
// messages from the server (requests, notifications) skipped. Shared by raw-client.mjs and floor-server.mjs.
import { createInterface } from 'node:readline';

export function onAnswer(stdout, handle) {
  createInterface({ input: stdout }).on('line', (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (!('method' in message)) handle(message);
  });
}
