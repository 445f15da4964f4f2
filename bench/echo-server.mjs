#!/usr/bin/env node
// The cheapest stdio MCP server we can write: newline-delimited JSON-RPC on stdin/stdout, no SDK,
// no schema validation. It answers initialize, ping, tools/list and tools/call `echo`, and ignores
// notifications. Used as a backend so that the benchmark measures the transport in front of it,
// not the server: whatever time or memory a driver adds over `direct` is the driver's own.
import { createInterface } from 'node:readline';

const TOOLS = [
  {
    name: 'echo',
    description: 'Echoes back the input string',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
];

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function answer(request) {
  switch (request.method) {
    case 'initialize':
      return {
        // Agree to whatever revision the client asks for: this server has no revision-specific behaviour.
        protocolVersion: request.params?.protocolVersion ?? '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'bench-echo', version: '1.0.0' },
      };
    case 'ping':
      return {};
    case 'tools/list':
      return { tools: TOOLS };
    case 'tools/call':
      if (request.params?.name !== 'echo') return undefined;
      // Same reply text as server-everything's echo tool, so that the harness checks both alike.
      return { content: [{ type: 'text', text: `Echo: ${request.params?.arguments?.message ?? ''}` }] };
    default:
      return undefined;
  }
}

createInterface({ input: process.stdin, crlfDelay: Infinity })
  .on('line', (line) => {
    if (!line.trim()) return;
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    // Notifications (no id) and responses to server requests (no method) need no answer.
    if (message.id === undefined || message.method === undefined) return;
    const result = answer(message);
    if (result === undefined) {
      send({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: `Unknown method or tool` } });
    } else {
      send({ jsonrpc: '2.0', id: message.id, result });
    }
  })
  // A stdio server's life is its stdin: when the client goes away, so do we.
  .on('close', () => process.exit(0));
