/** The warm pool's ping before initialize, against real processes: only the ping's answer is consumed. */
import { inject, afterEach, describe, expect, it } from 'vitest';
import { ChildProcess } from '../../src/child/child-process.js';
import { detectContainment } from '../../src/child/containment.js';
import { WARM_UP_ID, warmUp } from '../../src/child/first-exchange.js';

const noGuard = { watch: () => undefined, forget: () => undefined, close: () => undefined };
const containment = await detectContainment();
const started: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((child) => child.terminate(500)));
});

/** A shell child running `script`, tagged so that the suite's leak check sees it. */
async function shell(script: string): Promise<ChildProcess> {
  const child = await ChildProcess.spawn({
    command: { command: '/bin/sh', args: ['-c', script], source: 'test' },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FIXTURE_RUN: inject('runId') },
    cwd: undefined,
    guard: noGuard,
    containment,
  });
  started.push(child);
  return child;
}

function readAll(child: ChildProcess): Promise<string> {
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  child.stdout.resume();
  return new Promise((resolve) => child.stdout.once('end', () => resolve(text)));
}

const answer = `{"jsonrpc":"2.0","id":"${WARM_UP_ID}","result":{}}`;

describe('warmUp', () => {
  it('consumes the answer to its ping and puts back every other byte, in order', async () => {
    // Everything in one write: a line before the answer, the answer, a line and a half after it.
    const child = await shell(`read -r ping; printf 'before\\n${answer}\\nafter\\npart'; read -r more; printf 'ial\\n'`);
    expect(await warmUp(child, new AbortController().signal, 5000)).toBe('answered');
    const rest = readAll(child);
    child.stdin.end('\n');
    expect(await rest).toBe('before\nafter\npartial\n');
  });

  it('hands out a child that never answers once the time is up', async () => {
    const child = await shell('read -r ping; printf "no answer\\n"; exec cat');
    expect(await warmUp(child, new AbortController().signal, 300)).toBe('no-answer');
    const rest = readAll(child);
    child.stdin.end();
    expect(await rest).toBe('no answer\n');
  });

  it('stops waiting when aborted, leaving what the child wrote for the next reader', async () => {
    const child = await shell(`read -r ping; printf 'early\\n'; read -r go; printf '${answer}\\n'; exec cat`);
    const abort = new AbortController();
    const result = warmUp(child, abort.signal, 5000);
    abort.abort();
    expect(await result).toBe('aborted');
    const rest = readAll(child);
    child.stdin.write('go\n');
    child.stdin.end();
    expect(await rest).toBe(`early\n${answer}\n`);
  });

  it('reports a child that exits instead of answering', async () => {
    const child = await shell('exit 3');
    expect(await warmUp(child, new AbortController().signal, 5000)).toBe('exited');
  });
});
