# NixOS VMs running the guest module in front of a tiny stdio MCP server; curl drives MCP sessions
# through them. `machine` serves it openly on loopback; `private` behind OAuth, where curl plays the
# client and the owner (registration, login, tokens) and root revokes a grant with `mcp-bridge oauth`.
# Needs no network, unlike mcp-nixos's tools.
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

  # The guest service in front of the tiny server, with curl for the test script.
  tinyBridge = {
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
in
{
  name = "mcp-bridge-guest";

  nodes.machine = tinyBridge;

  nodes.private = {
    imports = [ tinyBridge ];

    services.mcp-bridge.oauth = {
      enable = true;
      publicUrl = "http://127.0.0.1:8080/mcp";
      ownerFile = "/var/lib/secrets/mcp-owner";
    };
    # Started by the test once it has made the owner file.
    systemd.services.mcp-bridge.wantedBy = pkgs.lib.mkForce [ ];
  };

  # Two servers on one endpoint through a generated config file; the second hides the tiny server's tool.
  nodes.several = {
    imports = [ tinyBridge ];

    services.mcp-bridge.servers = {
      tiny = {
        command = [ (pkgs.lib.getExe tinyServer) ];
        environment = { };
      };
      filtered = {
        command = [ (pkgs.lib.getExe tinyServer) ];
        environment = { };
        tools.deny = [ "echo" ];
      };
    };
  };

  testScript = ''
    import base64
    import hashlib
    import json
    import re
    import secrets
    import urllib.parse

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

    # Several servers: each at its own path, listed at /servers, the filtered one without its tool.
    several.wait_for_unit("mcp-bridge.service")
    listing = json.loads(several.succeed("curl -fsS http://127.0.0.1:8080/servers"))
    assert sorted(server["name"] for server in listing["servers"]) == ["filtered", "tiny"], listing
    assert all(server["status"] == "ready" for server in listing["servers"]), listing


    def tools_of(name):
        server_url = f"http://127.0.0.1:8080/servers/{name}/mcp"

        def send(message, extra=""):
            return several.succeed(f"curl -fsS -D /tmp/headers {headers} {extra} -d '{json.dumps(message)}' {server_url}")

        send({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
        })
        sid = several.succeed("grep -i '^mcp-session-id:' /tmp/headers | cut -d' ' -f2 | tr -d '\\r\\n'")
        extra = f"-H 'Mcp-Session-Id: {sid}' -H 'MCP-Protocol-Version: 2025-06-18'"
        send({"jsonrpc": "2.0", "method": "notifications/initialized"}, extra)
        return send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, extra)


    assert '"echo"' in tools_of("tiny")
    assert '"echo"' not in tools_of("filtered")

    # SIGTERM drains and exits 0.
    machine.succeed("systemctl stop mcp-bridge.service")
    assert machine.succeed("systemctl show -P Result mcp-bridge.service").strip() == "success"

    # OAuth: the owner file outside the store, made the way the README says.
    passphrase = "correct horse battery staple"
    private.succeed(f"mkdir -p /var/lib/secrets && echo '{passphrase}' | mcp-bridge oauth init /var/lib/secrets/mcp-owner --passphrase-stdin")
    private.succeed("systemctl start mcp-bridge.service")
    private.wait_for_unit("mcp-bridge.service")

    initialize = json.dumps({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
    })


    def mcp_status(token=None):
        auth = f"-H 'Authorization: Bearer {token}'" if token else ""
        return private.succeed(f"curl -s -o /dev/null -D /tmp/headers -w '%{{http_code}}' {headers} {auth} -d '{initialize}' {url}").strip()


    assert mcp_status() == "401"
    assert "resource_metadata=" in private.succeed("cat /tmp/headers")
    metadata = json.loads(private.succeed("curl -fsS http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"))
    assert metadata["resource"] == "http://127.0.0.1:8080/mcp", metadata

    callback = "http://127.0.0.1:9/callback"


    def grant():
        registration = {"client_name": "vm test", "redirect_uris": [callback]}
        client = json.loads(private.succeed(f"curl -fsS -H 'Content-Type: application/json' -d '{json.dumps(registration)}' http://127.0.0.1:8080/register"))
        verifier = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": callback,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
        })
        page = private.succeed(f"curl -fsS 'http://127.0.0.1:8080/authorize?{query}'")
        request_id = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
        login = private.succeed(f"curl -s -o /dev/null -D - --data-urlencode request_id={request_id} --data-urlencode 'passphrase={passphrase}' http://127.0.0.1:8080/authorize")
        location = re.search(r"(?im)^location: (\S+)", login).group(1)
        code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
        tokens = json.loads(private.succeed(
            "curl -fsS -d grant_type=authorization_code"
            f" --data-urlencode code={code} --data-urlencode redirect_uri={callback}"
            f" --data-urlencode client_id={client['client_id']} --data-urlencode code_verifier={verifier}"
            " http://127.0.0.1:8080/token"
        ))
        return tokens["access_token"]


    first, second = grant(), grant()
    assert mcp_status(first) == "200"

    # Grants survive a restart of the service (its StateDirectory), and no token is stored.
    private.succeed("systemctl restart mcp-bridge.service")
    private.wait_for_unit("mcp-bridge.service")
    assert mcp_status(second) == "200"
    private.fail(f"grep -r {first} /var/lib/mcp-bridge")

    # Root revokes one grant; the bridge, running as its dynamic user, applies it before the command returns.
    listing = private.succeed("mcp-bridge oauth list --state-dir /var/lib/mcp-bridge")
    grant_ids = re.findall(r"(?m)^\s+(grant_\S+)", listing)
    assert len(grant_ids) == 2, listing
    revoked = private.succeed(f"mcp-bridge oauth revoke {grant_ids[0]} --state-dir /var/lib/mcp-bridge")
    assert "the running bridge has applied it" in revoked, revoked
    assert sorted([mcp_status(first), mcp_status(second)]) == ["200", "401"]
  '';
}
