#!/usr/bin/env node
// Not an MCP gateway: the least a Node HTTP front of a stdio server can do, as a reference for what
// node:http and a pipe cost on this machine. One child for every session, request ids renumbered so
// that sessions cannot collide, every answer an SSE stream of one event written in one go (no event ids,
// no priming, no session checks, no validation, no limits). Server notifications and requests are
// dropped. Prints its URL like the bridge.
//   node floor-server.mjs COMMAND [ARGS...]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { onAnswer } from './json-lines.mjs';

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
child.on('exit', () => process.exit(1));
const waiting = new Map(); // bridge id -> { res, id }
let nextId = 0;
onAnswer(child.stdout, (message) => {
  const request = waiting.get(message.id);
  if (!request) return;
  waiting.delete(message.id);
  message.id = request.id;
  request.res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': request.session });
  request.res.end(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
});

const server = http.createServer((req, res) => {
  if (req.method === 'GET') return void res.writeHead(405, { allow: 'POST, DELETE' }).end();
  if (req.method !== 'POST') return void res.writeHead(200).end();
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let message;
    try {
      message = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return void res.writeHead(400).end();
    }
    if (!('id' in message)) return void res.writeHead(202).end();
    const id = ++nextId;
    waiting.set(id, { res, id: message.id, session: req.headers['mcp-session-id'] ?? randomUUID() });
    child.stdin.write(`${JSON.stringify({ ...message, id })}\n`);
  });
});
server.listen(0, '127.0.0.1', () => console.log(`floor listening on http://127.0.0.1:${server.address().port}/mcp`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => (child.kill(), process.exit(0)));
