#!/usr/bin/env bash
# Builds the Debian package gatehouse_<version>_<arch>.deb around a binary that is already
# built, with dpkg-deb (no second, release-profile build as cargo-deb would make):
#   /usr/bin/gatehouse                      the binary (debug info stripped when `strip` exists)
#   /lib/systemd/system/gatehouse.service   the hardened unit (packaging/debian/)
#   /etc/gatehouse/gatehouse.toml           every setting commented out (a conffile, 0640
#                                           root:gatehouse), from `gatehouse check-config
#                                           --example-config`
#   /usr/share/doc/gatehouse/               README, operations guide, changelog, licence
# and the maintainer scripts that make the `gatehouse` system user and /var/lib/gatehouse.
#
# Usage: scripts/package-deb.sh [--binary PATH] [--out DIR]
#   --binary  the binary to package (default: target/debug/gatehouse, which `cargo test`
#             builds; for a release: `cargo build --release` then
#             `--binary target/release/gatehouse`)
#   --out     where the .deb goes (default: target/deb); its path is printed last
# Needs dpkg-deb (Debian's dpkg). The version is the workspace's, from Cargo.toml.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$REPO/target/debug/gatehouse"
out="$REPO/target/deb"
while (($#)); do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ ! -x "$binary" ]]; then
    echo "package-deb.sh: no binary at $binary (cargo build -p gatehouse, or --binary PATH)" >&2
    exit 1
fi
command -v dpkg-deb >/dev/null || { echo "package-deb.sh: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }

version=$(awk -F'"' '/^\[workspace.package\]/ { in_ws = 1; next } /^\[/ { in_ws = 0 } in_ws && /^version *=/ { print $2; exit }' "$REPO/Cargo.toml")
[[ -n "$version" ]] || { echo "package-deb.sh: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
arch=$(dpkg --print-architecture)
built=$("$binary" --version)
case "$built" in
    "gatehouse $version "*) ;;
    *) echo "package-deb.sh: $binary says \"$built\", not version $version" >&2; exit 1 ;;
esac

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
root="$staging/gatehouse_${version}_${arch}"
umask 022
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/gatehouse" \
    "$root/usr/share/doc/gatehouse"
if command -v strip >/dev/null; then
    strip --strip-debug -o "$root/usr/bin/gatehouse" "$binary"
else
    cp "$binary" "$root/usr/bin/gatehouse"
fi
chmod 0755 "$root/usr/bin/gatehouse"
install -m 0644 "$REPO/packaging/debian/gatehouse.service" "$root/lib/systemd/system/"
for script in postinst prerm postrm; do
    install -m 0755 "$REPO/packaging/debian/$script" "$root/DEBIAN/"
done

{
    cat <<'HEADER'
# /etc/gatehouse/gatehouse.toml: the settings of the gatehouse service (Debian package).
# The service reads it through GATEHOUSE_CONFIG, set in gatehouse.service, which also sets
# GATEHOUSE_DATA_DIR=/var/lib/gatehouse (the one directory its sandbox may write; to move
# it, `systemctl edit gatehouse`). Variables and flags override this file.
# Readable by root and the gatehouse group only: it may hold database and SMTP passwords.
# Operator commands run as the service user with the same settings:
#   sudo -u gatehouse gatehouse --config /etc/gatehouse/gatehouse.toml \
#       --data-dir /var/lib/gatehouse user create --username admin --email admin@example.com --admin
#
HEADER
    "$binary" check-config --example-config
} >"$root/etc/gatehouse/gatehouse.toml"
chmod 0640 "$root/etc/gatehouse/gatehouse.toml"
echo /etc/gatehouse/gatehouse.toml >"$root/DEBIAN/conffiles"

doc="$root/usr/share/doc/gatehouse"
install -m 0644 "$REPO/README.md" "$REPO/docs/operations.md" "$REPO/SECURITY.md" "$doc/"
gzip -9n -c "$REPO/CHANGELOG.md" >"$doc/changelog.gz"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: gatehouse"
    echo
    echo "Files: *"
    echo "License: Apache-2.0"
    echo
    echo "License: Apache-2.0"
    sed 's/^$/./; s/^/ /' "$REPO/LICENSE"
} >"$doc/copyright"
chmod 0644 "$doc/changelog.gz" "$doc/copyright"

installed_kib=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: gatehouse
Version: $version
Architecture: $arch
Maintainer: Gatehouse maintainers <gatehouse@localhost>
Depends: libc6, passwd
Section: net
Priority: optional
Installed-Size: $installed_kib
Description: identity service: user accounts and API credentials in one binary
 Gatehouse serves sign-up, sign-in (with TOTP), sessions, API tokens, organisations and
 users' files over a native API, web pages and several vendors' API dialects, on SQLite
 or PostgreSQL. This package runs it as the systemd service gatehouse.service under its
 own system user, with its data in /var/lib/gatehouse.
 Built from: $built
CONTROL

mkdir -p "$out"
deb="$out/gatehouse_${version}_${arch}.deb"
# gzip at level 1: a debug binary compresses slowly with xz, and CI builds this every run.
dpkg-deb --root-owner-group -Zgzip -z1 --build "$root" "$deb" >/dev/null
echo "$deb"
