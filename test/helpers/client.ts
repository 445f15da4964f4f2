/** A real SDK client over Streamable HTTP, with the capabilities a test asks for. */
import { request as httpRequest } from 'node:http';
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export async function connect(
  url: string,
  capabilities: NonNullable<ClientOptions['capabilities']> = {},
  setup?: (client: Client) => void,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'bridge-test', version: '1.0.0' }, { capabilities });
  setup?.(client);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
}

export const INIT_BODY = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Opens a session with raw fetch and returns its id (the initialize stream is read to its end). */
export async function rawInitialize(url: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
  const id = response.headers.get('mcp-session-id');
  await response.text();
  if (!id) throw new Error(`no session id (status ${response.status})`);
  await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, 'mcp-session-id': id },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  return id;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): { jsonrpc?: string; id?: unknown; error?: { code: number; message: string }; result?: unknown };
}

const quieted = new WeakSet<object>();

/** One HTTP request with full control of the headers (fetch will not let a test forge Host). */
export function rawRequest(
  url: string,
  { method = 'POST', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: text,
          json: () => JSON.parse(text) as ReturnType<RawResponse['json']>,
        }),
      );
    });
    request.on('error', reject);
    // A server may answer (413) and close before a large body is all sent: the late EPIPE is expected.
    // Once per socket: the global agent keeps sockets alive and hands the same one to later requests.
    request.on('socket', (socket) => {
      if (quieted.has(socket)) return;
      quieted.add(socket);
      socket.on('error', () => undefined);
    });
    request.end(body);
  });
}
