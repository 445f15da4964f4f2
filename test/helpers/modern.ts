/** 2026-07-28 requests by hand (headers and `_meta` envelope as a modern client sends them), and the v2 SDK client. */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MCP_HEADERS, rawRequest, type RawResponse } from './client.js';
import { sseRequest, type SseRequest } from './sse-client.js';

export const MODERN = '2026-07-28';

export function envelope(capabilities: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientCapabilities': capabilities,
    'io.modelcontextprotocol/clientInfo': { name: 'modern-test', version: '1' },
    ...extra,
  };
}

let nextId = 1;

/** The headers a modern client sends with this request. */
export function modernHeaders(method: string, params: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = { ...MCP_HEADERS, 'mcp-protocol-version': MODERN, 'mcp-method': method };
  const name = method === 'resources/read' ? params.uri : method === 'tools/call' || method === 'prompts/get' ? params.name : undefined;
  if (typeof name === 'string') headers['mcp-name'] = name;
  return headers;
}

export interface ModernReply {
  status: number;
  headers: RawResponse['headers'];
  /** Every JSON-RPC message of the answer (one for JSON, each SSE event's for a stream). */
  messages: Array<{ id?: unknown; method?: string; result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown }; params?: Record<string, unknown> }>;
  /** The last message: the request's answer. */
  answer: ModernReply['messages'][number];
}

/** POSTs one modern request (params get the envelope unless they carry `_meta` of their own) and reads the whole answer. */
export async function modernRequest(
  url: string,
  method: string,
  params: Record<string, unknown> = {},
  { capabilities = {}, headers = {}, id = nextId++ }: { capabilities?: Record<string, unknown>; headers?: Record<string, string>; id?: number } = {},
): Promise<ModernReply> {
  const withMeta = params._meta ? params : { ...params, _meta: envelope(capabilities) };
  const response = await rawRequest(url, {
    headers: { ...modernHeaders(method, withMeta), ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: withMeta }),
  });
  const type = String(response.headers['content-type'] ?? '');
  const messages = type.startsWith('text/event-stream')
    ? response.body
        .split('\n')
        .filter((line) => line.startsWith('data: ') && line.length > 6)
        .map((line) => JSON.parse(line.slice(6)))
    : response.body
      ? [JSON.parse(response.body)]
      : [];
  return { status: response.status, headers: response.headers, messages, answer: messages[messages.length - 1] };
}

/** The v2 SDK client, pinned to 2026-07-28 or negotiating ('auto'), answering sampling and elicitation. */
export async function modernClient(url: string, mode: 'auto' | 'pin' = 'pin', capabilities: Record<string, unknown> = { sampling: {}, elicitation: {} }): Promise<Client> {
  const client = new Client(
    { name: 'modern-test', version: '1' },
    { capabilities, versionNegotiation: { mode: mode === 'auto' ? 'auto' : { pin: MODERN } } },
  );
  client.setRequestHandler('sampling/createMessage', async (request) => ({
    role: 'assistant',
    content: { type: 'text', text: `sampled: ${JSON.stringify(request.params.messages[0]?.content)}` },
    model: 'test-model',
  }));
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** One modern request as a stream the test reads as it comes (and may close): `params` must carry their `_meta`. */
export function modernStream(url: string, method: string, params: Record<string, unknown>, id: number | string): SseRequest {
  return sseRequest(url, { method: 'POST', headers: modernHeaders(method, params), body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
}
