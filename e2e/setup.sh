#!/usr/bin/env bash
# Installs what ferrule's tests and labs need on a fresh Debian machine: FRR (zebra, bgpd,
# bfdd, staticd, vtysh, frr-reload.py), iproute2 for network namespaces, strace, and a Rust
# toolchain with rustfmt and clippy (rustup) when there is none. Idempotent:
# does nothing when everything is already there. Needs root (or sudo).
set -euo pipefail

need=()
for bin in /usr/lib/frr/bgpd /usr/lib/frr/bfdd /usr/lib/frr/zebra /usr/lib/frr/staticd /usr/bin/vtysh; do
  [ -x "$bin" ] || need+=(frr)
done
[ -e /usr/lib/frr/frr-reload.py ] || need+=(frr-pythontools)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
command -v setpriv >/dev/null || need+=(util-linux)
# lab_secrets traces every file and exec of the speaker.
command -v strace >/dev/null || need+=(strace)
# rustup, when there is no Rust toolchain yet.
command -v cargo >/dev/null || [ -f "$HOME/.cargo/env" ] || need+=(curl ca-certificates)
# ring (TLS for the Kubernetes client) compiles C.
command -v cc >/dev/null || need+=(gcc libc6-dev)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

# The packaged FRR service is not used: every lab instance runs its own daemons in its own
# namespace with its own directories. Stop the system one if the package started it, so it
# does not hold the default sockets.
if command -v systemctl >/dev/null && systemctl is-active --quiet frr 2>/dev/null; then
  $SUDO systemctl stop frr || true
fi

# The machine's Rust toolchain comes from rustup (Cargo.toml's rust-version is newer than
# Debian's rustc). CI also runs rustfmt and clippy: add them if the toolchain lacks them.
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
  . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: no Rust toolchain; installing stable with rustup" >&2
  # rustup-init straight from static.rust-lang.org (what sh.rustup.rs would fetch): some
  # networks reach the dist server but not the script's host.
  arch="$(uname -m)"
  # rustup-init acts on the name it is run by: keep the file's name.
  dir="$(mktemp -d)"
  curl --proto '=https' --tlsv1.2 -sSf -o "$dir/rustup-init" \
    "https://static.rust-lang.org/rustup/dist/${arch}-unknown-linux-gnu/rustup-init"
  chmod +x "$dir/rustup-init"
  "$dir/rustup-init" -y --profile minimal --component rustfmt,clippy >/dev/null
  rm -rf "$dir"
  . "$HOME/.cargo/env"
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "setup: adding the $component component" >&2
    rustup component add "$component"
  fi
done
echo "setup: FRR $(dpkg-query -W -f='${Version}' frr) and $(cargo --version) ready" >&2
