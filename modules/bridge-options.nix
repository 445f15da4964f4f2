# Bridge settings shared by the guest service and each host instance, which passes them on.
{ lib, pkgs }:

let
  inherit (lib) literalExpression mkOption types;

  # This flake's own package, never a package of that name that some nixpkgs may one day have: a host
  # that wants another (the overlay's, an override) sets `package`.
  defaultPackage = pkgs.callPackage ../nix/package.nix { };

  # A stdio server: its command and environment (the single `server`, and each entry of `servers`).
  serverOptions = {
    command = mkOption {
      type = types.nonEmptyListOf types.str;
      default = [ (lib.getExe pkgs.mcp-nixos) ];
      defaultText = literalExpression "[ (lib.getExe pkgs.mcp-nixos) ]";
      example = literalExpression ''[ (lib.getExe pkgs.github-mcp-server) "stdio" ]'';
      description = ''
        The stdio MCP server the bridge starts for each session: the program followed by its
        arguments, run without a shell.
      '';
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = import ../nix/mcp-nixos-environment.nix;
      defaultText = literalExpression ''
        {
          MCP_NIXOS_TRANSPORT = "stdio";
          FASTMCP_SHOW_SERVER_BANNER = "false";
          FASTMCP_SHOW_CLI_BANNER = "false";
          FASTMCP_CHECK_FOR_UPDATES = "off";
          FASTMCP_ENV_FILE = "/dev/null";
        }
      '';
      description = ''
        Variables added to the server's environment, which otherwise holds only the bridge's small
        base set and `SSL_CERT_FILE`. The default suits mcp-nixos; setting this replaces it.
        Values are stored in the world-readable Nix store, so keep secrets out of them.
      '';
    };
  };

  # An entry of `servers`: a server, and what it may have of its own. Unset values come from the bridge's options.
  serversEntryOptions = serverOptions // {
    tools = {
      allow = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        example = [ "nixos_*" ];
        description = "Globs of the tools clients may see and call; `null`: every tool not denied.";
      };
      deny = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "delete_*" ];
        description = ''
          Globs of tools hidden from clients: left out of every `tools/list` and refused on
          `tools/call` before the call reaches the server. Deny wins over allow.
        '';
      };
    };

    shared = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "One server process for all of this server's sessions; `null`: the bridge's {option}`shared`.";
    };

    pool = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      description = "Processes of this server started ahead of need; `null`: the bridge's {option}`pool`.";
    };

    maxSessions = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      description = "This server's own session cap, within the bridge's {option}`maxSessions`.";
    };

    idleTimeout = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      description = "Seconds before an idle session of this server is closed; `null`: the bridge's {option}`idleTimeout`.";
    };

    authTokenFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/var/lib/secrets/mcp-files-tokens";
      description = ''
        Bearer tokens for this server only, instead of the bridge's {option}`authTokenFile`. A path on
        this machine (for an instance, on the host), outside the Nix store.
      '';
    };
  };
in
{
  package = mkOption {
    type = types.package;
    default = defaultPackage;
    defaultText = lib.literalMD "mcp-bridge as this flake builds it";
    description = "The mcp-bridge package to run.";
  };

  server = serverOptions;

  servers = mkOption {
    type = types.attrsOf (types.submodule { options = serversEntryOptions; });
    default = { };
    example = literalExpression ''
      {
        nixos = { };
        time = {
          command = [ (lib.getExe pkgs.mcp-server-time) ];
          environment = { };
          tools.deny = [ "convert_*" ];
        };
      }
    '';
    description = ''
      Several servers on one endpoint, each at `<pathPrefix>/servers/<name>/mcp` (names of lowercase
      letters, digits and `-`), with its own sessions, limits and tool filter; the bridge's other options
      are their defaults. When set, {option}`server` is not used. The only server of a set of one is also
      served at {option}`path`.
    '';
  };

  pathPrefix = mkOption {
    type = types.strMatching "(/[^/?# ]+)*";
    default = "";
    example = "/mcp";
    description = "What comes before `/servers/<name>/mcp` (and the list at `/servers`) with {option}`servers`.";
  };

  path = mkOption {
    type = types.strMatching "/.*";
    default = "/mcp";
    description = "URL path of the MCP endpoint.";
  };

  allowedHosts = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "mcp.example.org" ];
    description = ''
      Host names (without port) accepted in the `Host` header. When empty, the bridge accepts
      only loopback names if it listens on a loopback address, and any name otherwise.
    '';
  };

  allowedOrigins = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "https://example.org" ];
    description = ''
      Browser origins accepted in addition to `https://claude.ai` and `https://claude.com`.
      Requests without an `Origin` header are always accepted.
    '';
  };

  maxSessions = mkOption {
    type = types.ints.positive;
    default = 32;
    description = "Maximum number of concurrent MCP sessions, each with its own server process.";
  };

  pool = mkOption {
    type = types.ints.unsigned;
    default = 0;
    example = 2;
    description = ''
      Server processes kept started ahead of need, so that a new session does not wait for one to
      start (a Python server such as mcp-nixos takes about a second). They count toward
      {option}`maxSessions` and cost memory like sessions do. Not used with {option}`shared`.
    '';
  };

  shared = mkOption {
    type = types.bool;
    default = false;
    description = ''
      Serve every session from one server process instead of one per session: far less memory and no
      start-up wait, for servers that keep no per-client state (mcp-nixos is one). Requests from the
      server to a client (sampling, elicitation, roots) reach a client only while exactly one session
      has a call in flight; see the bridge's README for what a shared server cannot do.
    '';
  };

  modern = mkOption {
    type = types.bool;
    default = true;
    description = ''
      Serve MCP 2026-07-28 (sessionless) clients too, translating for a 2025-era server; off, they get the
      answer that makes them fall back to `initialize`. See the bridge's README, "Protocol eras".
    '';
  };

  childEra = mkOption {
    type = types.enum [
      "auto"
      "legacy"
      "modern"
    ];
    default = "auto";
    description = ''
      The protocol era the server speaks: `auto` probes its first process with `server/discover`;
      `legacy` (2025, `initialize`) and `modern` (2026-07-28 only, as mcp-nixos 3.1) skip the probe.
    '';
  };

  idleTimeout = mkOption {
    type = types.ints.positive;
    default = 600;
    description = "Seconds after which an idle session is closed and its server process stopped.";
  };

  nodeId = mkOption {
    type = types.nullOr (types.strMatching "[a-z0-9]{1,16}");
    default = null;
    example = "a";
    description = ''
      This bridge's id among several behind one load balancer: its session ids start with `<nodeId>-`,
      every response names it in `X-Mcp-Bridge-Node`, and its metrics carry it. `null`: a random one.
    '';
  };

  peers = mkOption {
    type = types.attrsOf (types.strMatching "https?://[^/]+");
    default = { };
    example = {
      b = "http://192.168.100.4:8080";
    };
    description = ''
      The other nodes by id, as `http(s)://HOST:PORT`: a request for one of their sessions is passed there
      and its answer streamed back, so any load balancer works, round robin included. Needs
      {option}`nodeId` and {option}`peerSecretFile`.
    '';
  };

  peerSecretFile = mkOption {
    type = types.nullOr types.path;
    default = null;
    example = "/var/lib/secrets/mcp-bridge-peer-secret";
    description = ''
      A secret shared by the nodes (one line of at least 32 characters, e.g. `openssl rand -hex 32`),
      with which they pass requests to each other. A path on this machine (for an instance, on the host),
      outside the Nix store.
    '';
  };

  drainTimeout = mkOption {
    type = types.ints.unsigned;
    default = 0;
    example = 30;
    description = ''
      On stop, seconds to go on serving the calls in flight, taking no new session (the balancer sends
      new ones to the other nodes) and ending each session once it has none; `0`: end them at once.
    '';
  };

  authTokenFile = mkOption {
    type = types.nullOr types.path;
    default = null;
    example = "/var/lib/secrets/mcp-bridge-tokens";
    description = ''
      File of bearer tokens, one per line: every request then needs `Authorization: Bearer <token>`
      (Claude Code, mcp-remote, scripts). A path on this machine (for an instance, on the host), given
      as a string outside the Nix store; the service reads it as a systemd credential, at each start.
    '';
  };

  oauth = {
    enable = lib.mkEnableOption ''
      the bridge's built-in OAuth authorization server, so that claude.ai, the Claude apps, Claude Code,
      mcp-remote and the Inspector connect privately: the owner logs in once per client with a
      passphrase. Its state (clients, token hashes) persists in the service's state directory'';

    publicUrl = mkOption {
      type = types.nullOr (types.strMatching "https?://.+");
      default = null;
      example = "https://mcp.example.org/mcp";
      description = ''
        The endpoint's URL exactly as users type it into claude.ai. Every URL the authorization
        server advertises comes from it; its host is also an allowed `Host`.
      '';
    };

    ownerFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/var/lib/secrets/mcp-bridge-owner";
      description = ''
        The owner's passphrase hash, made by `mcp-bridge oauth init FILE`. A path on this machine (for
        an instance, on the host), given as a string outside the Nix store; read at each start, so a
        new passphrase takes effect, and revokes every grant, on restart.
      '';
    };

    totpFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/var/lib/secrets/mcp-bridge-totp";
      description = ''
        A TOTP secret (from `mcp-bridge oauth init FILE --totp TOTPFILE`): the login page then also
        asks for a code from the owner's authenticator app. Kept like {option}`oauth.ownerFile`.
      '';
    };

    redirectAllow = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "https://inspector.example.org/oauth/callback" ];
      description = ''
        Redirect URIs (compared exactly) that may receive codes besides Claude's callbacks and
        loopback ones, for another hosted client.
      '';
    };
  };

  allowUnauthenticated = mkOption {
    type = types.bool;
    default = false;
    description = ''
      Serve without authentication on an address beyond loopback. The bridge refuses that unless told,
      so that a public endpoint without tokens is always a deliberate choice (reasonable for a read-only
      server such as mcp-nixos behind an unguessable {option}`path`).
    '';
  };

  trustProxy = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "127.0.0.1/32" ];
    description = ''
      Address ranges of proxies (cloudflared, tailscale serve) that may name the client in
      {option}`clientIpHeader`, for the bridge's per-client limits.
    '';
  };

  clientIpHeader = mkOption {
    type = types.strMatching "[A-Za-z0-9-]+";
    default = "x-forwarded-for";
    example = "cf-connecting-ip";
    description = ''
      The header a {option}`trustProxy` peer names the client in. `X-Forwarded-For` is read from
      the right, past trusted hops: Cloudflare and `tailscale serve` both append the address they
      saw, so it cannot be chosen by the client. Use `cf-connecting-ip` only when every request
      comes through Cloudflare: other proxies pass a client's own value through.
    '';
  };

  extraArgs = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [
      "--log-level"
      "debug"
    ];
    description = "Further arguments for the bridge, placed before the server command.";
  };
}
