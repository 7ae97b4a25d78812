#!/bin/sh
# Rebuilds conv.wasm from conv.c (Debian: apt-get install clang-14 lld-14).
# The module imports the tfjs wasm backend's memory and must use no stack or static data
# (checked below), since wasm-ld would place those at low addresses owned by the backend.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-14}
"$CLANG" --target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -fno-builtin \
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all -Wl,-z,stack-size=0 \
  -o conv.wasm conv.c
node -e '
const m = new WebAssembly.Module(require("fs").readFileSync("conv.wasm"));
console.log("imports", JSON.stringify(WebAssembly.Module.imports(m)), "exports", JSON.stringify(WebAssembly.Module.exports(m)));
'
