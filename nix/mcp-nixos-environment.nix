# What mcp-nixos needs to run quietly as a stdio server: no HTTP transport, no banner or update
# check on stdout (which carries JSON-RPC only), and no stray .env file.
{
  MCP_NIXOS_TRANSPORT = "stdio";
  FASTMCP_SHOW_SERVER_BANNER = "false";
  FASTMCP_SHOW_CLI_BANNER = "false";
  FASTMCP_CHECK_FOR_UPDATES = "off";
  FASTMCP_ENV_FILE = "/dev/null";
}
