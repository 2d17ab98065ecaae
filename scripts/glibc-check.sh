#!/usr/bin/env bash
# Builds the Linux x64 addon the way .github/workflows/release.yml does (`napi build --platform --release
# --use-napi-cross`, the glibc 2.17 gcc toolchain of @napi-rs/cross-toolchain), then checks the glibc floor:
# lists the GLIBC symbol versions the .node needs, prints the highest, and fails if it exceeds ${GLIBC_MAX:-2.17}.
# Also prints the binary's size and whether it is stripped, and loads it in this Node to show it runs here.
#
#   scripts/glibc-check.sh [OUT_DIR]        OUT_DIR defaults to /tmp/glibc-check; it must be outside the clone
#
# Environment:
#   GLIBC_MAX            highest GLIBC version allowed (default 2.17)
#   CARGO_TARGET_DIR     cargo's target dir (default ${TMPDIR:-/tmp}/gauge-glibc-target, outside the clone, so the
#                        cross build never mixes with the host build in target/)
#   NAPI_CROSS_PREFETCH  1 (default): unpack the cross toolchain into ~/.napi-rs/cross-toolchain/<version>/<triple>
#                        with npm pack + tar -xJ before napi runs, so napi finds it and skips its own download. That
#                        download runs `npm pack` inside node_modules/@napi-rs/cross-toolchain and decompresses with
#                        @napi-rs/lzma, whose binary is not installed under Node < 22.20. If the registry lacks the
#                        target package at the exact version of @napi-rs/cross-toolchain, the newest published one is
#                        used, with a warning (1.0.0 is gcc 4.8.5 with a glibc 2.17 sysroot). 0: leave it to napi.
#   SKIP_BUILD=1         only check an existing OUT_DIR/gauge-transport.linux-x64-gnu.node
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

triple=x86_64-unknown-linux-gnu
out="$(realpath -m "${1:-/tmp/glibc-check}")"
max="${GLIBC_MAX:-2.17}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/gauge-glibc-target}"
case "$out/" in "$root"/*) echo "glibc-check: $out is inside the clone; give an output dir outside it" >&2; exit 2 ;; esac
case "$(realpath -m "$CARGO_TARGET_DIR")/" in "$root"/*) echo "glibc-check: CARGO_TARGET_DIR=$CARGO_TARGET_DIR is inside the clone" >&2; exit 2 ;; esac
napi="$root/node_modules/.bin/napi"
[ -x "$napi" ] || { echo "glibc-check: $napi is missing; run npm ci --ignore-scripts first" >&2; exit 1; }
addon="$out/gauge-transport.linux-x64-gnu.node"

prefetch_toolchain() {
  local ver host_arch pkg dir tmp got
  ver="$(node -p "require('@napi-rs/cross-toolchain/package.json').version")"
  case "$(uname -m)" in x86_64) host_arch=x64 ;; aarch64) host_arch=arm64 ;; *) echo "glibc-check: --use-napi-cross needs a Linux x64 or arm64 host" >&2; return 1 ;; esac
  pkg="@napi-rs/cross-toolchain-$host_arch-target-x86_64"
  dir="$HOME/.napi-rs/cross-toolchain/$ver/$triple"
  if [ -f "$dir/package.json" ]; then echo "cross toolchain: $dir (already unpacked)"; return 0; fi
  tmp="$(mktemp -d)"
  got="$ver"
  if ! (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null 2>&1); then
    got="$(npm view "$pkg" version 2>/dev/null || true)"
    [ -n "$got" ] || { echo "glibc-check: npm has no $pkg" >&2; rm -rf "$tmp"; return 1; }
    echo "glibc-check: warning: npm has no $pkg@$ver (the version @napi-rs/cross-toolchain $ver asks for); using $got" >&2
    (cd "$tmp" && npm pack --silent "$pkg@$got" >/dev/null)
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  mkdir -p "$dir.partial"
  tar -xJf "$tmp/package/$triple.tar.xz" -C "$dir.partial"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
  rm -rf "$tmp"
  echo "cross toolchain: $pkg@$got unpacked into $dir"
}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  [ "${NAPI_CROSS_PREFETCH:-1}" = 0 ] || prefetch_toolchain
  mkdir -p "$out"
  rm -f "$addon"
  echo "building into $out (CARGO_TARGET_DIR=$CARGO_TARGET_DIR, CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-all cores})"
  start=$SECONDS
  # The release.yml build step, with --output-dir moved out of the clone (--js/--dts are relative to it) and
  # --locked so a stale Cargo.lock fails the build instead of being rewritten.
  "$napi" build --platform --release --target "$triple" --use-napi-cross \
    --manifest-path crates/gauge-napi/Cargo.toml --output-dir "$out" --js index.js --dts index.d.ts -- --locked
  echo "build wall time: $((SECONDS - start)) s"
  for f in index.js index.d.ts; do
    if cmp -s "$out/$f" "$root/$f"; then echo "generated $f: same as the committed one"
    else echo "generated $f: DIFFERS from the committed one (release.yml's git diff step would fail)"; fi
  done
fi
[ -f "$addon" ] || { echo "glibc-check: $addon was not built" >&2; exit 1; }

size="$(stat -c %s "$addon")"
if readelf -S -W "$addon" | grep -q ' \.symtab '; then stripped="not stripped (has .symtab)"; else stripped="stripped (no .symtab)"; fi
echo "binary: $addon"
echo "size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }') MiB), $stripped"
comment="$(readelf -p .comment "$addon" 2>/dev/null | sed -n 's/^ *\[ *[0-9a-f]*\] *//p' | sort -u | paste -sd';' - || true)"
echo "compilers (.comment): ${comment:-?}"

# One line per undefined symbol that carries a GLIBC version: "<version> <symbol>".
syms="$(objdump -T "$addon" | awk 'match($0, /GLIBC_[0-9][0-9.]*/) { print substr($0, RSTART + 6, RLENGTH - 6), $NF }' | sort -V -u)"
[ -n "$syms" ] || { echo "glibc-check: objdump -T found no GLIBC symbol versions in $addon" >&2; exit 1; }
echo "GLIBC versions needed (symbols per version):"
awk '{ n[$1]++ } END { for (v in n) print v, n[v] }' <<<"$syms" | sort -V | sed 's/^/  GLIBC_/'
highest="$(cut -d' ' -f1 <<<"$syms" | sort -V | tail -n 1)"
echo "highest GLIBC version needed: $highest (limit $max)"
echo "NEEDED: $(readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ' -)"
# Weak unversioned undefined symbols are the ones std and getrandom probe for at run time (statx, getrandom,
# copy_file_range, ...): absent from the 2.17 sysroot, they resolve to null on an old glibc and the caller falls back.
# A strong unversioned one that Node does not provide would fail when the addon loads or first calls it.
weak="$(objdump -T "$addon" | awk '/\*UND\*/ && $2 == "w" && $0 !~ /(GLIBC|GCC)_/ { print $NF }' | sort -u | paste -sd' ' -)"
echo "weak unversioned undefined symbols (probed at run time): ${weak:-none}"
strong="$(objdump -T "$addon" | awk '/\*UND\*/ && $2 != "w" && $0 !~ /(GLIBC|GCC)_/ { print $NF }' | grep -Ev '^(napi_|node_api_|uv_)' | sort -u || true)"
if [ -n "$strong" ]; then
  echo "glibc-check: strong undefined symbols with no version that Node does not provide:" >&2
  sed 's/^/  /' <<<"$strong" >&2
  exit 1
fi

echo "loading it in node $(node --version):"
node -e '
  const b = require(process.argv[1]);
  const g = b.Gauge.identity(8);
  if (g.d !== 8 || !g.equals(b.Gauge.identity(8))) throw new Error("Gauge.identity(8) is wrong");
  const u = b.randomUniform(4, 1);
  console.log(`  loads: Gauge.identity(8).d = ${g.d}, randomUniform(4, 1) = [${Array.from(u, x => x.toFixed(3))}]`);
' "$addon"

if [ "$(printf '%s\n%s\n' "$highest" "$max" | sort -V | tail -n 1)" != "$max" ]; then
  echo "glibc-check: $addon needs GLIBC $highest, more than $max; the symbols above $max:" >&2
  while read -r v s; do
    [ "$(printf '%s\n%s\n' "$v" "$max" | sort -V | tail -n 1)" = "$max" ] || echo "  $s@GLIBC_$v" >&2
  done <<<"$syms"
  exit 1
fi
echo "glibc-check: ok, needs at most GLIBC $max"
