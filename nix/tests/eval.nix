# Evaluates one scenario of ./scenarios.nix against stubbed NixOS options and microvm.nix's real host
# and guest options (and its guest assertions), and returns what the tests check as JSON-friendly data.
#
#   nixpkgsLib: a directory holding lib/default.nix (a nixpkgs or nixpkgs.lib checkout)
#   microvmSrc: a microvm.nix checkout
{
  nixpkgsLib,
  microvmSrc,
  scenario,
}:

let
  lib = import "${nixpkgsLib}/lib";
  stubs = import ./stubs.nix { inherit lib; };
  chosen = (import ./scenarios.nix).${scenario};

  failedAssertions =
    config: map (assertion: assertion.message) (lib.filter (a: !a.assertion) config.assertions);

  # How the microvm.nix host module evaluates microvm.vms.<name>.config, minus the full NixOS.
  evalGuest =
    name: guestModule:
    (lib.evalModules {
      modules = [
        "${microvmSrc}/nixos-modules/microvm/options.nix"
        # microvm.nix's own checks of a guest (duplicate interfaces, shares, volumes, ...), for real.
        "${microvmSrc}/nixos-modules/microvm/asserts.nix"
        stubs.guest
        { networking.hostName = lib.mkDefault name; }
        guestModule
      ];
    }).config;

  summarizeGuest =
    config:
    {
      inherit (config.networking)
        hostName
        useNetworkd
        useDHCP
        nameservers
        ;
      inherit (config.system) stateVersion;
      failedAssertions = failedAssertions config;
      firewallTCPPorts = config.networking.firewall.allowedTCPPorts;
      networkdEnabled = config.systemd.network.enable;
      networks = config.systemd.network.networks;
      service = config.systemd.services.mcp-bridge or null;
      systemPackages = config.environment.systemPackages;
      serversConfig = config.services.mcp-bridge.serversConfig;
    }
    // lib.optionalAttrs (config ? microvm) {
      microvm = {
        inherit (config.microvm)
          hypervisor
          vcpu
          mem
          storeOnDisk
          ;
        vsockCid = config.microvm.vsock.cid;
        interfaces = map (interface: {
          inherit (interface) type id mac;
        }) config.microvm.interfaces;
        shares = map (share: {
          inherit (share)
            tag
            source
            mountPoint
            proto
            readOnly
            socket
            cache
            ;
        }) config.microvm.shares;
      };
    };

  # With `withGuestModule`, the host also runs a bridge of its own through the guest module.
  evalHost =
    {
      module,
      withGuestModule ? false,
      ...
    }:
    let
      evaluated = lib.evalModules {
        modules = [
          stubs.host
          # microvm.nix's real host options: microvm.vms and the rest.
          "${microvmSrc}/nixos-modules/host/options.nix"
          ../../modules/host.nix
          module
        ]
        ++ lib.optionals withGuestModule [
          stubs.guest
          ../../modules/guest.nix
          { networking.hostName = "host"; }
        ];
      };
      inherit (evaluated) config;
      # The real microvm.vms.<name>.config evaluates a whole NixOS system (a full nixpkgs); the option's
      # definitions still hold the guest modules as the host module wrote them.
      guestModules = lib.foldl' (all: definition: all // definition) { } evaluated.options.microvm.vms.definitions;
    in
    {
      failedAssertions = failedAssertions config;
      inherit (config) warnings;
      # As NixOS does, the host's assertions come first: a failed one stops before the guests are built.
      vms =
        if failedAssertions config != [ ] then
          { }
        else
          lib.mapAttrs (name: vm: summarizeGuest (evalGuest name vm.config)) guestModules;
      services = config.systemd.services;
      sockets = config.systemd.sockets;
      networkdEnabled = config.systemd.network.enable;
      networks = config.systemd.network.networks;
      nat = config.networking.nat;
      dhcpcdDenyInterfaces = config.networking.dhcpcd.denyInterfaces;
      trustedInterfaces = config.networking.firewall.trustedInterfaces;
      cloudflared = config.services.cloudflared.tunnels;
      systemPackages = config.environment.systemPackages;
    };

  evalStandaloneGuest =
    module:
    summarizeGuest (
      (lib.evalModules {
        modules = [
          stubs.guest
          ../../modules/guest.nix
          { networking.hostName = "standalone"; }
          module
        ];
      }).config
    );
in
if chosen.kind == "host" then evalHost chosen else evalStandaloneGuest chosen.module
