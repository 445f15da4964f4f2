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

  # As strict as NixOS and systemd for what the modules set: a misspelt unit attribute, a dependency
  # without a unit suffix, a directive systemd does not know, or an unknown syscall group fails here, where
  # a real host would evaluate (NixOS) or silently drop it (systemd).
  unitName = types.strMatching ".+\\.(service|socket|target|mount|path|timer|slice|scope|device)";
  unitNames = mkOption {
    type = types.listOf unitName;
    default = [ ];
  };
  oneOrMore = type: types.either type (types.listOf type);

  # The [Unit], [Service], [Socket] and exec directives of systemd 257 that these modules could use.
  directives = [
    "AmbientCapabilities" "BindPaths" "BindReadOnlyPaths" "CacheDirectory" "CapabilityBoundingSet"
    "ConfigurationDirectory" "Delegate" "DeviceAllow" "DevicePolicy" "DynamicUser" "Environment"
    "EnvironmentFile" "ExecReload" "ExecStart" "ExecStartPost" "ExecStartPre" "ExecStop" "ExecStopPost"
    "Group" "IPAddressAllow" "IPAddressDeny" "KillMode" "KillSignal" "LimitNOFILE" "LoadCredential"
    "LockPersonality" "LogsDirectory" "MemoryDenyWriteExecute" "MemoryHigh" "MemoryMax" "NoNewPrivileges"
    "NotifyAccess" "PrivateDevices" "PrivateNetwork" "PrivateTmp" "PrivateUsers" "ProcSubset"
    "ProtectClock" "ProtectControlGroups" "ProtectHome" "ProtectHostname" "ProtectKernelLogs"
    "ProtectKernelModules" "ProtectKernelTunables" "ProtectProc" "ProtectSystem" "ReadOnlyPaths"
    "ReadWritePaths" "RemainAfterExit" "RemoveIPC" "Restart" "RestartSec" "RestrictAddressFamilies"
    "RestrictNamespaces" "RestrictRealtime" "RestrictSUIDSGID" "RuntimeDirectory" "RuntimeDirectoryMode"
    "StateDirectory" "StateDirectoryMode" "SystemCallArchitectures" "SystemCallErrorNumber"
    "SystemCallFilter" "TasksMax" "TimeoutStartSec" "TimeoutStopSec" "Type" "UMask" "User"
    "WatchdogSec" "WorkingDirectory"
  ];
  # systemd's syscall groups (systemd-analyze syscall-filter), which SystemCallFilter may name.
  syscallGroups = [
    "@aio" "@basic-io" "@chown" "@clock" "@cpu-emulation" "@debug" "@file-system" "@io-event" "@ipc"
    "@keyring" "@memlock" "@module" "@mount" "@network-io" "@obsolete" "@pkey" "@privileged"
    "@process" "@raw-io" "@reboot" "@resources" "@sandbox" "@setuid" "@signal" "@swap" "@sync"
    "@system-service" "@timer" "@known" "@default"
  ];
  knownSyscallFilter = entry: !(lib.hasPrefix "@" (lib.removePrefix "~" entry)) || lib.elem (lib.removePrefix "~" entry) syscallGroups;

  serviceConfig = mkOption {
    type = types.addCheck (types.attrsOf types.anything) (
      config:
      lib.all (name: lib.elem name directives) (lib.attrNames config)
      && lib.all knownSyscallFilter (lib.toList (config.SystemCallFilter or [ ]))
    ) // {
      description = "systemd directives of the [Service] and exec sections (known names, known syscall groups)";
    };
    default = { };
  };

  unit = types.submodule {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      requires = unitNames;
      after = unitNames;
      before = unitNames;
      bindsTo = unitNames;
      wantedBy = unitNames;
      requiredBy = unitNames;
      partOf = unitNames;
      path = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
      postStop = mkOption {
        type = types.lines;
        default = "";
      };
      listenStreams = strings;
      unitConfig = mkOption {
        type = types.attrsOf (oneOrMore types.str);
        default = { };
      };
      inherit serviceConfig;
    };
  };

  # A networkd [Network] file as the modules write it; like NixOS's assertOnlyFields, other keys fail.
  section = fields: types.addCheck (types.attrsOf (oneOrMore types.str)) (config: lib.all (name: lib.elem name fields) (lib.attrNames config)) // {
    description = "networkd section with only the fields ${lib.concatStringsSep ", " fields}";
  };
  network = types.submodule {
    options = {
      matchConfig = mkOption {
        type = section [ "Name" "MACAddress" "Type" "Driver" ];
        default = { };
      };
      linkConfig = mkOption {
        type = section [ "RequiredForOnline" "MTUBytes" "ActivationPolicy" ];
        default = { };
      };
      networkConfig = mkOption {
        type = section [ "DHCP" "IPv6AcceptRA" "LinkLocalAddressing" "IPMasquerade" "ConfigureWithoutCarrier" ];
        default = { };
      };
      address = strings;
      gateway = strings;
      dns = strings;
      routes = mkOption {
        type = types.listOf (section [ "Destination" "Gateway" "Scope" "Metric" "GatewayOnLink" ]);
        default = [ ];
      };
    };
  };

  stubPackage = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    meta.mainProgram = name;
  };

  nullOrString = mkOption {
    type = types.nullOr types.str;
    default = null;
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
      networking.useNetworkd = mkOption {
        type = types.bool;
        default = false;
      };
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
          wait-online.enable = mkOption {
            type = types.bool;
            default = true;
          };
          networks = mkOption {
            type = types.attrsOf network;
            default = { };
          };
        };
      };
    };

    config._module.args = {
      pkgs = {
        # Keeps the text, so that the tests can read what a generated file holds.
        writeText = name: text: stubPackage name // { inherit text; };
        # The modules build their own package with callPackage.
        callPackage = _: _: stubPackage "mcp-bridge";
        writeShellScript = name: text: stubPackage name // { inherit text; };
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
          externalInterface = nullOrString;
        };
        dhcpcd.denyInterfaces = strings;
        firewall.trustedInterfaces = strings;
      };
      services.cloudflared = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        tunnels = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                ingress = mkOption {
                  type = types.attrsOf types.str;
                  default = { };
                };
                credentialsFile = nullOrString;
                default = nullOrString;
                token = nullOrString;
                tokenFile = nullOrString;
              };
            }
          );
          default = { };
        };
      };
    };
  };

  guest = {
    imports = [ common ];

    options.networking = {
      # NixOS's own type: the guest's name is the instance's.
      hostName = mkOption { type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$"; };
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
