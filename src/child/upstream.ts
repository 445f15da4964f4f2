/**
 * The server side of one session, as the session sees it: where its client's messages go and where the
 * server's come from. A dedicated child (the default) or a share of one child (--shared) look alike here.
 */
import type { Logger } from '../log.js';
import type { ServerMetrics } from '../metrics.js';
import type { WireMessage } from '../protocol/jsonrpc.js';
import type { ChildProcess, ExitStatus } from './child-process.js';
import { StdioChannel, type StdioChannelEvents } from './stdio-channel.js';

/** Why the server side ended for a session: its process exited, closed its stdout, hung, or broke the protocol. */
export type UpstreamEnd = 'exit' | 'output-closed' | 'hung' | 'overflow';

export interface UpstreamEvents {
  message(message: WireMessage): void;
  ended(cause: UpstreamEnd, status: ExitStatus | undefined): void;
}

export interface Upstream {
  /** The process behind it, for logs; undefined while a shared child is not running. */
  readonly pid: number | undefined;
  /** Whether the session may send now: false while too much of its input waits for the server. */
  accepting(): boolean;
  /** Writes a message toward the server; false when it can no longer take one. */
  send(message: WireMessage): boolean;
  /** Stops reading the server's output for this session (its client is not keeping up), until resumed. */
  pause(): void;
  resume(): void;
  /** Detaches the session; a dedicated child is ended. Resolves with how that child ended, if it did. */
  close(graceMs: number): Promise<ExitStatus | undefined>;
}

export interface UpstreamContext {
  /** The session's logger as it is now. */
  log: () => Logger;
  metrics: ServerMetrics;
  maxLineBytes: number;
  /** Bytes that may wait for the child's stdin before the session's requests are refused. */
  maxInputBytes: number;
  stallTimeoutMs: number;
}

/** The channel events every upstream reports the same way; `ended` is how this upstream ends its session(s). */
export function channelEvents(
  context: Pick<UpstreamContext, 'log' | 'metrics' | 'maxLineBytes'>,
  message: (message: WireMessage) => void,
  ended: (cause: Exclude<UpstreamEnd, 'exit'>) => void,
): StdioChannelEvents {
  const { log, metrics } = context;
  return {
    message,
    invalidLine: (line) => log().warn({ line: line.slice(0, 200) }, 'skipped a stdout line that is not JSON-RPC'),
    overflow: (bytes) => {
      metrics.limitHit('line');
      log().warn({ bytes, limit: context.maxLineBytes }, 'child wrote a stdout line longer than --max-line-size');
      ended('overflow');
    },
    outputEnded: () => ended('output-closed'),
    hung: () => {
      metrics.limitHit('stall');
      log().warn('child took no input for --stall-timeout');
      ended('hung');
    },
    traffic: (direction, bytes) => metrics.relayed(direction === 'in' ? 'to_client' : 'to_child', 0, bytes),
  };
}

/** A process that closes its stdout usually exits right after; this long its exit status is awaited, to report it. */
export const OUTPUT_END_GRACE_MS = 250;

/** Resolves with the exit status if the child exits within the grace, else undefined (it lives on without output). */
export function exitSoon(child: ChildProcess): Promise<ExitStatus | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), OUTPUT_END_GRACE_MS)));
  return Promise.race([child.exited, grace]).finally(() => clearTimeout(timer));
}

/** One child for one session: its stdio is the session's, its end ends the session. */
export function dedicatedUpstream(child: ChildProcess, context: UpstreamContext, events: UpstreamEvents): Upstream {
  const { log, metrics } = context;
  let exitStatus: ExitStatus | undefined;
  let over = false;
  const end = (cause: UpstreamEnd) => {
    if (over) return;
    over = true;
    events.ended(cause, exitStatus);
  };
  const ended = (cause: Exclude<UpstreamEnd, 'exit'>) => {
    if (cause !== 'output-closed') return end(cause);
    // Reported as an exit when it is one, with its status.
    void exitSoon(child).then((status) => {
      if (status) return;
      log().warn('child closed its stdout but did not exit');
      end(cause);
    });
  };
  const channel = new StdioChannel(child.stdin, child.stdout, context, channelEvents(context, events.message, ended));
  child.onStderrLine = (line) => log().info({ stderr: line }, 'child stderr');
  void child.exited.then((status) => {
    exitStatus = status;
    metrics.childExited(status);
    end('exit');
  });
  return {
    pid: child.pid,
    accepting: () => channel.queuedBy() < context.maxInputBytes,
    send: (message) => channel.send(message),
    pause: () => channel.pause(),
    resume: () => channel.resume(),
    close: async (graceMs) => {
      channel.stop();
      await child.terminate(graceMs);
      return exitStatus ?? (await child.exited);
    },
  };
}
