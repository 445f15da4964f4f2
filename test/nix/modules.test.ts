/**
 * The Nix side, checked with nothing but `nix-instantiate` (Debian's nix-bin 2.8 is enough):
 * every .nix file parses, and the NixOS modules evaluate to the expected configuration.
 *
 * The evaluation runs `lib.evalModules` over stubbed NixOS options (nix/tests/eval.nix) and needs
 * two source trees, given by path:
 *   NIXPKGS_LIB  a directory holding lib/default.nix: a nixpkgs or nix-community/nixpkgs.lib checkout
 *   MICROVM_SRC  a microvm-nix/microvm.nix checkout (its guest options declare microvm.*)
 * Without them the evaluation tests are skipped and only the parse test runs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function commandExists(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasNix = commandExists('nix-instantiate');
const nixpkgsLib = process.env.NIXPKGS_LIB ?? '';
const microvmSrc = process.env.MICROVM_SRC ?? '';
const evalSkipReason = !hasNix
  ? 'nix-instantiate is not on PATH'
  : nixpkgsLib === '' || microvmSrc === ''
    ? 'set NIXPKGS_LIB (a directory holding lib/default.nix) and MICROVM_SRC (a microvm.nix checkout)'
    : undefined;
if (evalSkipReason !== undefined) console.warn(`test/nix: skipping NixOS module evaluation: ${evalSkipReason}`);

/** Every .nix file of the repository, skipping dependencies and hidden folders (.git, .direnv). */
function nixFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return nixFiles(path);
    return entry.isFile() && entry.name.endsWith('.nix') ? [path] : [];
  });
}

interface Unit {
  description?: string;
  before?: string[];
  requiredBy?: string[];
  partOf?: string[];
  script?: string;
  postStop?: string;
  requires: string[];
  after: string[];
  bindsTo: string[];
  wantedBy: string[];
  listenStreams: string[];
  serviceConfig: Record<string, unknown>;
}

interface Guest {
  hostName: string;
  stateVersion: string;
  useNetworkd: boolean;
  useDHCP: boolean;
  nameservers: string[];
  networkdEnabled: boolean;
  networks: Record<string, unknown>;
  firewallTCPPorts: number[];
  failedAssertions: string[];
  service: (Unit & { unitConfig?: Record<string, unknown> }) | null;
  systemPackages: string[];
  serversConfig: { mcpServers: Record<string, Record<string, unknown>> };
  microvm?: {
    hypervisor: string;
    vcpu: number;
    mem: number;
    vsockCid: number | null;
    storeOnDisk: boolean;
    interfaces: { type: string; id: string; mac: string }[];
    shares: Record<string, unknown>[];
  };
}

interface Host {
  failedAssertions: string[];
  vms: Record<string, Guest>;
  services: Record<string, Unit>;
  sockets: Record<string, Unit>;
  networkdEnabled: boolean;
  networks: Record<string, unknown>;
  nat: { enable: boolean; internalInterfaces: string[] };
  dhcpcdDenyInterfaces: string[];
  trustedInterfaces: string[];
  cloudflared: Record<string, { ingress: Record<string, string> }>;
  systemPackages: string[];
}

const evaluations = new Map<string, Promise<unknown>>();

/** One scenario of nix/tests/scenarios.nix, evaluated once per test run. */
function evaluate<T>(scenario: string): Promise<T> {
  let result = evaluations.get(scenario);
  if (result === undefined) {
    result = run(
      'nix-instantiate',
      [
        '--eval',
        '--strict',
        '--json',
        join(repoRoot, 'nix/tests/eval.nix'),
        '--argstr',
        'nixpkgsLib',
        nixpkgsLib,
        '--argstr',
        'microvmSrc',
        microvmSrc,
        '--argstr',
        'scenario',
        scenario,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    ).then(({ stdout }) => JSON.parse(stdout) as unknown);
    evaluations.set(scenario, result);
  }
  return result as Promise<T>;
}

/**
 * The argv of an ExecStart line written by NixOS's escapeSystemdExecArgs (JSON strings, % and $ doubled),
 * plus bare words the module writes unescaped on purpose (systemd specifiers such as %d).
 */
function execArgv(line: unknown): string[] {
  expect(typeof line).toBe('string');
  const words = (line as string).match(/"(?:[^"\\]|\\.)*"|[^\s"]+/g) ?? [];
  expect(words.join(' ')).toBe(line);
  return words.map((word) =>
    word.startsWith('"') ? (JSON.parse(word.replaceAll('%%', '%').replaceAll('$$', '$')) as string) : word,
  );
}

const STUB = '/nix/store/00000000000000000000000000000000';
const LIMITS = `${STUB}-mcp-bridge-bandwidth-limits`;

describe('Nix files', () => {
  it.skipIf(!hasNix)('every .nix file parses with nix-instantiate --parse', async () => {
    const files = nixFiles(repoRoot);
    const names = files.map((file) => relative(repoRoot, file));
    expect(names).toEqual(expect.arrayContaining(['flake.nix', 'modules/guest.nix', 'modules/host.nix', 'nix/package.nix']));
    const failures = (
      await Promise.all(
        files.map((file) =>
          run('nix-instantiate', ['--parse', file]).then(
            () => undefined,
            (error: { stderr?: string }) => `${relative(repoRoot, file)}: ${error.stderr ?? String(error)}`,
          ),
        ),
      )
    ).filter((failure) => failure !== undefined);
    expect(failures).toEqual([]);
  });

  it.skipIf(!hasNix)("the README's host example configures exactly the instances and tunnel the checks evaluate", async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const module = /\(\n(\s+\{ lib, pkgs, \.\.\. \}:\n[\s\S]*?\n\s+\})\n\s+\)/.exec(readme)?.[1];
    expect(module, "the host module in the README's example").toBeDefined();
    const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-readme-'));
    try {
      writeFileSync(join(scratch, 'readme-host.nix'), module ?? '');
      // Enough of lib and pkgs for what the two modules use.
      const expression = `
        let
          args = {
            lib.getExe = package: "\${package}/bin/\${package.meta.mainProgram}";
            pkgs.mcp-server-time = { outPath = "/nix/store/time"; meta.mainProgram = "mcp-server-time"; };
          };
          readme = import ${join(scratch, 'readme-host.nix')} args;
          example = import ${join(repoRoot, 'nix/tests/example-host.nix')} args;
          keep = host: { inherit (host.services.mcp-bridge) instances; inherit (host.services.cloudflared) tunnels; };
        in
        { same = keep readme == keep example; }`;
      const { stdout } = await run('nix-instantiate', ['--eval', '--strict', '--json', '--expr', expression]);
      expect(JSON.parse(stdout)).toEqual({ same: true });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasNix)("the README's two nodes are the instances the scale-out scenario evaluates", async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const block = /\*\*NixOS\*\*: an instance is a node[\s\S]*?```nix\n(services\.mcp-bridge\.instances = \{[\s\S]*?\n\};)\n```/.exec(readme)?.[1];
    expect(block, "the NixOS nodes in the README's scale-out section").toBeDefined();
    const expression = `
      let
        readme = { ${block} };
        scenario = (import ${join(repoRoot, 'nix/tests/scenarios.nix')}).instancesAsNodes.module;
      in
      { same = readme.services.mcp-bridge.instances == scenario.services.mcp-bridge.instances; }`;
    const { stdout } = await run('nix-instantiate', ['--eval', '--strict', '--json', '--expr', expression]);
    expect(JSON.parse(stdout)).toEqual({ same: true });
  });
});

/** `module` on the stubbed host (with our host module or without), `force`d: 'accepted', or the error Nix printed. */
function evaluatedOnHost(module: string, { withHostModule, force = 'systemd' }: { withHostModule: boolean; force?: string }): Promise<string> {
  const expression = `
    let
      lib = import ${nixpkgsLib}/lib;
      stubs = import ${join(repoRoot, 'nix/tests/stubs.nix')} { inherit lib; };
    in
    (lib.evalModules { modules = [ stubs.host ${withHostModule ? `${microvmSrc}/nixos-modules/host/options.nix ${join(repoRoot, 'modules/host.nix')}` : ''} (${module}) ]; }).config.${force}`;
  return run('nix-instantiate', ['--eval', '--strict', '--json', '--expr', expression]).then(
    () => 'accepted',
    (error: { stderr: string }) => error.stderr,
  );
}

const evalTitle = 'NixOS modules, evaluated against stubbed NixOS options';
describe.skipIf(evalSkipReason !== undefined)(evalSkipReason ? `${evalTitle} (skipped: ${evalSkipReason})` : evalTitle, () => {
  it('NIXPKGS_LIB and MICROVM_SRC point at the expected trees', () => {
    expect(existsSync(join(nixpkgsLib, 'lib/default.nix')), `${nixpkgsLib}/lib/default.nix`).toBe(true);
    expect(existsSync(join(microvmSrc, 'nixos-modules/microvm/options.nix')), microvmSrc).toBe(true);
  });

  describe('guest module on its own', () => {
    it('serves mcp-nixos on 127.0.0.1:8080 with its environment, firewall closed', async () => {
      const guest = await evaluate<Guest>('guest');
      expect(guest.failedAssertions).toEqual([]);
      expect(execArgv(guest.service?.serviceConfig.ExecStart)).toEqual([
        `${STUB}-mcp-bridge/bin/mcp-bridge`,
        '--host',
        '127.0.0.1',
        '--port',
        '8080',
        '--path',
        '/mcp',
        '--idle-timeout',
        '600',
        '--max-sessions',
        '32',
        '--client-ip-header',
        'x-forwarded-for',
        '--env',
        'FASTMCP_CHECK_FOR_UPDATES=off',
        '--env',
        'FASTMCP_ENV_FILE=/dev/null',
        '--env',
        'FASTMCP_SHOW_CLI_BANNER=false',
        '--env',
        'FASTMCP_SHOW_SERVER_BANNER=false',
        '--env',
        'MCP_NIXOS_TRANSPORT=stdio',
        '--env',
        'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
        '--',
        `${STUB}-mcp-nixos/bin/mcp-nixos`,
      ]);
      expect(guest.service?.wantedBy).toEqual(['multi-user.target']);
      expect(guest.firewallTCPPorts).toEqual([]);
    });

    it('is Type=notify, restarts, and is hardened without MemoryDenyWriteExecute', async () => {
      const config = (await evaluate<Guest>('guest')).service?.serviceConfig ?? {};
      expect(config).toMatchObject({
        Type: 'notify',
        NotifyAccess: 'all',
        Restart: 'always',
        RestartSec: 5,
        DynamicUser: true,
        NoNewPrivileges: true,
        ProtectSystem: 'strict',
        ProtectHome: true,
        PrivateTmp: true,
        PrivateDevices: true,
        ProtectKernelTunables: true,
        ProtectKernelModules: true,
        ProtectKernelLogs: true,
        // Its cgroup subtree is delegated so that each server process gets a cgroup of its own.
        Delegate: true,
        RestrictAddressFamilies: ['AF_INET', 'AF_INET6', 'AF_UNIX'],
        SystemCallFilter: ['@system-service'],
        CapabilityBoundingSet: '',
        LockPersonality: true,
      });
      expect(config).not.toHaveProperty('MemoryDenyWriteExecute');
      expect(config).not.toHaveProperty('ProtectControlGroups');
    });

    it('refuses a public address without tokens or allowUnauthenticated', async () => {
      const { failedAssertions } = await evaluate<Guest>('publicGuestWithoutAuth');
      expect(failedAssertions).toHaveLength(1);
      expect(failedAssertions[0]).toMatch(/^services\.mcp-bridge listens on 0\.0\.0\.0, .*authTokenFile .*or services\.mcp-bridge\.oauth/);
    });

    it('refuses a warm pool together with a shared server', async () => {
      const { failedAssertions } = await evaluate<Guest>('guestPoolAndShared');
      expect(failedAssertions).toEqual([expect.stringMatching(/^services\.mcp-bridge\.pool = 2 has no use with services\.mcp-bridge\.shared = true/)]);
    });

    it('hands the token file over as a systemd credential', async () => {
      const { failedAssertions, service } = await evaluate<Guest>('guestWithTokens');
      expect(failedAssertions).toEqual([]);
      expect(service?.serviceConfig.LoadCredential).toEqual(['tokens:/run/secrets/mcp-tokens']);
      const argv = execArgv(service?.serviceConfig.ExecStart);
      expect(argv.slice(argv.indexOf('--auth-token-file'), argv.indexOf('--auth-token-file') + 2)).toEqual([
        '--auth-token-file',
        '%d/tokens',
      ]);
      expect(argv.indexOf('--auth-token-file')).toBeLessThan(argv.indexOf('--'));
    });

    it('with oauth: passes the public URL, hands the owner and TOTP files over as credentials, keeps a state directory', async () => {
      const { failedAssertions, service, systemPackages } = await evaluate<Guest>('guestWithOAuth');
      expect(failedAssertions).toEqual([]);
      const argv = execArgv(service?.serviceConfig.ExecStart);
      const after = (flag: string) => argv[argv.indexOf(flag) + 1];
      expect(argv).toContain('--oauth');
      expect(after('--public-url')).toBe('https://mcp.example.org/mcp');
      expect(after('--oauth-redirect-allow')).toBe('https://inspector.example.org/oauth/callback');
      expect(after('--oauth-owner-file')).toBe('%d/owner');
      expect(after('--oauth-totp-file')).toBe('%d/totp');
      expect(argv.indexOf('--oauth-totp-file')).toBeLessThan(argv.indexOf('--'));
      expect(service?.serviceConfig).toMatchObject({
        LoadCredential: ['owner:/var/lib/secrets/mcp-owner', 'totp:/var/lib/secrets/mcp-totp'],
        // The bridge finds it through $STATE_DIRECTORY.
        StateDirectory: 'mcp-bridge',
        StateDirectoryMode: '0700',
        DynamicUser: true,
      });
      expect(service?.unitConfig?.RequiresMountsFor).toEqual(['/var/lib/secrets/mcp-owner', '/var/lib/secrets/mcp-totp']);
      // `mcp-bridge oauth` for the owner.
      expect(systemPackages).toEqual([`${STUB}-mcp-bridge`]);
      // Without oauth, none of it.
      const plain = await evaluate<Guest>('guestWithTokens');
      expect(plain.service?.serviceConfig).not.toHaveProperty('StateDirectory');
      expect(plain.systemPackages).toEqual([]);
    });
  });

  describe('host module', () => {
    const host = () => evaluate<Host>('instances');

    it('turns each enabled instance into microvm.vms.<name>, with no failed assertion', async () => {
      const { vms, failedAssertions } = await host();
      expect(Object.keys(vms).sort()).toEqual(['public', 'tailnet', 'unlimited']);
      expect(failedAssertions).toEqual([]);
      expect(vms.public?.failedAssertions).toEqual([]);
    });

    it('sets hypervisor, vcpu, mem, vsock CID and the tap interface of each guest', async () => {
      const { vms } = await host();
      expect(vms.public?.microvm).toMatchObject({
        hypervisor: 'cloud-hypervisor',
        vcpu: 2,
        mem: 640,
        vsockCid: 3,
        interfaces: [{ type: 'tap', id: 'vm-public', mac: '02:00:c0:a8:64:02' }],
      });
      expect(vms.unlimited?.microvm).toMatchObject({
        hypervisor: 'cloud-hypervisor',
        vcpu: 1,
        mem: 768,
        vsockCid: 5,
        interfaces: [{ type: 'tap', id: 'vm-unlimited', mac: '02:00:c0:a8:64:06' }],
      });
      expect(vms.public?.hostName).toBe('public');
      expect(vms.public?.stateVersion).toBe('26.05');
    });

    it('shares the host store read-only over virtiofs, or boots from a store disk', async () => {
      const { vms } = await host();
      expect(vms.tailnet?.microvm?.shares).toEqual([
        {
          tag: 'ro-store',
          source: '/nix/store',
          mountPoint: '/nix/.ro-store',
          proto: 'virtiofs',
          readOnly: true,
          socket: 'tailnet-virtiofs-ro-store.sock',
          cache: 'auto',
        },
      ]);
      expect(vms.tailnet?.microvm?.storeOnDisk).toBe(false);
      expect(vms.public?.microvm?.shares).toEqual([]);
      expect(vms.public?.microvm?.storeOnDisk).toBe(true);
    });

    it('configures the guest network with networkd: /24, gateway, DNS, only the bridge port open', async () => {
      const { vms } = await host();
      const guest = vms.public;
      expect(guest).toMatchObject({ useNetworkd: true, useDHCP: false, networkdEnabled: true });
      expect(guest?.networks).toMatchObject({
        '20-uplink': {
          matchConfig: { MACAddress: '02:00:c0:a8:64:02' },
          address: ['192.168.100.2/24'],
          gateway: ['192.168.100.1'],
        },
      });
      expect(guest?.nameservers).toEqual(['1.1.1.1', '9.9.9.9']);
      expect(guest?.firewallTCPPorts).toEqual([8080]);
      expect(vms.tailnet?.firewallTCPPorts).toEqual([9000]);
    });

    it('runs the bridge on 0.0.0.0 and allows the public hostname as Host', async () => {
      const { vms } = await host();
      const argv = execArgv(vms.public?.service?.serviceConfig.ExecStart);
      expect(argv.slice(0, 3)).toEqual([`${STUB}-mcp-bridge/bin/mcp-bridge`, '--host', '0.0.0.0']);
      expect(argv.join(' ')).toContain('--allowed-host mcp-nixos.example.org');
      expect(argv.slice(-2)).toEqual(['--', `${STUB}-mcp-nixos/bin/mcp-nixos`]);
      expect(vms.public?.service?.serviceConfig.Type).toBe('notify');
      // Unauthenticated on purpose, and the host (its only peer) may name the client for per-client limits.
      expect(argv).toContain('--allow-unauthenticated');
      expect(argv.join(' ')).toContain('--trust-proxy 192.168.100.1/32');
      expect(argv).toContain('--shared');
      expect(argv).not.toContain('--pool');
    });

    it('passes a custom server, its environment and allowed hosts through to the guest', async () => {
      const { vms } = await host();
      const line = vms.tailnet?.service?.serviceConfig.ExecStart;
      expect(line).toContain('LOG=100%%');
      const argv = execArgv(line);
      expect(argv.slice(argv.indexOf('--port'), argv.indexOf('--port') + 2)).toEqual(['--port', '9000']);
      expect(argv.filter((_, i) => argv[i - 1] === '--allowed-host')).toEqual(['server.example.ts.net']);
      expect(argv.slice(argv.indexOf('--pool'), argv.indexOf('--pool') + 2)).toEqual(['--pool', '2']);
      expect(argv).not.toContain('--shared');
      expect(argv.filter((_, i) => argv[i - 1] === '--env')).toEqual([
        'LOG=100%',
        'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      ]);
      expect(argv.slice(argv.indexOf('--'))).toEqual(['--', '/run/current-system/sw/bin/other-server', '--stdio']);
    });

    it('limits both directions with the bandwidth script in a unit bound to the tap unit, which the VM requires', async () => {
      const { services } = await host();
      const unit = services['mcp-bridge-tc-public'];
      const tap = 'microvm-tap-interfaces@public.service';
      expect(unit).toMatchObject({ requires: [tap], after: [tap], bindsTo: [tap], wantedBy: [tap] });
      expect(unit?.serviceConfig).toMatchObject({
        Type: 'oneshot',
        RemainAfterExit: true,
        CapabilityBoundingSet: ['CAP_NET_ADMIN'],
        RestrictAddressFamilies: ['AF_NETLINK', 'AF_UNIX'],
        ExecStart: `${LIMITS} start vm-public if-public 100mbit 10mbit 400ms 20mbit 2mbit 400ms`,
        ExecStop: `${LIMITS} stop vm-public if-public`,
      });
      // The VM starts only after its limits are in place, and not at all without them.
      expect(services['microvm@public']).toMatchObject({ requires: ['mcp-bridge-tc-public.service'], after: ['mcp-bridge-tc-public.service'] });
    });

    it('leaves an unlimited direction unlimited, and skips the unit when both are', async () => {
      const { services } = await host();
      expect(services['mcp-bridge-tc-tailnet']?.serviceConfig.ExecStart).toBe(`${LIMITS} start vm-tailnet if-tailnet - - - 100mbit 10mbit 400ms`);
      expect(services).not.toHaveProperty('mcp-bridge-tc-unlimited');
      expect(services).not.toHaveProperty('microvm@unlimited');
    });

    it('gives each tap a networkd /32 host address and route, NATs the taps, trusts none', async () => {
      const result = await host();
      expect(result.networkdEnabled).toBe(true);
      expect(result.networks['20-vm-public']).toMatchObject({
        matchConfig: { Name: 'vm-public' },
        address: ['192.168.100.1/32'],
        routes: [{ Destination: '192.168.100.2/32' }],
        linkConfig: { RequiredForOnline: 'no' },
      });
      expect(Object.keys(result.networks).sort()).toEqual(['20-vm-public', '20-vm-tailnet', '20-vm-unlimited']);
      expect(result.nat).toEqual({ enable: true, externalInterface: null, internalInterfaces: ['vm-public', 'vm-tailnet', 'vm-unlimited'] });
      expect(result.dhcpcdDenyInterfaces).toEqual(['vm-public', 'vm-tailnet', 'vm-unlimited', 'if-public', 'if-tailnet']);
      expect(result.trustedInterfaces).toEqual([]);
    });

    it('routes the Cloudflare Tunnel hostname to the guest', async () => {
      const { cloudflared } = await host();
      expect(cloudflared.home?.ingress).toEqual({ 'mcp-nixos.example.org': 'http://192.168.100.2:8080' });
    });

    it('forwards expose.loopbackPort from 127.0.0.1 to the guest once its VM is up', async () => {
      const { sockets, services } = await host();
      expect(Object.keys(sockets)).toEqual(['mcp-bridge-proxy-tailnet']);
      expect(sockets['mcp-bridge-proxy-tailnet']).toMatchObject({
        wantedBy: ['sockets.target'],
        listenStreams: ['127.0.0.1:18080'],
      });
      const proxy = services['mcp-bridge-proxy-tailnet'];
      expect(proxy).toMatchObject({ requires: ['microvm@tailnet.service'], after: ['microvm@tailnet.service'] });
      expect(proxy?.serviceConfig).toMatchObject({
        ExecStart: `${STUB}-systemd/lib/systemd/systemd-socket-proxyd 192.168.100.4:9000`,
        DynamicUser: true,
      });
    });
  });

  describe('several servers', () => {
    it('writes the servers file the bridge reads, with each server\'s own settings and only what is set', async () => {
      const { failedAssertions, serversConfig, service } = await evaluate<Guest>('guestWithServers');
      expect(failedAssertions).toEqual([]);
      expect(serversConfig.mcpServers.time).toEqual({
        command: '/run/current-system/sw/bin/mcp-server-time',
        args: ['--local-timezone=UTC'],
        env: { SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', TZ: 'UTC' },
        tools: { allow: ['get_*'], deny: ['convert_*'] },
        shared: true,
        maxSessions: 4,
        // Its own token file, as the credential the unit loads.
        authTokenFile: '/run/credentials/mcp-bridge.service/tokens-time',
      });
      expect(serversConfig.mcpServers.nixos).toMatchObject({ command: `${STUB}-mcp-nixos/bin/mcp-nixos`, args: [], env: { MCP_NIXOS_TRANSPORT: 'stdio' } });
      expect(Object.keys(serversConfig.mcpServers.nixos)).toEqual(['args', 'command', 'env']);
      const argv = execArgv(service?.serviceConfig.ExecStart);
      expect(argv[argv.indexOf('--config') + 1]).toBe(`${STUB}-mcp-bridge-servers.json`);
      expect(argv[argv.indexOf('--path-prefix') + 1]).toBe('/mcp');
      // The servers' commands and environments are in the file, not on the command line.
      expect(argv).not.toContain('--');
      expect(argv).not.toContain('--env');
      expect(service?.serviceConfig.LoadCredential).toEqual(['tokens-time:/var/lib/secrets/time-tokens']);
    });

    it('refuses a server name that cannot be a URL path segment', async () => {
      const { failedAssertions } = await evaluate<Guest>('badServerName');
      expect(failedAssertions).toEqual([
        'services.mcp-bridge.servers: names are served in URLs and must be lowercase letters, digits and "-" only, but "Time.Server" is not.',
      ]);
    });

    it('runs several servers in one VM, each server\'s token file copied to the guest beside the instance\'s', async () => {
      const { failedAssertions, vms, services } = await evaluate<Host>('instanceWithServers');
      expect(failedAssertions).toEqual([]);
      const guest = vms.pair;
      expect(guest?.failedAssertions).toEqual([]);
      expect(Object.keys(guest?.serversConfig.mcpServers ?? {})).toEqual(['nixos', 'time']);
      expect(guest?.service?.serviceConfig.LoadCredential).toEqual(['tokens:/run/mcp-bridge-secrets/tokens', 'tokens-time:/run/mcp-bridge-secrets/tokens-time']);
      expect(services['mcp-bridge-prepare-pair']?.script).toContain('install -m 0400 /var/lib/secrets/time-tokens /run/mcp-bridge-instances/pair/tokens-time');
    });

    it('makes two instances the nodes of one endpoint: ids, peers, the shared secret copied to each, a drain on stop', async () => {
      const { failedAssertions, vms, services } = await evaluate<Host>('instancesAsNodes');
      expect(failedAssertions).toEqual([]);
      const service = vms['node-a']?.service;
      expect(vms['node-a']?.failedAssertions).toEqual([]);
      const argv = execArgv(service?.serviceConfig.ExecStart);
      const after = (flag: string) => argv[argv.indexOf(flag) + 1];
      expect([after('--node-id'), after('--peer'), after('--drain-timeout'), after('--peer-secret-file')]).toEqual(['a', 'b=http://192.168.100.4:8080', '30', '%d/peer-secret']);
      expect(service?.serviceConfig.LoadCredential).toEqual(['peer-secret:/run/mcp-bridge-secrets/peer-secret']);
      expect(service?.serviceConfig.TimeoutStopSec).toBe(60);
      expect(services['mcp-bridge-prepare-node-b']?.script).toContain('install -m 0400 /var/lib/secrets/mcp-peer-secret /run/mcp-bridge-instances/node-b/peer-secret');
    });

    it('refuses peers without the node\'s own id and a shared secret', async () => {
      const { failedAssertions } = await evaluate<Guest>('guestPeersWithoutIdOrSecret');
      expect(failedAssertions).toEqual([expect.stringMatching(/^services\.mcp-bridge\.peers needs services\.mcp-bridge\.nodeId .* and services\.mcp-bridge\.peerSecretFile/)]);
    });

    it('refuses a public instance where one of its servers would go without a token', async () => {
      const { failedAssertions } = await evaluate<Host>('instanceWithAnOpenServer');
      expect(failedAssertions).toEqual([expect.stringMatching(/^services\.mcp-bridge\.instances\.pair: .*for every server without a file of its own/)]);
    });
  });

  describe('host module, authenticated instances', () => {
    const host = () => evaluate<Host>('privateInstances');

    it('need no allowUnauthenticated, and the guest bridge gets OAuth, tokens and the TOTP file from its secrets share', async () => {
      const { failedAssertions, vms } = await host();
      expect(failedAssertions).toEqual([]);
      expect(vms.private?.failedAssertions).toEqual([]);
      const service = vms.private?.service;
      const argv = execArgv(service?.serviceConfig.ExecStart);
      expect(argv).not.toContain('--allow-unauthenticated');
      expect(argv).toContain('--oauth');
      expect(argv[argv.indexOf('--public-url') + 1]).toBe('https://mcp.example.org/mcp');
      expect(argv.join(' ')).toContain('--allowed-host mcp.example.org');
      expect(service?.serviceConfig.LoadCredential).toEqual([
        'tokens:/run/mcp-bridge-secrets/tokens',
        'owner:/run/mcp-bridge-secrets/owner',
        'totp:/run/mcp-bridge-secrets/totp',
      ]);
      expect(service?.serviceConfig.StateDirectory).toBe('mcp-bridge');
      expect(execArgv(vms.tokens?.service?.serviceConfig.ExecStart)).not.toContain('--oauth');
      expect(vms.tokens?.service?.serviceConfig.LoadCredential).toEqual(['tokens:/run/mcp-bridge-secrets/tokens']);
    });

    it("shares only the instance's own secret copies read-only, and its state directory writable as the guest's /var/lib/private", async () => {
      const { vms } = await host();
      expect(vms.private?.microvm?.shares).toEqual([
        {
          tag: 'mcp-bridge-secrets',
          source: '/run/mcp-bridge-instances/private',
          mountPoint: '/run/mcp-bridge-secrets',
          proto: 'virtiofs',
          readOnly: true,
          socket: 'private-virtiofs-mcp-bridge-secrets.sock',
          cache: 'auto',
        },
        {
          tag: 'mcp-bridge-state',
          source: '/var/lib/mcp-bridge-instances/private',
          mountPoint: '/var/lib/private',
          proto: 'virtiofs',
          readOnly: false,
          socket: 'private-virtiofs-mcp-bridge-state.sock',
          cache: 'never',
        },
      ]);
      // Tokens only: a secrets share beside the store, no state.
      expect(vms.tokens?.microvm?.shares.map((share) => share.tag)).toEqual(['ro-store', 'mcp-bridge-secrets']);
    });

    it('copies the secrets before the virtiofs daemons start, at each start of the VM, and removes them when it stops', async () => {
      const { services, systemPackages } = await host();
      const prepare = services['mcp-bridge-prepare-private'];
      const vmUnits = ['microvm-virtiofsd@private.service', 'microvm@private.service'];
      expect(prepare).toMatchObject({ before: vmUnits, requiredBy: vmUnits, partOf: ['microvm@private.service'] });
      expect(prepare?.serviceConfig).toMatchObject({ Type: 'oneshot', RemainAfterExit: true, UMask: '0077' });
      expect(prepare?.script?.split('\n')).toEqual([
        'install -d -m 0700 /var/lib/mcp-bridge-instances /var/lib/mcp-bridge-instances/private',
        'rm -rf /run/mcp-bridge-instances/private',
        'install -d -m 0700 /run/mcp-bridge-instances /run/mcp-bridge-instances/private',
        "install -m 0400 /var/lib/secrets/private-owner /run/mcp-bridge-instances/private/owner",
        "install -m 0400 /var/lib/secrets/private-tokens /run/mcp-bridge-instances/private/tokens",
        "install -m 0400 /var/lib/secrets/private-totp /run/mcp-bridge-instances/private/totp",
      ]);
      expect(prepare?.postStop).toBe('rm -rf /run/mcp-bridge-instances/private');
      expect(services['mcp-bridge-prepare-tokens']?.script).not.toContain('mcp-bridge-instances/tokens/owner');
      // The owner's commands on the host.
      expect(systemPackages).toEqual([`${STUB}-mcp-bridge`]);
      // Instances without secrets need no preparation.
      expect(Object.keys((await evaluate<Host>('instances')).services).filter((name) => name.includes('prepare'))).toEqual([]);
    });
  });

  it("evaluates the README's example host without failed assertions", async () => {
    const { failedAssertions, vms, cloudflared } = await evaluate<Host>('exampleHost');
    expect(failedAssertions).toEqual([]);
    expect(vms['mcp-nixos']?.microvm?.storeOnDisk).toBe(true);
    expect(cloudflared.home?.ingress).toEqual({
      'mcp-nixos.example.org': 'http://192.168.100.2:8080',
      'mcp-private.example.org': 'http://192.168.100.6:8080',
    });
    expect(vms.private?.failedAssertions).toEqual([]);
    expect(execArgv(vms.private?.service?.serviceConfig.ExecStart)).toContain('--oauth');
    // The tailnet VM serves mcp-nixos and the time server, the latter without one of its tools.
    expect(vms.tailnet?.failedAssertions).toEqual([]);
    expect(execArgv(vms.tailnet?.service?.serviceConfig.ExecStart)).toContain('--config');
    expect(vms.tailnet?.serversConfig).toEqual({
      mcpServers: {
        nixos: expect.objectContaining({ command: `${STUB}-mcp-nixos/bin/mcp-nixos`, args: [] }),
        time: {
          command: `${STUB}-mcp-server-time/bin/mcp-server-time`,
          args: ['--local-timezone=Europe/Berlin'],
          env: { SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' },
          tools: { deny: ['convert_time'] },
        },
      },
    });
  });

  it('lets a host run a bridge of its own through the guest module next to its instances', async () => {
    const { failedAssertions, vms, services } = await evaluate<Host>('hostWithGuestModule');
    expect(failedAssertions).toEqual([]);
    expect(Object.keys(vms)).toEqual(['alpha']);
    expect(Object.keys(services).sort()).toEqual(['mcp-bridge', 'mcp-bridge-tc-alpha', 'microvm@alpha']);
    expect(execArgv(services['mcp-bridge']?.serviceConfig.ExecStart).slice(1, 3)).toEqual(['--host', '127.0.0.1']);
  });

  describe('host module assertions', () => {
    it('rejects a vsock CID used twice, naming the instances', async () => {
      const { failedAssertions } = await evaluate<Host>('duplicateCids');
      expect(failedAssertions).toEqual([
        'services.mcp-bridge.instances: each vsockCid must be unique, but 7 is used by alpha, beta.',
      ]);
    });

    it('rejects an address used twice, naming where', async () => {
      const { failedAssertions } = await evaluate<Host>('duplicateAddresses');
      expect(failedAssertions).toEqual([
        'services.mcp-bridge.instances: each address must be unique, but 192.168.100.1 is used by ' +
          'alpha.hostAddress, beta.hostAddress; 192.168.100.2 is used by alpha.guestAddress, beta.guestAddress.',
      ]);
    });

    it('refuses a Cloudflare route that cloudflared would ignore: cloudflared off, a token tunnel, a misspelt tunnel', async () => {
      expect((await evaluate<Host>('cloudflareOff')).failedAssertions).toEqual([
        'services.mcp-bridge.instances.web.expose.cloudflare routes mcp.example.org, but services.cloudflared.enable is false: enable it, or drop expose.cloudflare.',
      ]);
      expect((await evaluate<Host>('cloudflareTokenTunnel')).failedAssertions).toEqual([
        expect.stringMatching(/^services\.mcp-bridge\.instances\.web\.expose\.cloudflare\.tunnel "home" runs with a token .* ignores local ingress rules: route mcp\.example\.org to http:\/\/192\.168\.100\.2:8080 in the dashboard/),
      ]);
      expect((await evaluate<Host>('cloudflareMisspeltTunnel')).failedAssertions).toEqual([
        expect.stringMatching(/^services\.mcp-bridge\.instances\.web\.expose\.cloudflare\.tunnel "hom" is not a tunnel .* \(known: hom, home\): check its spelling/),
      ]);
    });

    it('refuses an instance name no guest can have as its host name, naming a fix', async () => {
      const { failedAssertions } = await evaluate<Host>('dottedInstanceName');
      expect(failedAssertions).toEqual([expect.stringMatching(/^services\.mcp-bridge\.instances\."mcp\.nixos": the name is the guest's host name, .* \(e\.g\. "mcp-nixos"\)/)]);
    });

    it('warns when the host does not use networkd, whose wait-online would then fail, and not when it does or when wait-online is off', async () => {
      const warning = /systemd-networkd-wait-online would wait for interfaces it does not manage .* Set systemd\.network\.wait-online\.enable = false/;
      expect((await evaluate<Host & { warnings: string[] }>('instances')).warnings).toEqual([expect.stringMatching(warning)]);
      expect((await evaluate<Host & { warnings: string[] }>('networkdHost')).warnings).toEqual([]);
      expect((await evaluate<Host & { warnings: string[] }>('exampleHost')).warnings).toEqual([]);
    });

    it('is checked against stubs as strict as NixOS and systemd: a misspelt unit attribute, networkd field or directive fails', async () => {
      const evaluated = (module: string) => evaluatedOnHost(module, { withHostModule: false });
      expect(await evaluated('{ systemd.services.x.bindTo = [ "a.service" ]; }')).toMatch(/The option `systemd\.services\.x\.bindTo' does not exist/);
      expect(await evaluated('{ systemd.services.x.after = [ "network-online" ]; }')).toMatch(/not of type/);
      expect(await evaluated('{ systemd.services.x.serviceConfig.ProtectClok = true; }')).toMatch(/systemd directives/);
      expect(await evaluated('{ systemd.services.x.serviceConfig.SystemCallFilter = [ "@system-servce" ]; }')).toMatch(/known syscall groups/);
      expect(await evaluated('{ systemd.network.networks.x.linkConfig.RequiredForOnlin = "no"; }')).toMatch(/networkd section with only the fields/);
      expect(await evaluated('{ systemd.network.networks.x.routes = [ { Destinaton = "10.0.0.1/32"; } ]; }')).toMatch(/networkd section with only the fields/);
      // microvm.nix's own host options, not a stand-in: a misspelt VM attribute fails too.
      expect(await evaluatedOnHost('{ microvm.vms.x.autostrat = true; }', { withHostModule: true, force: 'microvm.vms.x.autostart' })).toMatch(/The option `microvm\.vms\.x\.autostrat' does not exist/);
      expect(await evaluated('{ systemd.services.x = { after = [ "a.service" ]; serviceConfig.ProtectClock = true; }; systemd.network.networks.x.linkConfig.RequiredForOnline = "no"; }')).toBe('accepted');
    });

    it('takes bit rates only, and no "." or ".." as interface names, with messages that say what is meant', async () => {
      const refused = (module: string) => evaluatedOnHost(module, { withHostModule: true });
      const instance = (extra: string) => `{ services.mcp-bridge.instances.a = { vsockCid = 3; allowUnauthenticated = true; hostAddress = "192.168.100.1"; guestAddress = "192.168.100.2"; ${extra} }; }`;
      expect(await refused(instance('bandwidth.toGuest.rate = "100mbps";'))).toMatch(/bit rate such as "100mbit" \(bit, kbit, mbit, gbit or tbit; tc's "bps" units are bytes\)/);
      expect(await refused(instance('bandwidth.fromGuest.rate = "100";'))).toMatch(/bit rate such as "100mbit"/);
      expect(await refused(instance('tap.name = "..";'))).toMatch(/tap\.name/);
      expect(await refused(instance('bandwidth.toGuest.rate = "10mbit";'))).toBe('accepted');
    });

    it('rejects a tap name longer than 15 characters', async () => {
      const { failedAssertions } = await evaluate<Host>('longTapName');
      expect(failedAssertions).toEqual([
        'services.mcp-bridge.instances.nixos-search1.tap.name "vm-nixos-search1" has 16 characters, ' +
          'but Linux interface names have at most 15; set a shorter tap.name.',
        'services.mcp-bridge.instances.nixos-search1.tap.ifb "if-nixos-search1" has 16 characters, ' +
          'but Linux interface names have at most 15; set a shorter tap.ifb.',
      ]);
    });

    it('requires an instance to allow serving without authentication explicitly', async () => {
      const { failedAssertions } = await evaluate<Host>('unauthenticatedInstance');
      expect(failedAssertions).toHaveLength(1);
      expect(failedAssertions[0]).toMatch(/^services\.mcp-bridge\.instances\.alpha: .*set authTokenFile .* or oauth .*, or allowUnauthenticated = true/);
    });

    it('requires oauth.publicUrl and oauth.ownerFile once oauth is on', async () => {
      const { failedAssertions } = await evaluate<Host>('oauthIncomplete');
      expect(failedAssertions).toEqual([
        expect.stringMatching(/^services\.mcp-bridge\.instances\.alpha\.oauth\.enable needs services\.mcp-bridge\.instances\.alpha\.oauth\.publicUrl: /),
        expect.stringMatching(/^services\.mcp-bridge\.instances\.alpha\.oauth\.enable needs services\.mcp-bridge\.instances\.alpha\.oauth\.ownerFile: .*mcp-bridge oauth init/),
      ]);
    });

    it('rejects a secret file inside the Nix store, or a Nix path that would be copied there', async () => {
      const { failedAssertions } = await evaluate<Host>('secretsInStore');
      expect(failedAssertions).toEqual([
        expect.stringMatching(/^services\.mcp-bridge\.instances\.alpha\.authTokenFile is \/nix\/store\/0+-tokens, which is .*inside the world-readable Nix store/),
        expect.stringMatching(/^services\.mcp-bridge\.instances\.alpha\.oauth\.ownerFile is \/.*\/nix\/tests\/stubs\.nix, which is \(or would be copied\) inside/),
      ]);
    });

    it('the flake check expects exactly the scenarios that fail an assertion to fail', async () => {
      const { stdout } = await run('nix-instantiate', ['--eval', '--strict', '--json', '--expr', 'builtins.attrNames (import ' + join(repoRoot, 'nix/tests/scenarios.nix') + ')']);
      const scenarios = JSON.parse(stdout) as string[];
      const failing = [];
      for (const scenario of scenarios) {
        const result = await evaluate<{ failedAssertions: string[] }>(scenario);
        if (result.failedAssertions.length > 0) failing.push(scenario);
      }
      const { stdout: expected } = await run('nix-instantiate', ['--eval', '--strict', '--json', join(repoRoot, 'nix/tests/expected-to-fail.nix')]);
      expect(failing.sort()).toEqual((JSON.parse(expected) as string[]).sort());
    });

    it('rejects host and guest addresses in different /24 networks', async () => {
      const { failedAssertions } = await evaluate<Host>('splitSubnet');
      expect(failedAssertions).toEqual([
        'services.mcp-bridge.instances.alpha: hostAddress 192.168.100.1 and guestAddress 192.168.101.2 ' +
          'must share a /24, since the guest reaches its gateway on-link.',
      ]);
    });
  });
});
