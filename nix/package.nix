{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_22,
}:

let
  packageJson = lib.importJSON ../package.json;
  packageLock = lib.importJSON ../package-lock.json;

  # The lockfile may be written with npm's omit-lockfile-registry-resolved, leaving packages from
  # the default registry without a URL; npm then uses the registry's tarball path, and so do we,
  # because importNpmLock fetches only what has one. The integrity hash still pins each tarball.
  registry = "https://registry.npmjs.org";
  withTarballUrl =
    path: entry:
    let
      name = entry.name or (lib.last (lib.splitString "node_modules/" path));
    in
    if path == "" || entry ? resolved || entry.link or false then
      entry
    else
      entry // { resolved = "${registry}/${name}/-/${baseNameOf name}-${entry.version}.tgz"; };
in
buildNpmPackage {
  pname = packageJson.name;
  inherit (packageJson) version;

  # Only what the build reads, so changes to tests, docs or Nix files do not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../LICENSE
      ../bin
      ../src
    ];
  };

  nodejs = nodejs_22;
  # Dependencies are fetched by their lockfile integrity hashes: no dependency hash to keep here.
  npmDeps = importNpmLock {
    package = packageJson;
    packageLock = packageLock // {
      packages = lib.mapAttrs withTarballUrl packageLock.packages;
    };
  };
  npmConfigHook = importNpmLock.npmConfigHook;
  # The install step packs the build's output with `npm pack`, which would run `prepack` (tsc) again.
  npmPackFlags = [ "--ignore-scripts" ];

  meta = {
    inherit (packageJson) description;
    license = lib.licenses.mit;
    mainProgram = "mcp-bridge";
  };
}
