/** What `npm pack` ships: the license, and the sources every source map points to. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bridge.js';

const run = promisify(execFile);

describe('the npm package', () => {
  it('ships LICENSE and, for every source map, the source it names', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path));
    expect(files.has('LICENSE')).toBe(true);
    expect(files.has('bin/mcp-bridge.js')).toBe(true);
    const maps = [...files].filter((path) => path.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as { sources: string[] };
      for (const source of sources) expect(files, `${map} → ${source}`).toContain(normalize(join(dirname(map), source)));
    }
  });
});
