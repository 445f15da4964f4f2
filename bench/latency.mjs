#!/usr/bin/env node
// Quick latency benchmark: one tools/call through the bridge vs. the same call over stdio directly.
// Prints a markdown table; figures are ratios to the direct baseline measured in the same run.
// Usage: npm run build && node bench/latency.mjs [calls=2000]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const server = [process.execPath, `${root}test/fixtures/fixture-server.mjs`];
const calls = Number(process.argv[2] ?? 2000);
const block = 100;

async function directClient() {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StdioClientTransport({ command: server[0], args: server.slice(1) }));
  return { client, close: () => client.close() };
}

async function bridgeClient() {
  const bridge = spawn(process.execPath, [`${root}bin/mcp-bridge.js`, '--port', '0', '--log-level', 'warn', '--', ...server], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    bridge.stdout.on('data', (chunk) => {
      const match = /listening on (\S+)/.exec(String(chunk));
      if (match) resolve(match[1]);
    });
    bridge.once('exit', (code) => reject(new Error(`bridge exited ${code}`)));
  });
  const client = new Client({ name: 'bench', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await transport.terminateSession();
      await client.close();
      bridge.kill('SIGTERM');
      await new Promise((resolve) => bridge.once('exit', resolve));
    },
  };
}

async function timeCalls(client, n) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await client.callTool({ name: 'echo', arguments: { text: `call ${i}` } });
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const drivers = { direct: await directClient(), bridge: await bridgeClient() };
const samples = { direct: [], bridge: [] };
for (const [, d] of Object.entries(drivers)) await timeCalls(d.client, 200); // warm-up
for (let done = 0; done < calls; done += block) {
  // Interleaved blocks, so that both drivers see the same machine load.
  for (const [name, d] of Object.entries(drivers)) samples[name].push(...(await timeCalls(d.client, block)));
}
for (const d of Object.values(drivers)) await d.close();

const stats = Object.fromEntries(
  Object.entries(samples).map(([name, s]) => {
    const sorted = [...s].sort((a, b) => a - b);
    return [name, { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean: s.reduce((a, b) => a + b, 0) / s.length }];
  }),
);
const base = stats.direct;
console.log(`\n${calls} tools/call (echo) per driver, ${new Date().toISOString().slice(0, 10)}, node ${process.version}\n`);
console.log('| driver | p50 ms | p99 ms | mean ms | p50 / direct | added p50 ms |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, s] of Object.entries(stats)) {
  console.log(
    `| ${name} | ${s.p50.toFixed(3)} | ${s.p99.toFixed(3)} | ${s.mean.toFixed(3)} | ${(s.p50 / base.p50).toFixed(2)}× | ${(s.p50 - base.p50).toFixed(3)} |`,
  );
}
