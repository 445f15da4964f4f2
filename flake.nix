{
  description = "Serve a stdio MCP server over Streamable HTTP, optionally from a NixOS microVM";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    microvm = {
      url = "github:microvm-nix/microvm.nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      microvm,
    }:
    let
      inherit (nixpkgs) lib;

      forAllSystems =
        f:
        lib.genAttrs [
          "x86_64-linux"
          "aarch64-linux"
        ] (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        mcp-bridge = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (pkgs: {
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.mcp-bridge;
        mcp-bridge = pkgs.callPackage ./nix/package.nix { };
      });

      apps = forAllSystems (pkgs: {
        default =
          let
            app = pkgs.callPackage ./nix/mcp-nixos-app.nix {
              mcp-bridge = self.packages.${pkgs.stdenv.hostPlatform.system}.mcp-bridge;
            };
          in
          {
            type = "app";
            program = lib.getExe app;
            meta = { inherit (app.meta) description; };
          };
      });

      nixosModules = {
        # Importing microvm.nix's host module here too is harmless when the host flake makes our
        # `microvm` input follow its own: the same path is imported only once.
        default = {
          imports = [
            microvm.nixosModules.host
            ./modules/host.nix
          ];
        };
        guest = ./modules/guest.nix;
      };

      checks = forAllSystems (
        pkgs:
        import ./nix/checks.nix {
          inherit
            self
            nixpkgs
            microvm
            pkgs
            ;
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_22
            pkgs.nix
            pkgs.nixfmt-tree
          ];
        };
      });
    };
}
