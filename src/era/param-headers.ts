/**
 * `Mcp-Param-{Name}` headers (SEP-2243): a tool may declare, with `x-mcp-header` on an argument of its input
 * schema, that a 2026-07-28 client mirrors that argument in a header, for intermediaries to route on. A server
 * that reads the body must check that the two agree. The bridge learns the declarations from the tools/list
 * answers it passes on (owner: one server's front; bound: MAX_TOOLS tools, the latest list wins) and checks
 * each tools/call against them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { decodeHeaderValue } from './modern-request.js';

/** Tools whose declarations are kept; a server listing more has the rest go unchecked. */
const MAX_TOOLS = 1024;

export interface ParamMismatch {
  header: string;
  body: string;
}

export class ParamHeaders {
  /** Per tool: its arguments mirrored in headers, and each header's name (lowercase). */
  private readonly declared = new Map<string, Array<{ argument: string; header: string; numeric: boolean }>>();

  /** Learns the declarations of a tools/list page. */
  listed(tools: unknown): void {
    if (!Array.isArray(tools)) return;
    for (const tool of tools as Array<{ name?: unknown; inputSchema?: { properties?: Record<string, Record<string, unknown>> } }>) {
      if (typeof tool?.name !== 'string') continue;
      const mirrored = Object.entries(tool.inputSchema?.properties ?? {})
        .filter(([, schema]) => typeof schema?.['x-mcp-header'] === 'string')
        .map(([argument, schema]) => ({
          argument,
          header: `mcp-param-${String(schema['x-mcp-header']).toLowerCase()}`,
          numeric: schema.type === 'number' || schema.type === 'integer',
        }));
      this.declared.delete(tool.name);
      if (mirrored.length > 0 && this.declared.size < MAX_TOOLS) this.declared.set(tool.name, mirrored);
    }
  }

  /**
   * Rule: each declared argument the call carries (not null) must come with its header, decoding to the same
   * value (numbers compared as numbers); a header for an absent argument is ignored. Why: SEP-2243's server
   * rule, so that what an intermediary routed on is what the server acts on.
   */
  mismatch(tool: string, args: unknown, headers: IncomingHttpHeaders): ParamMismatch | undefined {
    const values = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
    for (const { argument, header, numeric } of this.declared.get(tool) ?? []) {
      const value = values[argument];
      if (value === undefined || value === null) continue;
      const raw = headers[header];
      const body = typeof value === 'string' ? value : JSON.stringify(value);
      if (typeof raw !== 'string') return { header: '(missing)', body: `arguments.${argument}=${body} but the ${header} header is absent` };
      const decoded = decodeHeaderValue(raw.trim());
      if (decoded === undefined) return { header: raw, body: `the ${header} header carries an invalid Base64 value` };
      const same = numeric ? Number(decoded) === Number(value) : decoded === (typeof value === 'string' ? value : String(value));
      if (!same) return { header: raw, body: `arguments.${argument}=${body} but the ${header} header names ${decoded}` };
    }
    return undefined;
  }
}
