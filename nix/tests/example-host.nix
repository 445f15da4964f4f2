# A host as the README describes it: mcp-nixos public through Cloudflare Tunnel from its own store
# disk, a private instance for claude.ai behind OAuth through the same tunnel, and one for the tailnet on
# a loopback port serving two servers. Evaluated by the flake checks.
{ lib, pkgs, ... }:
{
  system.stateVersion = "26.05";
  boot.loader.grub.enable = false;
  fileSystems."/" = {
    device = "none";
    fsType = "tmpfs";
  };

  networking.nat.externalInterface = "eth0";
  # The host's own interfaces are not managed by networkd, which the module turns on for the taps.
  systemd.network.wait-online.enable = false;

  services.cloudflared = {
    enable = true;
    tunnels.home = {
      credentialsFile = "/var/lib/cloudflared/home.json";
      default = "http_status:404";
    };
  };

  services.mcp-bridge.instances = {
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
    private = {
      vsockCid = 5;
      hostAddress = "192.168.100.5";
      guestAddress = "192.168.100.6";
      store = "disk";
      oauth = {
        enable = true;
        publicUrl = "https://mcp-private.example.org/mcp";
        # Made on the host with `mcp-bridge oauth init /var/lib/secrets/mcp-private-owner`.
        ownerFile = "/var/lib/secrets/mcp-private-owner";
      };
      expose.cloudflare = {
        tunnel = "home";
        hostname = "mcp-private.example.org";
      };
    };
    tailnet = {
      vsockCid = 4;
      allowUnauthenticated = true;
      hostAddress = "192.168.100.3";
      guestAddress = "192.168.100.4";
      allowedHosts = [ "server.example-tailnet.ts.net" ];
      expose.loopbackPort = 18080;
      # Two servers in one VM: /servers/nixos/mcp and /servers/time/mcp.
      servers = {
        nixos = { };
        time = {
          command = [
            (lib.getExe pkgs.mcp-server-time)
            "--local-timezone=Europe/Berlin"
          ];
          environment = { };
          tools.deny = [ "convert_time" ];
        };
      };
    };
  };
}
