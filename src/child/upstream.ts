/**
 * The server side of one session, as the session sees it: where its client's messages go and where the
 * server's come from. A dedicated child (the default) or a share of one child (--shared) look alike here.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ChildProcess, ExitStatus } from './child-process.js';
import { StdioChannel } from './stdio-channel.js';

export interface UpstreamEvents {
  message(message: JSONRPCMessage): void;
  /** The server side is gone for this session: its process exited, or broke the protocol. */
  ended(cause: 'exit' | 'overflow', status: ExitStatus | undefined): void;
}

export interface Upstream {
  /** The process behind it, for logs. */
  readonly pid: number;
  /** Writes a message toward the server; false when it can no longer take one. */
  send(message: JSONRPCMessage): boolean;
  /** Detaches the session; a dedicated child is ended. Resolves with how that child ended, if it did. */
  close(graceMs: number): Promise<ExitStatus | undefined>;
}

export interface UpstreamContext {
  /** The session's logger as it is now (it gains the session id once initialized). */
  log: () => Logger;
  metrics: Metrics;
  maxLineBytes: number;
}

/** One child for one session: its stdio is the session's, its exit ends the session. */
export function dedicatedUpstream(child: ChildProcess, context: UpstreamContext, events: UpstreamEvents): Upstream {
  const { log, metrics } = context;
  const channel = new StdioChannel(child, context.maxLineBytes, {
    message: events.message,
    invalidLine: (error) => log().warn({ err: error.message.slice(0, 200) }, 'skipped a stdout line that is not JSON-RPC'),
    overflow: (error) => {
      log().error({ err: error.message }, 'child wrote an over-long stdout line');
      events.ended('overflow', undefined);
    },
    traffic: (direction, bytes) => metrics.relayed(direction === 'in' ? 'to_client' : 'to_child', 0, bytes),
  });
  child.onStderrLine = (line) => log().info({ stderr: line }, 'child stderr');
  let exitStatus: ExitStatus | undefined;
  void child.exited.then((status) => {
    exitStatus = status;
    metrics.childExited(status);
    events.ended('exit', status);
  });
  return {
    pid: child.pid,
    send: (message) => channel.send(message),
    close: async (graceMs) => {
      channel.stop();
      await child.terminate(graceMs);
      return exitStatus ?? (await child.exited);
    },
  };
}
