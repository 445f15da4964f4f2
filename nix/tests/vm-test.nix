# A NixOS VM running the guest module in front of a tiny stdio MCP server; curl drives an MCP
# session through it. Needs no network, unlike mcp-nixos's tools.
{ pkgs, guestModule }:

let
  tinyServer = pkgs.writers.writePython3Bin "tiny-mcp-server" { flakeIgnore = [ "E501" ]; } ''
    import json
    import sys

    TOOLS = [{"name": "echo", "description": "Returns its text", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]


    def reply(request_id, result):
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}) + "\n")
        sys.stdout.flush()


    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message:
            continue
        if message["method"] == "initialize":
            reply(message["id"], {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "tiny", "version": "1.0.0"},
            })
        elif message["method"] == "tools/list":
            reply(message["id"], {"tools": TOOLS})
        else:
            reply(message["id"], {})
  '';
in
{
  name = "mcp-bridge-guest";

  nodes.machine = {
    imports = [ guestModule ];

    services.mcp-bridge = {
      enable = true;
      server = {
        command = [ (pkgs.lib.getExe tinyServer) ];
        environment = { };
      };
    };

    environment.systemPackages = [ pkgs.curl ];
  };

  testScript = ''
    import json

    url = "http://127.0.0.1:8080/mcp"
    headers = "-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'"


    def post(message, session=None):
        extra = f"-H 'Mcp-Session-Id: {session}' -H 'MCP-Protocol-Version: 2025-06-18'" if session else ""
        return machine.succeed(f"curl -fsS -D /tmp/headers {headers} {extra} -d '{json.dumps(message)}' {url}")


    # Type=notify: the unit is active only after the bridge has sent READY=1.
    machine.wait_for_unit("mcp-bridge.service")
    assert machine.succeed("systemctl show -P Type mcp-bridge.service").strip() == "notify"
    machine.succeed("curl -fsS http://127.0.0.1:8080/healthz")

    initialized = post({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
    })
    assert '"tiny"' in initialized, initialized
    session = machine.succeed("grep -i '^mcp-session-id:' /tmp/headers | cut -d' ' -f2 | tr -d '\\r\\n'")
    assert session, "no Mcp-Session-Id header"

    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    tools = post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
    assert '"echo"' in tools, tools

    # SIGTERM drains and exits 0.
    machine.succeed("systemctl stop mcp-bridge.service")
    assert machine.succeed("systemctl show -P Result mcp-bridge.service").strip() == "success"
  '';
}
