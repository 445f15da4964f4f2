# Flake checks: the package, the module evaluations, and a VM test of the guest service.
{
  self,
  nixpkgs,
  microvm,
  pkgs,
}:

let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;

  # The scenarios of the stubbed evaluation that `npx vitest run test/nix` checks in detail.
  evalScenario =
    scenario:
    import ./tests/eval.nix {
      nixpkgsLib = nixpkgs;
      microvmSrc = microvm;
      inherit scenario;
    };
  scenarios = lib.attrNames (import ./tests/scenarios.nix);
  expectedToFail = import ./tests/expected-to-fail.nix;

  # The example host as a real NixOS system, with microvm.nix's host module.
  host =
    (nixpkgs.lib.nixosSystem {
      modules = [
        self.nixosModules.default
        ./tests/example-host.nix
        { nixpkgs.hostPlatform = system; }
      ];
    }).config;
  guest = host.microvm.vms.mcp-nixos.config.config;
  privateGuest = host.microvm.vms.private.config.config;
  tailnetGuest = host.microvm.vms.tailnet.config.config;

  expectations = {
    "microvm@mcp-nixos waits for the guest's readiness" =
      host.systemd.services."microvm@mcp-nixos".serviceConfig.Type == "notify";
    "the guest service is Type=notify" =
      guest.systemd.services.mcp-bridge.serviceConfig.Type == "notify";
    "the guest boots from its own store disk" =
      guest.microvm.storeOnDisk && guest.microvm.shares == [ ];
    "the tailnet guest shares the host store read-only" =
      (lib.head host.microvm.vms.tailnet.config.config.microvm.shares).readOnly;
    "the traffic-control unit follows the tap" =
      host.systemd.services.mcp-bridge-tc-mcp-nixos.bindsTo == [
        "microvm-tap-interfaces@mcp-nixos.service"
      ];
    "the VM starts only after its bandwidth limits" =
      lib.elem "mcp-bridge-tc-mcp-nixos.service" host.systemd.services."microvm@mcp-nixos".requires
      && lib.elem "mcp-bridge-tc-mcp-nixos.service" host.systemd.services."microvm@mcp-nixos".after;
    "cloudflared routes the hostname to the guest" =
      host.services.cloudflared.tunnels.home.ingress."mcp-nixos.example.org"
      == "http://192.168.100.2:8080";
    "the private guest mounts its state share as /var/lib/private" =
      lib.any (
        share: share.tag == "mcp-bridge-state" && share.mountPoint == "/var/lib/private"
      ) privateGuest.microvm.shares;
    "the private guest's bridge keeps its state in a StateDirectory" =
      privateGuest.systemd.services.mcp-bridge.serviceConfig.StateDirectory == "mcp-bridge";
    "the private instance's secrets are copied before its virtiofs daemons start" =
      lib.elem "microvm-virtiofsd@private.service"
        host.systemd.services.mcp-bridge-prepare-private.before;
    "the tailnet guest serves mcp-nixos and the time server from one config file" =
      lib.attrNames tailnetGuest.services.mcp-bridge.serversConfig.mcpServers == [
        "nixos"
        "time"
      ]
      && lib.hasInfix "--config" tailnetGuest.systemd.services.mcp-bridge.serviceConfig.ExecStart;
    "the loopback proxy listens on 127.0.0.1" =
      host.systemd.sockets.mcp-bridge-proxy-tailnet.listenStreams == [ "127.0.0.1:18080" ];
  };
  unmet = lib.attrNames (lib.filterAttrs (_: met: !met) expectations);
in
{
  inherit (self.packages.${system}) mcp-bridge;

  eval-modules =
    let
      results = lib.genAttrs scenarios evalScenario;
      wrong = lib.filter (
        scenario: (results.${scenario}.failedAssertions != [ ]) != lib.elem scenario expectedToFail
      ) scenarios;
    in
    assert lib.assertMsg (wrong == [ ])
      "scenarios with unexpected assertion results: ${lib.concatStringsSep ", " wrong}";
    pkgs.writeText "eval-modules.json" (builtins.toJSON results);

  # Evaluating the toplevel runs every NixOS assertion, ours included, without building it.
  eval-host =
    assert lib.assertMsg (unmet == [ ]) "example host: unmet ${lib.concatStringsSep "; " unmet}";
    pkgs.writeText "eval-host" (
      builtins.unsafeDiscardStringContext host.system.build.toplevel.drvPath
    );

  guest-vm = pkgs.testers.runNixOSTest (
    import ./tests/vm-test.nix {
      inherit pkgs;
      guestModule = self.nixosModules.guest;
    }
  );
}
