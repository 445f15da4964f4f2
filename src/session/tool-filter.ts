/**
 * A server's tool filter, enforced on the wire both ways: every tools/list answer (each page) loses the
 * hidden tools, and a tools/call of a hidden one is refused before it reaches the child. A list_changed
 * needs nothing of its own: the client's next tools/list is filtered again. Globs are picomatch's, with
 * `*` matching any characters (tool names are not paths).
 */
import picomatch from 'picomatch';
import type { ToolFilterConfig } from '../config.js';
import { ownMessage, type WireMessage } from '../protocol/jsonrpc.js';

/** What the spec's servers answer for an unknown tool, and so what a client expects of a hidden one. */
export const INVALID_PARAMS = -32602;

const matcher = (globs: string[]) => picomatch(globs, { dot: true, bash: true });

export class ToolFilter {
  private readonly allowed: ((name: string) => boolean) | undefined;
  private readonly denied: ((name: string) => boolean) | undefined;

  constructor(config: ToolFilterConfig) {
    this.allowed = config.allow && matcher(config.allow);
    this.denied = config.deny.length > 0 ? matcher(config.deny) : undefined;
  }

  /** Rule: a tool is shown when an allow glob matches it (or there is no allow list) and no deny glob does. Why: deny wins, so one line hides a dangerous tool whatever the allow list says. */
  shows(name: string): boolean {
    return (this.allowed?.(name) ?? true) && !this.denied?.(name);
  }

  /** The tool a tools/call request names, when the filter hides it. */
  hiddenCall(message: WireMessage): string | undefined {
    const name = (message.message as { params?: { name?: unknown } }).params?.name;
    return typeof name === 'string' && !this.shows(name) ? name : undefined;
  }

  /** A tools/list answer without the hidden tools: the same message (and text) when it hides none. */
  listed(message: WireMessage): WireMessage {
    const result = (message.message as { result?: { tools?: unknown } }).result;
    if (!Array.isArray(result?.tools)) return message;
    const shown = result.tools.filter((tool: { name?: unknown }) => typeof tool?.name !== 'string' || this.shows(tool.name));
    if (shown.length === result.tools.length) return message;
    return ownMessage({ ...message.message, result: { ...result, tools: shown } } as WireMessage['message']);
  }
}
