/** Why a session ends: the reasons metrics and logs name, and the words a call failed by it is told. */
import type { UpstreamEnd } from '../child/upstream.js';

export type EndReason =
  | 'deleted'
  | 'idle'
  | 'evicted'
  | 'stalled'
  | 'child-exit'
  | 'child-output'
  | 'child-closed-output'
  | 'child-hung'
  | 'shutdown'
  | 'drained'
  | 'not-initialized';

/** What a call still in flight is told when its session ends for this reason. */
export const END_MESSAGES: Record<EndReason, string> = {
  deleted: 'the session was deleted',
  idle: 'the session was idle too long',
  evicted: 'the session was evicted to make room for a new one',
  stalled: 'the client did not read its stream for too long',
  'child-exit': 'the MCP server process exited',
  'child-output': 'the MCP server process wrote an over-long line',
  'child-closed-output': 'the MCP server process closed its output',
  'child-hung': 'the MCP server process stopped reading its input',
  shutdown: 'the bridge is shutting down',
  drained: 'the bridge is shutting down, and the session had nothing in flight',
  'not-initialized': 'the session was never initialized',
};

/** The reason a session ends when its upstream ends this way. */
export const END_OF_UPSTREAM: Record<UpstreamEnd, EndReason> = {
  exit: 'child-exit',
  overflow: 'child-output',
  'output-closed': 'child-closed-output',
  hung: 'child-hung',
};
