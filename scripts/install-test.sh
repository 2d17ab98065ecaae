#!/usr/bin/env bash
# Installs the package as a registry user would: packs `gauge-transport` and this platform's
# `gauge-transport-<platform>` (with the addon built here), installs both tarballs into a fresh project, and runs a
# CommonJS script, an ES-module script and a `tsc --noEmit` consumer of the API, then `npx gauge-transport
# --version`, `--help` and `demo`. Prints the tarball sizes, the installed node_modules size and the require time.
# Fails on the first step that fails. Needs the addon and dist/ built (`npm install` in the clone).
#
# GLIBC: the highest GLIBC symbol version the addon needs is printed; with GLIBC_MAX=2.17 (what the release build's
# cross toolchain targets) a binary needing more fails the test. The addon built by `npm install` here links
# against this machine's glibc, so the check is off by default.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
platform="$(node -p "require('./package.json').napi && (process.platform + '-' + process.arch + (process.platform === 'linux' ? '-gnu' : ''))")"
addon="gauge-transport.$platform.node"
[ -f "$addon" ] || { echo "install-test: $addon is missing; run npm install first" >&2; exit 1; }
[ -f dist/index.mjs ] || { echo "install-test: dist/ is missing; run npm run build:ts first" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"; rm -f "npm/$platform/$addon"' EXIT

glibc="$( (objdump -T "$addon" 2>/dev/null || true) | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)"
echo "addon needs GLIBC ${glibc:-?}"
if [ -n "${GLIBC_MAX:-}" ] && [ "$(printf '%s\n%s\n' "$glibc" "$GLIBC_MAX" | sort -V | tail -n 1)" != "$GLIBC_MAX" ]; then
  echo "install-test: $addon needs GLIBC $glibc, more than $GLIBC_MAX" >&2
  exit 1
fi

npm pack --ignore-scripts --silent --pack-destination "$work" >/dev/null
cp "$addon" "npm/$platform/"
(cd "npm/$platform" && npm pack --ignore-scripts --silent --pack-destination "$work" >/dev/null)
main_tgz="$(ls "$work"/gauge-transport-[0-9]*.tgz)"
plat_tgz="$(ls "$work"/gauge-transport-"$platform"-*.tgz)"
unpacked() { tar -tvzf "$1" | awk '{ s += $3 } END { print s }'; }
echo "tarball gauge-transport: $(stat -c %s "$main_tgz") bytes packed, $(unpacked "$main_tgz") unpacked"
echo "tarball gauge-transport-$platform: $(stat -c %s "$plat_tgz") bytes packed, $(unpacked "$plat_tgz") unpacked"
if tar -tzf "$main_tgz" | grep -qE '\.map$|^package/(src|benches|packages)/|^package/dist/(experiments|bench)/'; then
  echo "install-test: the tarball ships source maps, src/, benches/ or the research code" >&2
  exit 1
fi

app="$work/app"
mkdir "$app"
cd "$app"
echo '{"name": "consumer", "version": "1.0.0", "private": true}' > package.json
npm install --no-audit --no-fund --silent "$plat_tgz" "$main_tgz"
echo "installed node_modules: $(du -sb node_modules | cut -f1) bytes"

cat > cjs.js <<'JS'
const t0 = process.hrtime.bigint();
const gt = require('gauge-transport');
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
for (const name of ['Gauge', 'align', 'inspectModel', 'applyGauge', 'initCheckpoint', 'perturbCheckpoint', 'Tokenizer', 'loadModel']) {
  if (gt[name] === undefined) throw new Error(`require('gauge-transport') lacks ${name}`);
}
const g = gt.Gauge.random(16, { seed: 1, group: 'Bd', positiveFraction: 0.5 });
if (!g.compose(g.inverse()).equals(gt.Gauge.identity(16))) throw new Error('g ∘ g⁻¹ is not the identity');
console.log(`cjs: ok (require ${ms.toFixed(0)} ms)`);
JS
node cjs.js

cat > esm.mjs <<'JS'
import { Gauge, align, inspectModel, applyGauge, Tokenizer } from 'gauge-transport';
import gt from 'gauge-transport';
if (typeof align !== 'function' || typeof inspectModel !== 'function' || typeof applyGauge !== 'function' || !Tokenizer) {
  throw new Error('named ES-module exports missing');
}
if (gt.Gauge !== Gauge) throw new Error('default and named exports differ');
console.log(`esm: ok (d = ${Gauge.random(8, { seed: 2 }).d})`);
JS
node esm.mjs

cat > consumer.ts <<'TS'
import { Gauge, align, inspectModel, type AlignResult, type Group } from 'gauge-transport';
const g: Gauge = Gauge.random(8, { seed: 3 });
const group: Group = g.group();
async function run(a: string, b: string): Promise<number> {
  const r: AlignResult = await align(a, b, { tokens: 256, memoryBudget: 1 << 30 });
  return r.gauge.agreement(g).signedAccuracy + inspectModel(a).d;
}
void run;
void group;
TS
node "$root/node_modules/typescript/bin/tsc" --noEmit --strict --target es2022 --module nodenext --moduleResolution nodenext \
  --types node --typeRoots "$root/node_modules/@types" consumer.ts
echo "tsc consumer: ok"

npx --no-install gauge-transport --version
npx --no-install gauge-transport --help > /dev/null
echo "cli --help: ok"
if npx --no-install gauge-transport experiment groups 2> "$work/research.err"; then
  echo "install-test: experiments ran from the installed package, which should not ship them" >&2
  exit 1
fi
grep -q 'RESEARCH_ONLY' "$work/research.err" || { cat "$work/research.err" >&2; exit 1; }
echo "research commands: refused with RESEARCH_ONLY (they run from a clone)"
npx --no-install gauge-transport demo --out "$work/demo" > "$work/demo.log"
tail -n 3 "$work/demo.log"
[ -f "$work/demo/report.json" ] || { echo "install-test: demo wrote no report.json" >&2; exit 1; }
echo "install-test: all passed"
