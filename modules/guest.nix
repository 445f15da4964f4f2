# The bridge as a plain NixOS service: usable on any machine, and inside each host instance's VM.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  inherit (lib) mkOption types;

  cfg = config.services.mcp-bridge;
  checks = import ./bridge-assertions.nix { inherit lib; };

  # The bridge hands a server an explicit environment only, and TLS clients need a CA bundle.
  environmentOf = server: { SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt"; } // server.environment;

  several = cfg.servers != { };
  credentialsDirectory = "/run/credentials/mcp-bridge.service";

  # `--config`'s file, in the format the bridge reads: unset values are left out, so the options apply.
  serversFile = pkgs.writeText "mcp-bridge-servers.json" (builtins.toJSON serversConfig);
  serversConfig.mcpServers = lib.mapAttrs (
    name: server:
    lib.filterAttrs (_: value: value != null) {
      command = lib.head server.command;
      args = lib.tail server.command;
      env = environmentOf server;
      tools =
        if server.tools.allow == null && server.tools.deny == [ ] then
          null
        else
          { inherit (server.tools) deny; } // lib.optionalAttrs (server.tools.allow != null) { inherit (server.tools) allow; };
      inherit (server) shared pool maxSessions idleTimeout;
      authTokenFile = if server.authTokenFile == null then null else "${credentialsDirectory}/tokens-${name}";
    }
  ) cfg.servers;

  repeat =
    flag: values:
    lib.concatMap (value: [
      flag
      value
    ]) values;

  argv = [
    (lib.getExe cfg.package)
    "--host"
    cfg.listen.address
    "--port"
    (toString cfg.listen.port)
    "--path"
    cfg.path
    "--idle-timeout"
    (toString cfg.idleTimeout)
    "--max-sessions"
    (toString cfg.maxSessions)
  ]
  ++ repeat "--allowed-host" cfg.allowedHosts
  ++ repeat "--allowed-origin" cfg.allowedOrigins
  ++ repeat "--trust-proxy" cfg.trustProxy
  ++ [
    "--client-ip-header"
    cfg.clientIpHeader
  ]
  ++ lib.optional cfg.allowUnauthenticated "--allow-unauthenticated"
  ++ lib.optionals (cfg.pool > 0) [
    "--pool"
    (toString cfg.pool)
  ]
  ++ lib.optional cfg.shared "--shared"
  ++ lib.optional (!cfg.modern) "--no-modern"
  ++ lib.optionals (cfg.childEra != "auto") [
    "--child-era"
    cfg.childEra
  ]
  ++ lib.optionals (cfg.nodeId != null) [
    "--node-id"
    cfg.nodeId
  ]
  ++ repeat "--peer" (lib.mapAttrsToList (node: url: "${node}=${url}") cfg.peers)
  ++ lib.optionals (cfg.drainTimeout > 0) [
    "--drain-timeout"
    (toString cfg.drainTimeout)
  ]
  ++ lib.optionals cfg.oauth.enable (
    [
      "--oauth"
      "--public-url"
      (toString cfg.oauth.publicUrl)
    ]
    ++ repeat "--oauth-redirect-allow" cfg.oauth.redirectAllow
  )
  ++ (
    if several then
      [
        "--config"
        "${serversFile}"
      ]
      ++ lib.optionals (cfg.pathPrefix != "") [
        "--path-prefix"
        cfg.pathPrefix
      ]
    else
      repeat "--env" (lib.mapAttrsToList (name: value: "${name}=${value}") (environmentOf cfg.server))
  )
  ++ cfg.extraArgs;

  # Secret files reach the service as systemd credentials (readable by its dynamic user, copied at each
  # start): credential name, source file, and the flag that names it.
  credentials = lib.filter (credential: credential.file != null) [
    {
      name = "tokens";
      file = cfg.authTokenFile;
      flag = "--auth-token-file";
    }
    {
      name = "owner";
      file = if cfg.oauth.enable then cfg.oauth.ownerFile else null;
      flag = "--oauth-owner-file";
    }
    {
      name = "totp";
      file = if cfg.oauth.enable then cfg.oauth.totpFile else null;
      flag = "--oauth-totp-file";
    }
    {
      name = "peer-secret";
      file = cfg.peerSecretFile;
      flag = "--peer-secret-file";
    }
  ]
  # A server's own tokens: its entry in the servers file names the credential.
  ++ lib.mapAttrsToList (name: server: {
    name = "tokens-${name}";
    file = server.authTokenFile;
    flag = null;
  }) (lib.filterAttrs (_: server: server.authTokenFile != null) cfg.servers);

  # %d is the credentials directory, a specifier that must stay unescaped.
  execStart = lib.concatStringsSep " " (
    [ (utils.escapeSystemdExecArgs argv) ]
    ++ map (credential: "${credential.flag} %d/${credential.name}") (
      lib.filter (credential: credential.flag != null) credentials
    )
    ++ lib.optional (!several) (utils.escapeSystemdExecArgs ([ "--" ] ++ cfg.server.command))
  );

  loopback = lib.hasPrefix "127." cfg.listen.address || cfg.listen.address == "::1" || cfg.listen.address == "localhost";
in
{
  options.services.mcp-bridge = import ./bridge-options.nix { inherit lib pkgs; } // {
    enable = lib.mkEnableOption "mcp-bridge, which serves a stdio MCP server over Streamable HTTP";

    listen = {
      address = mkOption {
        type = types.str;
        default = "127.0.0.1";
        example = "0.0.0.0";
        description = "Address the bridge listens on.";
      };

      port = mkOption {
        type = types.port;
        default = 8080;
        description = "TCP port the bridge listens on.";
      };
    };

    serversConfig = mkOption {
      type = types.attrs;
      internal = true;
      readOnly = true;
      default = serversConfig;
      description = "What the servers file holds, for tests.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to open {option}`services.mcp-bridge.listen.port` in the firewall.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = checks.assertions "services.mcp-bridge" cfg ++ [
      {
        assertion =
          loopback || checks.authenticated cfg || cfg.allowUnauthenticated;
        message =
          "services.mcp-bridge listens on ${cfg.listen.address}, beyond loopback, without authentication: "
          + "set services.mcp-bridge.authTokenFile (for every server without a token file of its own) or "
          + "services.mcp-bridge.oauth, or "
          + "services.mcp-bridge.allowUnauthenticated = true to serve it unauthenticated on purpose.";
      }
      {
        assertion = !(cfg.shared && cfg.pool > 0);
        message =
          "services.mcp-bridge.pool = ${toString cfg.pool} has no use with services.mcp-bridge.shared = true, "
          + "which keeps one server process for all sessions: set one of them.";
      }
    ];

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.listen.port ];

    # `mcp-bridge oauth …`: the owner's commands (init, list, revoke, client).
    environment.systemPackages = lib.mkIf cfg.oauth.enable [ cfg.package ];

    systemd.services.mcp-bridge = {
      description = "MCP bridge: stdio MCP server over Streamable HTTP";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      # In a microVM the secret files come over a share, mounted late in boot.
      unitConfig.RequiresMountsFor = lib.mkIf (credentials != [ ]) (
        map (credential: credential.file) credentials
      );

      serviceConfig = {
        # The bridge sends READY=1 once it listens, so units ordered after this one (and, in a
        # microVM, the host's microvm@ unit) wait until it accepts connections. It sends through
        # the systemd-notify program, a child process, hence NotifyAccess=all.
        Type = "notify";
        NotifyAccess = "all";
        ExecStart = execStart;
        LoadCredential = lib.mkIf (credentials != [ ]) (
          map (credential: "${credential.name}:${credential.file}") credentials
        );
        # The OAuth clients and token hashes: /var/lib/mcp-bridge (under /var/lib/private, for the dynamic
        # user), which the bridge finds through $STATE_DIRECTORY.
        StateDirectory = lib.mkIf cfg.oauth.enable "mcp-bridge";
        StateDirectoryMode = lib.mkIf cfg.oauth.enable "0700";
        Restart = "always";
        RestartSec = 5;
        # Draining runs before the usual shutdown, which waits up to 10 s for the server processes.
        TimeoutStopSec = lib.mkIf (cfg.drainTimeout > 0) (cfg.drainTimeout + 30);

        # No MemoryDenyWriteExecute: V8's JIT and the Python server (libffi) need writable code.
        DynamicUser = true;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        # Each server process runs in a cgroup of its own below the service's, so that a daemon it starts
        # (setsid) ends with its session: the service's subtree is delegated to its dynamic user. That is
        # why ProtectControlGroups is not set: it would make that subtree read-only too.
        Delegate = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        # An empty string, not a list: NixOS drops empty lists, which would keep every capability.
        CapabilityBoundingSet = "";
        LockPersonality = true;
        UMask = "0077";
      };
    };
  };
}
