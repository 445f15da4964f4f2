/**
 * One stdio server process: spawned without a shell in a process group of its own and in a container
 * (containment.ts), ended by signalling the whole group and container (SIGTERM, then SIGKILL after a grace
 * period), so wrappers like npx, and daemons that leave the group, leave nothing behind.
 */
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import type { ChildCommand } from '../config.js';
import type { Container, Containment } from './containment.js';
import { commandIsRunnable } from './find-command.js';
import type { OrphanGuard } from './orphan-guard.js';

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export interface SpawnOptions {
  command: ChildCommand;
  env: Record<string, string>;
  cwd: string | undefined;
  guard: OrphanGuard;
  containment: Containment;
}

const GROUP_POLL_MS = 20;
/** Longest stderr line kept for the log; the rest of a longer line is cut. */
const MAX_STDERR_LINE = 8192;
/** After SIGKILL the kernel needs a moment to tear the group down; past this we stop waiting. */
const AFTER_KILL_WAIT_MS = 2000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class ChildProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Receives the child's stderr, line by line (bounded); whoever owns the child sets it. */
  onStderrLine: (line: string) => void = () => undefined;
  /** Resolves when the group leader has exited. */
  readonly exited: Promise<ExitStatus>;
  private leaderExited = false;
  private termination: Promise<void> | undefined;

  private constructor(
    pid: number,
    streams: { stdin: Writable; stdout: Readable; stderr: Readable },
    exited: Promise<ExitStatus>,
    private readonly guard: OrphanGuard,
    private readonly container: Container,
  ) {
    this.pid = pid;
    this.stdin = streams.stdin;
    this.stdout = streams.stdout;
    splitLines(streams.stderr, (line) => this.onStderrLine(line));
    this.exited = exited.then((status) => {
      this.leaderExited = true;
      return status;
    });
    guard.watch(pid, container.cgroup);
  }

  /** Starts the command; rejects with a readable message when it cannot be started at all (not found, not executable). */
  static async spawn(options: SpawnOptions): Promise<ChildProcess> {
    // Checked here: inside a cgroup the command is exec'd by a shell, which would report it by exiting.
    if (!commandIsRunnable(options.command.command, options.env.PATH, options.cwd)) {
      throw new Error(`${options.command.command}: not found or not executable`);
    }
    const container = options.containment.contain(options.command.command, options.command.args);
    const subprocess = execa(container.command, container.args, {
      env: { ...options.env, ...container.env },
      extendEnv: false,
      cwd: options.cwd,
      detached: true,
      cleanup: false,
      buffer: false,
      reject: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const result = subprocess.then((r) => r);
    await new Promise<void>((resolve, reject) => {
      subprocess.once('spawn', () => resolve());
      void result.then((r) => {
        if (r.exitCode === undefined && r.signal === undefined) {
          container.release();
          reject(new Error(r.shortMessage ?? r.message));
        }
      });
    });
    // Stream errors (EPIPE after the child died) are expected; the exit status tells the story.
    subprocess.stdin.on('error', () => undefined);
    const exited = result.then((r) => ({ code: r.exitCode ?? null, signal: r.signal ?? null }));
    return new ChildProcess(
      subprocess.pid as number,
      { stdin: subprocess.stdin, stdout: subprocess.stdout, stderr: subprocess.stderr },
      exited,
      options.guard,
      container,
    );
  }

  /** Ends the process group: stdin closed and SIGTERM, SIGKILL after `graceMs`; resolves once the group is gone. */
  terminate(graceMs: number): Promise<void> {
    this.termination ??= this.endGroup(graceMs);
    return this.termination;
  }

  private async endGroup(graceMs: number): Promise<void> {
    this.stdin.end();
    this.signalGroup('SIGTERM');
    await this.container.signal('SIGTERM');
    const left = () => this.groupAlive() || this.container.populated();
    const deadline = Date.now() + graceMs;
    while (left() && Date.now() < deadline) await delay(GROUP_POLL_MS);
    // Whatever is left, in the group or in the container (a daemon that took its SIGTERM lightly), goes now.
    this.signalGroup('SIGKILL');
    await this.container.signal('SIGKILL');
    const killDeadline = Date.now() + AFTER_KILL_WAIT_MS;
    while (left() && Date.now() < killDeadline) await delay(GROUP_POLL_MS);
    await this.exited;
    this.container.release();
    this.guard.forget(this.pid, this.container.cgroup);
  }

  /** True while any member of the group exists (the exited-but-unreaped leader aside). */
  private groupAlive(): boolean {
    return this.signalGroup(0);
  }

  private signalGroup(signal: NodeJS.Signals | 0): boolean {
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch (error) {
      // ESRCH: the group is empty. EPERM: a member we may not signal (setuid); nothing more we can do.
      return (error as NodeJS.ErrnoException).code === 'EPERM' && !this.leaderExited;
    }
  }
}

function splitLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > MAX_STDERR_LINE) {
      onLine(`${partial.slice(0, MAX_STDERR_LINE)}…`);
      partial = '';
    }
    for (const line of lines) if (line.trim() !== '') onLine(line.slice(0, MAX_STDERR_LINE).replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (partial.trim() !== '') onLine(partial);
  });
  stream.on('error', () => undefined);
}
