#!/bin/sh
# Rebuilds conv.wasm and conv-shared.wasm from conv.c (Debian: apt-get install clang-14 lld-14).
# The module imports the tfjs wasm backend's memory and must use no stack or static data
# (checked below), since wasm-ld would place those at low addresses owned by the backend.
# conv.wasm imports a plain memory (single-threaded backend); conv-shared.wasm imports a shared
# one (threaded backend, engine/threaded-wasm.ts): a wasm module can only import the kind it declares.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-14}
COMMON="--target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -fno-builtin -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all -Wl,-z,stack-size=0"
# shellcheck disable=SC2086
"$CLANG" $COMMON -o conv.wasm conv.c
# shellcheck disable=SC2086
"$CLANG" $COMMON -matomics -Wl,--shared-memory -Wl,--max-memory=4294967296 -o conv-shared.wasm conv.c
node -e '
for (const file of ["conv.wasm", "conv-shared.wasm"]) {
  const m = new WebAssembly.Module(require("fs").readFileSync(file));
  console.log(file, "imports", JSON.stringify(WebAssembly.Module.imports(m)), "exports", JSON.stringify(WebAssembly.Module.exports(m)));
}
'
