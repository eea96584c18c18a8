#!/usr/bin/env bash
# Builds the Debian package: one command, no tool beyond dpkg-deb (part of dpkg on every Debian).
#   scripts/deb.sh [--binary PATH] [--version VERSION] [--out DIR]
# Without --binary it builds the release binaries first; with it, guichet-deliver is taken from
# beside BINARY. Prints the path of the .deb it wrote
# (target/debian/guichet_VERSION_ARCH.deb by default).
# Contents: /usr/bin/guichet and guichet-deliver, the systemd unit, the user (sysusers.d), /etc/guichet/guichet.toml
# (a conffile, from config.example.toml), README and example under /usr/share/doc/guichet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

binary="" version="" out=target/debian
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "deb.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
if [ -z "$binary" ]; then
    cargo build --release --locked --quiet --bins
    binary=target/release/guichet
fi
[ -n "$version" ] || version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
install -d -m 755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
    "$root/usr/lib/sysusers.d" "$root/usr/share/doc/guichet" "$root/etc/guichet"
# A debug build carries hundreds of MB of debug info the package has no use for.
deliver=$(dirname -- "$binary")/guichet-deliver
[ -x "$deliver" ] || { echo "deb.sh: no $deliver beside $binary (cargo build --bins)" >&2; exit 66; }
for program in "$binary:guichet" "$deliver:guichet-deliver"; do
    if command -v strip >/dev/null; then
        strip --strip-debug -o "$root/usr/bin/${program#*:}" "${program%%:*}"
    else
        install -m 755 "${program%%:*}" "$root/usr/bin/${program#*:}"
    fi
    chmod 755 "$root/usr/bin/${program#*:}"
done
install -m 644 systemd/guichet.service "$root/lib/systemd/system/guichet.service"
install -m 644 packaging/debian/guichet.sysusers "$root/usr/lib/sysusers.d/guichet.conf"
install -m 640 config.example.toml "$root/etc/guichet/guichet.toml"
install -m 644 README.md config.example.toml "$root/usr/share/doc/guichet/"
printf 'Guichet\nLicense: MIT OR Apache-2.0\n' >"$root/usr/share/doc/guichet/copyright"
install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/guichet/guichet.toml >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: guichet
Version: $version
Architecture: $arch
Maintainer: Guichet maintainers <guichet@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), adduser
Recommends: systemd
Section: mail
Priority: optional
Homepage: file:///usr/share/doc/guichet/README.md
Description: email-driven helpdesk daemon
 Guichet turns mail to a support address into tickets: IMAP or MTA pipe in,
 SQLite state, SMTP out. Agents triage and answer by mail.
CONTROL

mkdir -p "$out"
deb="$out/guichet_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$deb" >/dev/null
echo "$deb"
