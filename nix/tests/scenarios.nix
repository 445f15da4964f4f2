# Configurations evaluated by nix/tests/eval.nix. `host` scenarios configure
# services.mcp-bridge.instances (and, with `withGuestModule`, a bridge on the host itself);
# `guest` scenarios use the guest module on its own.
let
  # A locally managed tunnel, as `cloudflared tunnel create home` makes one.
  cloudflared = {
    enable = true;
    tunnels.home.credentialsFile = "/var/lib/cloudflared/home.json";
  };

  # One public instance routed through `tunnel` with this cloudflared configuration.
  routed = cloudflaredConfig: tunnel: {
    kind = "host";
    module = {
      services.cloudflared = cloudflaredConfig;
      services.mcp-bridge.instances.web = {
        vsockCid = 3;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
        expose.cloudflare = {
          inherit tunnel;
          hostname = "mcp.example.org";
        };
      };
    };
  };
in
{
  guest = {
    kind = "guest";
    module.services.mcp-bridge.enable = true;
  };

  # One public instance behind Cloudflare Tunnel on its own store disk, one on the tailnet through
  # a loopback port with a custom server, one without limits, and a disabled one whose clashing
  # values must be ignored.
  instances = {
    kind = "host";
    module.services.cloudflared = cloudflared;
    module.services.mcp-bridge.instances = {
      public = {
        vsockCid = 3;
        allowUnauthenticated = true;
        shared = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
        vcpu = 2;
        mem = 640;
        store = "disk";
        bandwidth.fromGuest = {
          rate = "20mbit";
          burst = "2mbit";
        };
        expose.cloudflare = {
          tunnel = "home";
          hostname = "mcp-nixos.example.org";
        };
      };
      tailnet = {
        vsockCid = 4;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.3";
        guestAddress = "192.168.100.4";
        port = 9000;
        pool = 2;
        allowedHosts = [ "server.example.ts.net" ];
        server = {
          command = [
            "/run/current-system/sw/bin/other-server"
            "--stdio"
          ];
          environment.LOG = "100%";
        };
        bandwidth.toGuest = null;
        expose.loopbackPort = 18080;
      };
      unlimited = {
        vsockCid = 5;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.5";
        guestAddress = "192.168.100.6";
        bandwidth = {
          toGuest = null;
          fromGuest = null;
        };
      };
      disabled = {
        enable = false;
        vsockCid = 3;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
      };
    };
  };

  # The instances of the README's example host, which the flake checks also evaluate in full.
  exampleHost = {
    kind = "host";
    module =
      { lib, pkgs, ... }:
      let
        host = import ./example-host.nix { inherit lib pkgs; };
      in
      {
        inherit (host) networking systemd;
        services = { inherit (host.services) mcp-bridge cloudflared; };
      };
  };

  hostWithGuestModule = {
    kind = "host";
    withGuestModule = true;
    module.services.mcp-bridge = {
      enable = true;
      instances.alpha = {
        vsockCid = 3;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
      };
    };
  };

  duplicateCids = {
    kind = "host";
    module.services.mcp-bridge.instances = {
      alpha = {
        vsockCid = 7;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
      };
      beta = {
        vsockCid = 7;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.3";
        guestAddress = "192.168.100.4";
      };
      gamma = {
        vsockCid = 8;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.5";
        guestAddress = "192.168.100.6";
      };
    };
  };

  duplicateAddresses = {
    kind = "host";
    module.services.mcp-bridge.instances = {
      alpha = {
        vsockCid = 3;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
      };
      beta = {
        vsockCid = 4;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
      };
    };
  };

  # "vm-nixos-search1" has 16 characters.
  longTapName = {
    kind = "host";
    module.services.mcp-bridge.instances.nixos-search1 = {
      vsockCid = 3;
      allowUnauthenticated = true;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
    };
  };

  splitSubnet = {
    kind = "host";
    module.services.mcp-bridge.instances.alpha = {
      vsockCid = 3;
      allowUnauthenticated = true;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.101.2";
    };
  };

  # An instance that does not say it may serve without authentication.
  unauthenticatedInstance = {
    kind = "host";
    module.services.mcp-bridge.instances.alpha = {
      vsockCid = 3;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
    };
  };

  # A warm pool and a shared server at once: one must go.
  guestPoolAndShared = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      pool = 2;
      shared = true;
    };
  };

  # The guest service on a public address, neither with tokens nor allowed to go without.
  publicGuestWithoutAuth = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      listen.address = "0.0.0.0";
    };
  };

  # The guest service with a token file, handed over as a systemd credential.
  guestWithTokens = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      listen.address = "0.0.0.0";
      authTokenFile = "/run/secrets/mcp-tokens";
    };
  };

  # The guest service private to its owner through OAuth, with a second factor.
  guestWithOAuth = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      listen.address = "0.0.0.0";
      oauth = {
        enable = true;
        publicUrl = "https://mcp.example.org/mcp";
        ownerFile = "/var/lib/secrets/mcp-owner";
        totpFile = "/var/lib/secrets/mcp-totp";
        redirectAllow = [ "https://inspector.example.org/oauth/callback" ];
      };
    };
  };

  # An instance private through OAuth (with tokens too, for Claude Code), and one with tokens only.
  privateInstances = {
    kind = "host";
    module.services.cloudflared = cloudflared;
    module.services.mcp-bridge.instances = {
      private = {
        vsockCid = 3;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
        store = "disk";
        authTokenFile = "/var/lib/secrets/private-tokens";
        oauth = {
          enable = true;
          publicUrl = "https://mcp.example.org/mcp";
          ownerFile = "/var/lib/secrets/private-owner";
          totpFile = "/var/lib/secrets/private-totp";
        };
        expose.cloudflare = {
          tunnel = "home";
          hostname = "mcp.example.org";
        };
      };
      tokens = {
        vsockCid = 4;
        hostAddress = "192.168.100.3";
        guestAddress = "192.168.100.4";
        authTokenFile = "/var/lib/secrets/tokens";
        expose.loopbackPort = 18081;
      };
    };
  };

  # OAuth turned on with neither the URL nor the owner file.
  oauthIncomplete = {
    kind = "host";
    module.services.mcp-bridge.instances.alpha = {
      vsockCid = 3;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
      oauth.enable = true;
    };
  };

  # Secrets in the world-readable store: a store path, and a Nix path that would be copied there.
  secretsInStore = {
    kind = "host";
    module.services.mcp-bridge.instances.alpha = {
      vsockCid = 3;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
      authTokenFile = "/nix/store/00000000000000000000000000000000-tokens";
      oauth = {
        enable = true;
        publicUrl = "https://mcp.example.org/mcp";
        ownerFile = ./stubs.nix;
      };
    };
  };

  # Two servers behind the guest service, one with a filter, tokens and settings of its own.
  guestWithServers = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      pathPrefix = "/mcp";
      servers = {
        nixos = { };
        time = {
          command = [
            "/run/current-system/sw/bin/mcp-server-time"
            "--local-timezone=UTC"
          ];
          environment.TZ = "UTC";
          tools = {
            allow = [ "get_*" ];
            deny = [ "convert_*" ];
          };
          shared = true;
          maxSessions = 4;
          authTokenFile = "/var/lib/secrets/time-tokens";
        };
      };
    };
  };

  # A server name that cannot be part of a URL path.
  badServerName = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      servers."Time.Server" = { };
    };
  };

  # One VM serving two servers on a public address: one has its own tokens, the other the instance's.
  instanceWithServers = {
    kind = "host";
    module.services.mcp-bridge.instances.pair = {
      vsockCid = 3;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
      authTokenFile = "/var/lib/secrets/pair-tokens";
      servers = {
        nixos = { };
        time = {
          command = [ "/run/current-system/sw/bin/mcp-server-time" ];
          environment = { };
          authTokenFile = "/var/lib/secrets/time-tokens";
        };
      };
    };
  };

  # Two instances of one host as the nodes of one endpoint, passing each other's sessions on: the README's.
  instancesAsNodes = {
    kind = "host";
    module.services.mcp-bridge.instances = {
      node-a = {
        vsockCid = 10;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
        allowUnauthenticated = true;
        nodeId = "a";
        peers.b = "http://192.168.100.4:8080";
        peerSecretFile = "/var/lib/secrets/mcp-peer-secret"; # openssl rand -hex 32
        drainTimeout = 30;
        expose.loopbackPort = 18101; # the balancer's server a
      };
      node-b = {
        vsockCid = 11;
        hostAddress = "192.168.100.3";
        guestAddress = "192.168.100.4";
        allowUnauthenticated = true;
        nodeId = "b";
        peers.a = "http://192.168.100.2:8080";
        peerSecretFile = "/var/lib/secrets/mcp-peer-secret";
        drainTimeout = 30;
        expose.loopbackPort = 18102; # the balancer's server b
      };
    };
  };

  # Cloudflare routes that would be silently ignored on a real host, and a name no guest can have.
  cloudflareOff = routed { enable = false; } "home";
  cloudflareTokenTunnel = routed {
    enable = true;
    tunnels.home.tokenFile = "/var/lib/cloudflared/home.token";
  } "home";
  cloudflareMisspeltTunnel = routed cloudflared "hom";
  dottedInstanceName = {
    kind = "host";
    module.services.mcp-bridge.instances."mcp.nixos" = {
      vsockCid = 3;
      allowUnauthenticated = true;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
      tap.name = "vm-mcp";
      tap.ifb = "if-mcp";
    };
  };

  # A host whose own networking is networkd's: no warning about wait-online.
  networkdHost = {
    kind = "host";
    module = {
      networking.useNetworkd = true;
      services.mcp-bridge.instances.alpha = {
        vsockCid = 3;
        allowUnauthenticated = true;
        hostAddress = "192.168.100.1";
        guestAddress = "192.168.100.2";
      };
    };
  };

  # Peers without the node's own id or a secret.
  guestPeersWithoutIdOrSecret = {
    kind = "guest";
    module.services.mcp-bridge = {
      enable = true;
      peers.b = "http://10.0.0.2:8080";
    };
  };

  # The same on a public address with tokens for one server only: the other would be open.
  instanceWithAnOpenServer = {
    kind = "host";
    module.services.mcp-bridge.instances.pair = {
      vsockCid = 3;
      hostAddress = "192.168.100.1";
      guestAddress = "192.168.100.2";
      servers = {
        nixos = { };
        time.authTokenFile = "/var/lib/secrets/time-tokens";
      };
    };
  };
}
