#!/usr/bin/env node
// A client that vanishes: opens N sessions (each makes one call), prints one JSON line
// {"ready":true,"pids":[...]} and waits to be SIGKILLed by the harness. Dying as a process is the most
// faithful "client went away without DELETE": the kernel closes its sockets and pipes, nothing is sent.
// Usage: node vanish-client.mjs N (--url URL | --stdio COMMAND [ARGS...])
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [count, mode, ...rest] = process.argv.slice(2);
// Never outlive the harness by much, even if it forgets us: the run is bounded.
setTimeout(() => process.exit(2), 120_000).unref();

const pids = [];
await Promise.all(
  Array.from({ length: Number(count) }, async (_, i) => {
    const client = new Client({ name: 'mcp-bridge-bench-vanish', version: '1.0.0' });
    if (mode === '--url') {
      await client.connect(new StreamableHTTPClientTransport(new URL(rest[0])));
    } else {
      const transport = new StdioClientTransport({ command: rest[0], args: rest.slice(1), stderr: 'ignore' });
      await client.connect(transport);
      pids.push(transport.pid);
    }
    await client.callTool({ name: 'echo', arguments: { message: `vanish ${i}` } });
  }),
);
process.stdout.write(`${JSON.stringify({ ready: true, pids })}\n`);
setInterval(() => undefined, 1_000); // stay alive until killed
