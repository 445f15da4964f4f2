# Checks of the authentication settings, shared by the guest service and each host instance: `prefix`
# names the option set in messages, `cfg` is its value.
{ lib }:

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
in
[
  (secretOutsideStore "authTokenFile" cfg.authTokenFile)
  (secretOutsideStore "oauth.ownerFile" cfg.oauth.ownerFile)
  (secretOutsideStore "oauth.totpFile" cfg.oauth.totpFile)
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
]
