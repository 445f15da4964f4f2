# The authentication settings' checks, shared by the guest service and each host instance: `cfg` is the
# option set's value, `prefix` names it in messages.
{ lib }:

let
  # Rule: every server served has a token file (its own or the bridge's), or OAuth covers them all.
  authenticated =
    cfg:
    cfg.oauth.enable
    || lib.all (server: server.authTokenFile or null != null || cfg.authTokenFile != null) (
      if cfg.servers != { } then lib.attrValues cfg.servers else [ cfg.server ]
    );

  assertions =
    prefix: cfg:
    let
      # A Nix path value (./owner) is copied into the store as soon as it is used in a string.
      inStore = file: builtins.isPath file || lib.hasPrefix "${builtins.storeDir}/" file;

      secretOutsideStore = option: file: {
        assertion = file == null || !inStore file;
        message =
          "${prefix}.${option} is ${toString file}, which is (or would be copied) inside the world-readable "
          + "Nix store: give the path of a file outside it as a string, e.g. \"/var/lib/secrets/mcp-bridge\".";
      };

      badNames = lib.filter (name: builtins.match "[a-z0-9-]+" name == null) (lib.attrNames cfg.servers);
    in
    [
      {
        assertion = badNames == [ ];
        message =
          "${prefix}.servers: names are served in URLs and must be lowercase letters, digits and \"-\" only, "
          + "but ${lib.concatMapStringsSep ", " (name: "\"${name}\"") badNames} "
          + (if lib.length badNames == 1 then "is not" else "are not")
          + ".";
      }
      (secretOutsideStore "authTokenFile" cfg.authTokenFile)
      (secretOutsideStore "oauth.ownerFile" cfg.oauth.ownerFile)
      (secretOutsideStore "oauth.totpFile" cfg.oauth.totpFile)
      (secretOutsideStore "peerSecretFile" cfg.peerSecretFile)
      {
        assertion = cfg.peers != { } -> cfg.nodeId != null && cfg.peerSecretFile != null;
        message =
          "${prefix}.peers needs ${prefix}.nodeId (the other nodes find this one's sessions by it) and "
          + "${prefix}.peerSecretFile (a secret shared by the nodes, e.g. made with `openssl rand -hex 32`).";
      }
      {
        assertion = !(cfg.peers ? ${toString cfg.nodeId});
        message = "${prefix}.peers names this node itself (${toString cfg.nodeId}): list only the other nodes.";
      }
      {
        assertion = lib.all (node: builtins.match "[a-z0-9]{1,16}" node != null) (lib.attrNames cfg.peers);
        message = "${prefix}.peers: node ids are 1 to 16 lowercase letters and digits.";
      }
    ]
    ++ lib.mapAttrsToList (
      name: server: secretOutsideStore "servers.${name}.authTokenFile" server.authTokenFile
    ) cfg.servers
    ++ [
      {
        assertion = cfg.oauth.enable -> cfg.oauth.publicUrl != null;
        message =
          "${prefix}.oauth.enable needs ${prefix}.oauth.publicUrl: the endpoint URL as users type it into "
          + "claude.ai, e.g. \"https://mcp.example.org/mcp\".";
      }
      {
        assertion = cfg.oauth.enable -> cfg.oauth.ownerFile != null;
        message =
          "${prefix}.oauth.enable needs ${prefix}.oauth.ownerFile: make one with "
          + "`mcp-bridge oauth init /var/lib/secrets/mcp-bridge-owner` and give its path.";
      }
      {
        assertion = (cfg.oauth.ownerFile != null || cfg.oauth.totpFile != null) -> cfg.oauth.enable;
        message = "${prefix}.oauth.ownerFile and totpFile have no use without ${prefix}.oauth.enable = true.";
      }
    ];
in
{
  inherit authenticated assertions;
}
