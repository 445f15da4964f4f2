# Stand-ins for the NixOS options our modules set, so they evaluate with nothing but nixpkgs'
# `lib` (no full nixpkgs, which needs a newer Nix than some test machines have).
{ lib }:

let
  inherit (lib) mkOption types;

  anything = mkOption {
    type = types.anything;
    default = { };
  };
  strings = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  # A systemd unit: the dependency lists merge like NixOS's, the rest is free-form.
  unit = types.submodule {
    freeformType = types.attrsOf types.anything;
    options = {
      requires = strings;
      after = strings;
      bindsTo = strings;
      wantedBy = strings;
      listenStreams = strings;
      serviceConfig = anything;
    };
  };

  stubPackage = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    meta.mainProgram = name;
  };

  common = {
    # Imported by both `host` and `guest`; the key lets a test use the two together.
    key = "mcp-bridge-test-stubs-common";

    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = strings;
      environment.systemPackages = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      system.stateVersion = mkOption {
        type = types.str;
        default = "26.05";
      };
      systemd = {
        services = mkOption {
          type = types.attrsOf unit;
          default = { };
        };
        network = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          networks = mkOption {
            type = types.attrsOf (types.attrsOf types.anything);
            default = { };
          };
        };
      };
    };

    config._module.args = {
      pkgs = {
        # Keeps the text, so that the tests can read what a generated file holds.
        writeText = name: text: stubPackage name // { inherit text; };
        mcp-bridge = stubPackage "mcp-bridge";
        mcp-nixos = stubPackage "mcp-nixos";
        mcp-server-time = stubPackage "mcp-server-time";
        iproute2 = stubPackage "iproute2";
        stdenv.hostPlatform = {
          system = "x86_64-linux";
          isLinux = true;
          isDarwin = false;
        };
      };
      # A copy of escapeSystemdExecArgs from nixpkgs' nixos/lib/utils.nix.
      utils.escapeSystemdExecArgs = lib.concatMapStringsSep " " (
        arg: lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON (toString arg))
      );
    };
  };
in
{
  inherit stubPackage;

  host = {
    imports = [ common ];

    options = {
      microvm.vms = mkOption {
        type = types.attrsOf (
          types.submodule {
            # The real option evaluates a whole NixOS system; here the guest module is kept as is.
            options.config = mkOption { type = types.deferredModule; };
          }
        );
        default = { };
      };
      systemd = {
        package = mkOption {
          type = types.package;
          default = stubPackage "systemd";
        };
        sockets = mkOption {
          type = types.attrsOf unit;
          default = { };
        };
      };
      networking = {
        nat = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          internalInterfaces = strings;
        };
        dhcpcd.denyInterfaces = strings;
        firewall.trustedInterfaces = strings;
      };
      services.cloudflared.tunnels = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.ingress = mkOption {
              type = types.attrsOf types.str;
              default = { };
            };
          }
        );
        default = { };
      };
    };
  };

  guest = {
    imports = [ common ];

    options.networking = {
      hostName = mkOption { type = types.str; };
      useNetworkd = mkOption {
        type = types.bool;
        default = false;
      };
      useDHCP = mkOption {
        type = types.bool;
        default = true;
      };
      nameservers = strings;
      firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
    };
  };
}
