/**
 * Every systemd unit the NixOS modules generate, rendered the way NixOS renders unit attributes (lists
 * as repeated lines, booleans as true/false, dependencies space-separated) and run through
 * `systemd-analyze verify`, which reports what systemd would silently ignore on a real host: a misspelt
 * directive, an unknown syscall group, a bad value. Needs the same trees as test/nix/modules.test.ts
 * (NIXPKGS_LIB, MICROVM_SRC) and systemd-analyze; skipped otherwise.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bridge.js';

const run = promisify(execFile);
const nixpkgsLib = process.env.NIXPKGS_LIB ?? '';
const microvmSrc = process.env.MICROVM_SRC ?? '';

function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip =
  nixpkgsLib === '' || microvmSrc === '' ? 'set NIXPKGS_LIB and MICROVM_SRC' : !works('nix-instantiate', ['--version']) ? 'no nix-instantiate' : !works('systemd-analyze', ['--version']) ? 'no systemd-analyze' : undefined;
if (skip) console.warn(`test/nix/units: skipped: ${skip}`);

type Value = string | number | boolean | null | Value[];
interface Unit {
  description?: string;
  requires?: string[];
  after?: string[];
  before?: string[];
  bindsTo?: string[];
  wantedBy?: string[];
  requiredBy?: string[];
  partOf?: string[];
  script?: string;
  postStop?: string;
  listenStreams?: string[];
  unitConfig?: Record<string, Value>;
  serviceConfig?: Record<string, Value>;
}
interface Evaluated {
  services: Record<string, Unit>;
  sockets?: Record<string, Unit>;
  vms?: Record<string, { service: Unit | null }>;
  service?: Unit | null;
}

/** A store path of the stubs, where a real host would have a program: any executable does for verify. */
const program = (line: string) => line.replace(/^(-?)"?\/nix\/store\/[^ "]+"?/, '$1/bin/true');

function lines(key: string, value: Value | undefined): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.flatMap((item) => lines(key, item));
  const text = typeof value === 'boolean' ? String(value) : String(value);
  return [`${key}=${key.startsWith('Exec') ? program(text) : text}`];
}

/** The unit file NixOS would write for these attributes (scripts become a program of their own). */
function render(unit: Unit, kind: 'service' | 'socket'): string {
  const deps = (key: string, names: string[] | undefined) => (names && names.length > 0 ? [`${key}=${names.join(' ')}`] : []);
  const section = [
    '[Unit]',
    ...lines('Description', unit.description || 'unit'),
    ...deps('Requires', unit.requires),
    ...deps('After', unit.after),
    ...deps('Before', unit.before),
    ...deps('BindsTo', unit.bindsTo),
    ...deps('PartOf', unit.partOf),
    ...Object.entries(unit.unitConfig ?? {}).flatMap(([key, value]) => lines(key, value)),
  ];
  if (kind === 'socket') return [...section, '', '[Socket]', ...lines('ListenStream', unit.listenStreams ?? [])].join('\n') + '\n';
  const service = unit.serviceConfig ?? {};
  return [
    ...section,
    '',
    '[Service]',
    ...Object.entries(service).flatMap(([key, value]) => lines(key, value)),
    ...(unit.script && !('ExecStart' in service) ? ['ExecStart=/bin/true'] : []),
    ...(unit.postStop ? ['ExecStopPost=/bin/true'] : []),
    '',
    '[Install]',
    ...deps('WantedBy', unit.wantedBy),
    ...deps('RequiredBy', unit.requiredBy),
  ].join('\n') + '\n';
}

async function evaluate(scenario: string): Promise<Evaluated> {
  const { stdout } = await run(
    'nix-instantiate',
    ['--eval', '--strict', '--json', join(ROOT, 'nix/tests/eval.nix'), '--argstr', 'nixpkgsLib', nixpkgsLib, '--argstr', 'microvmSrc', microvmSrc, '--argstr', 'scenario', scenario],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as Evaluated;
}

/** Writes every unit of the scenarios, and an empty one for each unit they name but NixOS or microvm.nix provides. */
async function verify(scenarios: string[]): Promise<{ count: number; output: string }> {
  const folder = mkdtempSync(join(tmpdir(), 'mcp-bridge-units-'));
  try {
    const files: string[] = [];
    const named = new Set<string>();
    const write = (name: string, unit: Unit, kind: 'service' | 'socket') => {
      const file = join(folder, `${name}.${kind}`);
      writeFileSync(file, render(unit, kind));
      files.push(file);
      for (const list of [unit.requires, unit.after, unit.before, unit.bindsTo, unit.wantedBy, unit.requiredBy, unit.partOf]) for (const dep of list ?? []) named.add(dep);
    };
    for (const scenario of scenarios) {
      const evaluated = await evaluate(scenario);
      for (const [name, unit] of Object.entries(evaluated.services ?? {})) {
        // Dependencies added to a unit of microvm.nix (microvm@<name>) are a drop-in, not a unit of their own.
        if (unit.serviceConfig?.ExecStart === undefined && !unit.script) for (const dep of [...(unit.requires ?? []), ...(unit.after ?? [])]) named.add(dep);
        else write(`${scenario}-${name}`, unit, 'service');
      }
      for (const [name, unit] of Object.entries(evaluated.sockets ?? {})) write(`${scenario}-${name}`, unit, 'socket');
      for (const [name, vm] of Object.entries(evaluated.vms ?? {})) if (vm.service) write(`${scenario}-${name}-mcp-bridge`, vm.service, 'service');
      if (evaluated.service) write(`${scenario}-mcp-bridge`, evaluated.service, 'service');
    }
    for (const dep of named) {
      const template = dep.replace(/@[^.]+\./, '@.');
      writeFileSync(join(folder, template), dep.endsWith('.target') ? '[Unit]\n' : '[Service]\nType=oneshot\nExecStart=/bin/true\n');
    }
    const result = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', ...files]).then(
      ({ stdout, stderr }) => stdout + stderr,
      (error: { stdout: string; stderr: string }) => `failed: ${error.stdout}${error.stderr}`,
    );
    return { count: files.length, output: result.trim() };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

describe.skipIf(skip !== undefined)('the generated systemd units', () => {
  it('pass systemd-analyze verify without a word: host units, sockets, and the bridge in each guest', async () => {
    const { count, output } = await verify(['instances', 'privateInstances', 'instancesAsNodes', 'exampleHost', 'guestWithOAuth', 'guestWithServers']);
    expect(count).toBeGreaterThan(10);
    expect(output).toBe('');
  }, 60_000);

  it('would catch a misspelt directive and an unknown syscall group (what systemd ignores with a warning)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'mcp-bridge-units-'));
    try {
      const file = join(folder, 'mutant.service');
      writeFileSync(file, render({ description: 'mutant', serviceConfig: { Type: 'oneshot', ExecStart: '/bin/true', ProtectClok: true, SystemCallFilter: ['@system-servce'] } }, 'service'));
      const { stderr } = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', file]);
      expect(stderr).toMatch(/Unknown key 'ProtectClok'/);
      expect(stderr).toMatch(/Unknown system call group.*@system-servce/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
