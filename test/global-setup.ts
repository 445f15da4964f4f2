/** Suite-wide check: no process spawned by any bridge in this run may outlive the run. */
import { randomUUID } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { processesWith } from './helpers/processes.js';

const runId = randomUUID();

declare module 'vitest' {
  export interface ProvidedContext {
    runId: string;
  }
}

export default function setup(project: TestProject) {
  project.provide('runId', runId);
  return () => {
    const leftovers = processesWith(`FIXTURE_RUN=${runId}`);
    for (const pid of leftovers) process.kill(pid, 'SIGKILL');
    if (leftovers.length > 0) throw new Error(`processes outlived the test run: ${leftovers.join(', ')}`);
  };
}
