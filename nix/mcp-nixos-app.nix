# `nix run`: the bridge with mcp-nixos first on PATH, which the bridge serves when given no
# command (with the environment mcp-nixos needs). Arguments go to the bridge, so
# `nix run . -- --port 9000` works, and so does naming another server after `--`.
{
  lib,
  writeShellApplication,
  cacert,
  mcp-bridge,
  mcp-nixos,
}:

writeShellApplication {
  name = "mcp-bridge-mcp-nixos";
  runtimeInputs = [ mcp-nixos ];
  # The bridge passes SSL_CERT_FILE on to the server, which fetches over HTTPS.
  text = ''
    export SSL_CERT_FILE="''${SSL_CERT_FILE:-${cacert}/etc/ssl/certs/ca-bundle.crt}"
    exec ${lib.getExe mcp-bridge} "$@"
  '';
  meta.description = "mcp-bridge serving mcp-nixos over Streamable HTTP";
}
