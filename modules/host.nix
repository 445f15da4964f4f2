# Host side: each instance becomes a microVM running the guest service, reached over a routed tap
# link, with NAT, bandwidth limits both ways, and optional exposure through Cloudflare Tunnel or
# a host loopback port. Needs microvm.nix's host module, which nixosModules.default imports.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) literalExpression mkOption types;

  cfg = config.services.mcp-bridge;
  instances = lib.filterAttrs (_: instance: instance.enable) cfg.instances;
  hostStateVersion = config.system.stateVersion;

  octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  ipv4 = types.strMatching "(${octet}\\.){3}${octet}";
  # tc reads these as single words; the patterns keep anything else off its command line. Rates are bits
  # per second only: tc reads "100mbps" as 100 megabytes per second and a bare "100" as 100 bit/s.
  decimal = "[0-9]+(\\.[0-9]+)?";
  tcRate = types.strMatching "${decimal}[kmgt]?bit" // {
    description = "bit rate such as \"100mbit\" (bit, kbit, mbit, gbit or tbit; tc's \"bps\" units are bytes)";
  };
  tcSize = types.strMatching "${decimal}([kmg]?b|[kmgt]?bit)" // {
    description = "size such as \"10mbit\" or \"64kb\" (b, kb, mb, gb, or bit units)";
  };
  tcTime = types.strMatching "${decimal}(us|ms|s)" // {
    description = "time such as \"400ms\" (us, ms or s)";
  };

  # 02: marks a locally administered unicast address; the guest's IPv4 octets make it unique.
  macFromIPv4 =
    address:
    "02:00:"
    + lib.concatMapStringsSep ":" (
      byte: lib.toLower (lib.fixedWidthString 2 "0" (lib.toHexString (lib.toInt byte)))
    ) (lib.splitString "." address);

  # Each field has its own default, so that setting only `rate` keeps the others.
  bandwidthOption =
    { description }:
    mkOption {
      type = types.nullOr (
        types.submodule {
          options = {
            rate = mkOption {
              type = tcRate;
              default = "100mbit";
              description = "Sustained rate in bits per second, in tc(8) units.";
            };
            burst = mkOption {
              type = tcSize;
              default = "10mbit";
              description = "Bucket size: how much may pass at once above the rate.";
            };
            latency = mkOption {
              type = tcTime;
              default = "400ms";
              description = "Longest time a packet may wait in the queue before it is dropped.";
            };
          };
        }
      );
      default = { };
      description = description + " `null` leaves this direction unlimited.";
    };

  instanceModule =
    { name, config, ... }:
    {
      options = import ./bridge-options.nix { inherit lib pkgs; } // {
        enable = lib.mkEnableOption "this mcp-bridge microVM" // {
          default = true;
        };

        port = mkOption {
          type = types.port;
          default = 8080;
          description = ''
            Port the bridge listens on inside the guest, on all guest addresses. The guest's
            firewall opens only this port.
          '';
        };

        vcpu = mkOption {
          type = types.ints.positive;
          default = 1;
          description = "Number of virtual CPUs.";
        };

        mem = mkOption {
          type = types.ints.positive;
          default = 768;
          description = ''
            Guest memory in MiB. It also holds the guest's tmpfs root; mcp-nixos peaks near 500 MiB.
          '';
        };

        hypervisor = mkOption {
          type = types.enum [
            "cloud-hypervisor"
            "qemu"
          ];
          default = "cloud-hypervisor";
          description = ''
            The microVM's hypervisor. Only cloud-hypervisor reports the guest's readiness to the
            host, so that `microvm@<name>.service` becomes active once the bridge listens.
          '';
        };

        vsockCid = mkOption {
          type = types.ints.between 3 4294967294;
          example = 3;
          description = ''
            The guest's vsock address, unique among this host's VMs (0 to 2 are reserved). It
            carries the guest's readiness notification to the host.
          '';
        };

        hostAddress = mkOption {
          type = ipv4;
          example = "192.168.100.1";
          description = "The host's IPv4 address on this instance's tap link, the guest's gateway.";
        };

        guestAddress = mkOption {
          type = ipv4;
          example = "192.168.100.2";
          description = ''
            The guest's IPv4 address. It must share a /24 with `hostAddress`.
          '';
        };

        nameservers = mkOption {
          type = types.listOf types.str;
          default = [
            "1.1.1.1"
            "9.9.9.9"
          ];
          description = "DNS servers the guest uses, reached through the host's NAT.";
        };

        tap = {
          name = mkOption {
            # Not "." or "..", which Linux refuses as interface names.
            type = types.strMatching "[A-Za-z0-9_-][A-Za-z0-9_.-]*";
            default = "vm-${name}";
            defaultText = literalExpression ''"vm-''${name}"'';
            description = "Name of the host's tap interface for this guest, at most 15 characters.";
          };

          ifb = mkOption {
            type = types.strMatching "[A-Za-z0-9_-][A-Za-z0-9_.-]*";
            default = "if-${name}";
            defaultText = literalExpression ''"if-''${name}"'';
            description = ''
              Name of the IFB device that shapes the guest's outgoing traffic ({option}`bandwidth.fromGuest`),
              at most 15 characters.
            '';
          };

          mac = mkOption {
            type = types.strMatching "([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}";
            default = macFromIPv4 config.guestAddress;
            defaultText = lib.literalMD "`02:00:` and the four octets of `guestAddress` in hex";
            description = "MAC address of the guest's network interface.";
          };
        };

        store = mkOption {
          type = types.enum [
            "share"
            "disk"
          ];
          default = "share";
          description = ''
            Where the guest's /nix/store comes from. `"share"` mounts the host's store read-only
            over virtiofs: no extra build, but the guest can read every host store path. `"disk"`
            boots from an image of the guest's own closure; use it for public instances.
          '';
        };

        bandwidth = {
          toGuest = bandwidthOption {
            description = ''
              Limit on traffic from the host to the guest (client requests, replies to the guest's
              own fetches), shaped by a tbf qdisc on the tap.
            '';
          };

          fromGuest = bandwidthOption {
            description = ''
              Limit on traffic from the guest to the host (the bridge's responses, the guest's
              outgoing requests): the tap's ingress is redirected to an IFB device ({option}`tap.ifb`),
              whose tbf qdisc shapes it.
            '';
          };
        };

        expose = {
          cloudflare = mkOption {
            type = types.nullOr (
              types.submodule {
                options = {
                  tunnel = mkOption {
                    type = types.str;
                    example = "00000000-0000-0000-0000-000000000000";
                    description = "Name of the tunnel in {option}`services.cloudflared.tunnels`.";
                  };
                  hostname = mkOption {
                    type = types.str;
                    example = "mcp-nixos.example.org";
                    description = "Public host name routed to this instance; also an allowed Host.";
                  };
                };
              }
            );
            default = null;
            description = ''
              Route a Cloudflare Tunnel host name to the guest. The tunnel itself (credentials,
              DNS route) is configured in {option}`services.cloudflared.tunnels`.
            '';
          };

          loopbackPort = mkOption {
            type = types.nullOr types.port;
            default = null;
            example = 18080;
            description = ''
              Forward this port on the host's 127.0.0.1 to the guest, for tools that only proxy to
              localhost, such as `tailscale serve` and `tailscale funnel`.
            '';
          };
        };
      };
    };

  checks = import ./bridge-assertions.nix { inherit lib; };

  # What an instance's guest needs from the host besides the store: its secret files, copied before each
  # start into a directory shared read-only (nothing else of the host's secrets reaches the guest), and,
  # with OAuth, a state directory shared writable, so that grants survive the VM and the owner can run
  # `mcp-bridge oauth list|revoke --state-dir <stateDir>/mcp-bridge` on the host.
  secretsDirOf = name: "/run/mcp-bridge-instances/${name}";
  stateDirOf = name: "/var/lib/mcp-bridge-instances/${name}";
  guestSecretsDir = "/run/mcp-bridge-secrets";
  secretsOf =
    instance:
    lib.filterAttrs (_: file: file != null) (
      {
        tokens = instance.authTokenFile;
        owner = if instance.oauth.enable then instance.oauth.ownerFile else null;
        totp = if instance.oauth.enable then instance.oauth.totpFile else null;
        peer-secret = instance.peerSecretFile;
      }
      // lib.mapAttrs' (name: server: lib.nameValuePair "tokens-${name}" server.authTokenFile) instance.servers
    );
  guestSecret =
    instance: secret:
    if (secretsOf instance) ? ${secret} then "${guestSecretsDir}/${secret}" else null;

  tapUnit = name: "microvm-tap-interfaces@${name}.service";
  tapNames = lib.mapAttrsToList (_: instance: instance.tap.name) instances;
  socketProxyd = "${config.systemd.package}/lib/systemd/systemd-socket-proxyd";

  limited = lib.filterAttrs (
    _: instance: instance.bandwidth.toGuest != null || instance.bandwidth.fromGuest != null
  ) instances;
  proxied = lib.filterAttrs (_: instance: instance.expose.loopbackPort != null) instances;
  tunneled = lib.filterAttrs (_: instance: instance.expose.cloudflare != null) instances;
  prepared = lib.filterAttrs (
    _: instance: secretsOf instance != { } || instance.oauth.enable
  ) instances;

  # Both directions' limits, applied by modules/bandwidth-limits.sh (also run as it is by test/nix/bandwidth).
  bandwidthScript = pkgs.writeShellScript "mcp-bridge-bandwidth-limits" (
    builtins.readFile ./bandwidth-limits.sh
  );
  limitArgs =
    limit: if limit == null then "- - -" else "${limit.rate} ${limit.burst} ${limit.latency}";

  trafficControlService =
    name: instance:
    let
      inherit (instance.tap) ifb;
      dev = instance.tap.name;
      inherit (instance.bandwidth) toGuest fromGuest;
    in
    {
      description = "Bandwidth limits of the mcp-bridge microVM ${name}";
      # Each VM start deletes and recreates the tap, dropping its qdiscs: follow the tap's unit. The VM
      # itself requires this unit and starts after it (below), so it never runs without its limits.
      requires = [ (tapUnit name) ];
      after = [ (tapUnit name) ];
      bindsTo = [ (tapUnit name) ];
      wantedBy = [ (tapUnit name) ];
      path = [ pkgs.iproute2 ];

      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${bandwidthScript} start ${dev} ${ifb} ${limitArgs toGuest} ${limitArgs fromGuest}";
        ExecStop = "${bandwidthScript} stop ${dev} ${ifb}";

        CapabilityBoundingSet = [ "CAP_NET_ADMIN" ];
        RestrictAddressFamilies = [
          "AF_NETLINK"
          "AF_UNIX"
        ];
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        SystemCallFilter = [ "@system-service" ];
        LockPersonality = true;
      };
    };

  # The VM starts only once its limits are in place, and not at all if they cannot be.
  vmAfterLimits = name: _: {
    requires = [ "mcp-bridge-tc-${name}.service" ];
    after = [ "mcp-bridge-tc-${name}.service" ];
  };

  # Runs before the VM's virtiofs daemons, and again at each restart of the VM (partOf), so that a changed
  # token or owner file reaches the guest on `systemctl restart microvm@<name>`.
  prepareService =
    name: instance:
    let
      vmUnits = [
        "microvm-virtiofsd@${name}.service"
        "microvm@${name}.service"
      ];
      secrets = secretsOf instance;
    in
    {
      description = "Secrets and state directory of the mcp-bridge microVM ${name}";
      before = vmUnits;
      requiredBy = vmUnits;
      partOf = [ "microvm@${name}.service" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        UMask = "0077";
      };
      script = lib.concatStringsSep "\n" (
        lib.optionals instance.oauth.enable [
          "install -d -m 0700 /var/lib/mcp-bridge-instances ${lib.escapeShellArg (stateDirOf name)}"
        ]
        ++ [
          "rm -rf ${lib.escapeShellArg (secretsDirOf name)}"
          "install -d -m 0700 /run/mcp-bridge-instances ${lib.escapeShellArg (secretsDirOf name)}"
        ]
        ++ lib.mapAttrsToList (
          secret: file:
          "install -m 0400 ${lib.escapeShellArg file} ${lib.escapeShellArg "${secretsDirOf name}/${secret}"}"
        ) secrets
      );
      postStop = "rm -rf ${lib.escapeShellArg (secretsDirOf name)}";
    };

  proxyService = name: instance: {
    description = "Loopback proxy to the mcp-bridge microVM ${name}";
    # microvm@ becomes active once the guest has booted, which includes the bridge listening.
    requires = [ "microvm@${name}.service" ];
    after = [ "microvm@${name}.service" ];

    serviceConfig = {
      ExecStart = "${socketProxyd} ${instance.guestAddress}:${toString instance.port}";
      DynamicUser = true;
      NoNewPrivileges = true;
      ProtectSystem = "strict";
      ProtectHome = true;
      PrivateTmp = true;
      PrivateDevices = true;
      CapabilityBoundingSet = "";
      RestrictAddressFamilies = [
        "AF_INET"
        "AF_UNIX"
      ];
      SystemCallFilter = [ "@system-service" ];
      LockPersonality = true;
    };
  };

  proxySocket = name: instance: {
    description = "Loopback port of the mcp-bridge microVM ${name}";
    wantedBy = [ "sockets.target" ];
    listenStreams = [ "127.0.0.1:${toString instance.expose.loopbackPort}" ];
  };

  # One unit named <prefix>-<instance> per instance of the set.
  unitsFor =
    prefix: unit:
    lib.mapAttrs' (name: instance: lib.nameValuePair "${prefix}-${name}" (unit name instance));

  guestModule = name: instance: {
    imports = [ ./guest.nix ];

    microvm = {
      inherit (instance) hypervisor vcpu mem;
      vsock.cid = instance.vsockCid;
      interfaces = [
        {
          type = "tap";
          id = instance.tap.name;
          inherit (instance.tap) mac;
        }
      ];
      shares =
        lib.optional (instance.store == "share") {
          tag = "ro-store";
          source = "/nix/store";
          mountPoint = "/nix/.ro-store";
          proto = "virtiofs";
          readOnly = true;
        }
        ++ lib.optional (secretsOf instance != { }) {
          tag = "mcp-bridge-secrets";
          source = secretsDirOf name;
          mountPoint = guestSecretsDir;
          proto = "virtiofs";
          readOnly = true;
        }
        # Mounted as the guest's /var/lib/private, where systemd keeps the state directories of dynamic
        # users: it must be 0700 root, as the host directory is, and the bridge's own directory inside it
        # is then made and owned by systemd in the guest. No caching: the host's commands write requests.
        ++ lib.optional instance.oauth.enable {
          tag = "mcp-bridge-state";
          source = stateDirOf name;
          mountPoint = "/var/lib/private";
          proto = "virtiofs";
          cache = "never";
        };
      storeOnDisk = instance.store == "disk";
    };

    # The guest keeps no state (its root is a tmpfs), so it can follow the host's release.
    system.stateVersion = hostStateVersion;

    networking = {
      useNetworkd = true;
      useDHCP = false;
      inherit (instance) nameservers;
    };

    systemd.network = {
      enable = true;
      networks."20-uplink" = {
        matchConfig.MACAddress = instance.tap.mac;
        # A /24 puts the host's address on-link, so the gateway needs no route of its own.
        address = [ "${instance.guestAddress}/24" ];
        gateway = [ instance.hostAddress ];
      };
    };

    services.mcp-bridge = {
      enable = true;
      inherit (instance)
        package
        server
        path
        allowedOrigins
        maxSessions
        pool
        shared
        modern
        childEra
        idleTimeout
        allowUnauthenticated
        clientIpHeader
        extraArgs
        pathPrefix
        nodeId
        peers
        drainTimeout
        ;
      peerSecretFile = guestSecret instance "peer-secret";
      authTokenFile = guestSecret instance "tokens";
      servers = lib.mapAttrs (
        name: server: server // { authTokenFile = guestSecret instance "tokens-${name}"; }
      ) instance.servers;
      oauth = instance.oauth // {
        ownerFile = guestSecret instance "owner";
        totpFile = guestSecret instance "totp";
      };
      # Every connection comes through the host (cloudflared, the loopback proxy): its forwarding headers name the client.
      trustProxy = [ "${instance.hostAddress}/32" ] ++ instance.trustProxy;
      listen = {
        address = "0.0.0.0";
        inherit (instance) port;
      };
      allowedHosts =
        instance.allowedHosts
        ++ lib.optional (instance.expose.cloudflare != null) instance.expose.cloudflare.hostname;
      openFirewall = true;
    };
  };

  # Values used by more than one owner, each with the list of its owners.
  clashes =
    entries:
    lib.filterAttrs (_: owners: lib.length owners > 1) (
      lib.mapAttrs (_: map (entry: entry.owner)) (lib.groupBy (entry: entry.value) entries)
    );

  uniqueAssertion =
    what: entries:
    let
      found = clashes entries;
    in
    {
      assertion = found == { };
      message =
        "services.mcp-bridge.instances: each ${what} must be unique, but "
        + lib.concatStringsSep "; " (
          lib.mapAttrsToList (
            value: owners: "${value} is used by ${lib.concatStringsSep ", " owners}"
          ) found
        )
        + ".";
    };

  entriesOf = f: lib.concatLists (lib.mapAttrsToList f instances);

  interfaceNameAssertion = name: option: value: {
    assertion = lib.stringLength value <= 15;
    message =
      "services.mcp-bridge.instances.${name}.${option} \"${value}\" has "
      + "${toString (lib.stringLength value)} characters, but Linux interface "
      + "names have at most 15; set a shorter ${option}.";
  };

  # Rule: a Cloudflare route must land in a running, locally managed tunnel. Why: cloudflared ignores local
  # ingress rules of a dashboard (token) tunnel, a misspelt name makes an empty tunnel that fails only when
  # it starts, and with cloudflared off nothing routes at all; each would fail silently on the host.
  cloudflareAssertion =
    name: instance:
    let
      route = instance.expose.cloudflare;
      prefix = "services.mcp-bridge.instances.${name}.expose.cloudflare";
      tunnel = config.services.cloudflared.tunnels.${route.tunnel} or { };
      problem =
        if route == null then
          null
        else if !config.services.cloudflared.enable then
          "${prefix} routes ${route.hostname}, but services.cloudflared.enable is false: enable it, or drop expose.cloudflare."
        else if tunnel.tokenFile or null != null || tunnel.token or null != null then
          "${prefix}.tunnel \"${route.tunnel}\" runs with a token (a tunnel managed in the Cloudflare dashboard), "
          + "which ignores local ingress rules: route ${route.hostname} to http://${instance.guestAddress}:${toString instance.port} "
          + "in the dashboard and drop expose.cloudflare, or use a locally managed tunnel (credentialsFile)."
        else if tunnel.credentialsFile or null == null then
          "${prefix}.tunnel \"${route.tunnel}\" is not a tunnel of services.cloudflared.tunnels with a credentialsFile "
          + "(known: ${lib.concatStringsSep ", " (lib.attrNames config.services.cloudflared.tunnels)}): check its spelling, "
          + "or define it with the credentials file `cloudflared tunnel create ${route.tunnel}` wrote."
        else
          null;
    in
    {
      assertion = problem == null;
      message = toString problem;
    };
in
{
  options.services.mcp-bridge.instances = mkOption {
    type = types.attrsOf (types.submodule instanceModule);
    default = { };
    example = literalExpression ''
      {
        mcp-nixos = {
          vsockCid = 3;
          allowUnauthenticated = true;
          hostAddress = "192.168.100.1";
          guestAddress = "192.168.100.2";
          store = "disk";
          expose.cloudflare = {
            tunnel = "home";
            hostname = "mcp-nixos.example.org";
          };
        };
      }
    '';
    description = ''
      Bridges to run, each in its own microVM named after the attribute. Every instance needs
      its own `vsockCid`, `hostAddress` and `guestAddress`.
    '';
  };

  config = lib.mkIf (instances != { }) {
    assertions = [
      (uniqueAssertion "vsockCid" (
        entriesOf (
          name: instance: [
            {
              value = toString instance.vsockCid;
              owner = name;
            }
          ]
        )
      ))
      (uniqueAssertion "address" (
        entriesOf (
          name: instance: [
            {
              value = instance.hostAddress;
              owner = "${name}.hostAddress";
            }
            {
              value = instance.guestAddress;
              owner = "${name}.guestAddress";
            }
          ]
        )
      ))
      (uniqueAssertion "interface name (tap.name, tap.ifb)" (
        entriesOf (
          name: instance:
          [
            {
              value = instance.tap.name;
              owner = "${name}.tap.name";
            }
          ]
          ++ lib.optional (instance.bandwidth.fromGuest != null) {
            value = instance.tap.ifb;
            owner = "${name}.tap.ifb";
          }
        )
      ))
      (uniqueAssertion "expose.loopbackPort" (
        entriesOf (
          name: instance:
          lib.optional (instance.expose.loopbackPort != null) {
            value = toString instance.expose.loopbackPort;
            owner = name;
          }
        )
      ))
    ]
    ++ lib.concatLists (
      lib.mapAttrsToList (name: instance: [
        (interfaceNameAssertion name "tap.name" instance.tap.name)
        (interfaceNameAssertion name "tap.ifb" instance.tap.ifb)
        {
          # The guest's networking.hostName is the instance's name.
          assertion = builtins.match "[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?" name != null;
          message =
            "services.mcp-bridge.instances.\"${name}\": the name is the guest's host name, which allows only "
            + "letters, digits, \"-\" and \"_\" (no dots), at most 63; rename the instance (e.g. \"${
              lib.replaceStrings [ "." ] [ "-" ] name
            }\").";
        }
        (cloudflareAssertion name instance)
        {
          assertion =
            lib.init (lib.splitString "." instance.hostAddress)
            == lib.init (lib.splitString "." instance.guestAddress);
          message =
            "services.mcp-bridge.instances.${name}: hostAddress ${instance.hostAddress} and "
            + "guestAddress ${instance.guestAddress} must share a /24, since the guest reaches "
            + "its gateway on-link.";
        }
        {
          assertion = instance.allowUnauthenticated || checks.authenticated instance;
          message =
            "services.mcp-bridge.instances.${name}: the bridge in the microVM listens beyond loopback "
            + "without authentication: set authTokenFile (bearer tokens, for every server without a file of "
            + "its own) or oauth (private access from "
            + "claude.ai), or allowUnauthenticated = true to serve it unauthenticated on purpose, ideally "
            + "with an unguessable path.";
        }
      ]
      ++ checks.assertions "services.mcp-bridge.instances.${name}" instance
    ) instances
    );

    microvm.vms = lib.mapAttrs (name: instance: { config = guestModule name instance; }) instances;

    systemd.network = {
      enable = true;
      networks = lib.mapAttrs' (
        _: instance:
        lib.nameValuePair "20-${instance.tap.name}" {
          matchConfig.Name = instance.tap.name;
          # One guest per tap: a /32 and a host route, so taps never share a subnet.
          address = [ "${instance.hostAddress}/32" ];
          routes = [ { Destination = "${instance.guestAddress}/32"; } ];
          # The tap exists only while its VM runs; boot must not wait for it.
          linkConfig.RequiredForOnline = "no";
        }
      ) instances;
    };

    # The guests reach the internet through the host. Their taps are deliberately not trusted
    # interfaces: the host's firewall still applies to traffic from the guests.
    networking.nat = {
      enable = true;
      internalInterfaces = tapNames;
    };
    networking.dhcpcd.denyInterfaces = tapNames ++ lib.mapAttrsToList (_: instance: instance.tap.ifb) limited;

    warnings = lib.optional (!config.networking.useNetworkd && config.systemd.network.wait-online.enable) (
      "services.mcp-bridge.instances: the host module turns on systemd-networkd for the taps, but this host's "
      + "networking is not managed by networkd (networking.useNetworkd is false), so systemd-networkd-wait-online "
      + "would wait for interfaces it does not manage and fail after 2 minutes, delaying units that wait for the "
      + "network (cloudflared). Set systemd.network.wait-online.enable = false, or networking.useNetworkd = true."
    );

    systemd.services = lib.mkMerge [
      (unitsFor "mcp-bridge-tc" trafficControlService limited)
      (lib.mapAttrs' (name: instance: lib.nameValuePair "microvm@${name}" (vmAfterLimits name instance)) limited)
      (unitsFor "mcp-bridge-proxy" proxyService proxied)
      (unitsFor "mcp-bridge-prepare" prepareService prepared)
    ];

    # `mcp-bridge oauth …` on the host: the owner file is made here, and grants are listed and revoked here.
    environment.systemPackages = lib.mapAttrsToList (_: instance: instance.package) (
      lib.filterAttrs (_: instance: instance.oauth.enable) instances
    );
    systemd.sockets = unitsFor "mcp-bridge-proxy" proxySocket proxied;

    services.cloudflared.tunnels = lib.mkMerge (
      lib.mapAttrsToList (_: instance: {
        ${instance.expose.cloudflare.tunnel}.ingress.${instance.expose.cloudflare.hostname} =
          "http://${instance.guestAddress}:${toString instance.port}";
      }) tunneled
    );
  };
}
