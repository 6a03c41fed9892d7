#!/bin/sh
# Builds a minimal base image from this machine's own Node.js, for machines where no image can be
# pulled (DESIGN §8): a root filesystem holding `node`, `openssl` (the node-agent makes its serving
# certificate with it), the shared libraries `ldd` lists for both, and the /etc basics, imported
# with `docker import`. Pass it to the Dockerfile as --build-arg BASE_IMAGE=podnet-base:local.
# usage: deploy/base-image.sh [TAG]   (default podnet-base:local)
set -eu
tag="${1:-podnet-base:local}"
rootfs="$(mktemp -d /tmp/podnet-base-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

copy() { # copy a file with its directory path, following symlinks
  mkdir -p "$rootfs$(dirname "$1")"
  cp -L "$1" "$rootfs$1"
}

node_bin="$(command -v node)"
openssl_bin="$(command -v openssl)" || { echo "podnet: openssl is not installed (apt-get install openssl)" >&2; exit 1; }
for bin in "$node_bin" "$openssl_bin"; do
  mkdir -p "$rootfs/usr/local/bin"
  cp -L "$bin" "$rootfs/usr/local/bin/$(basename "$bin")"
  # ldd prints "libx.so => /path (addr)" and the loader as "/lib64/ld-linux-x86-64.so.2 (addr)".
  for lib in $(ldd "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    copy "$lib"
  done
done
# openssl reads its configuration from OPENSSLDIR (/usr/lib/ssl → /etc/ssl on Debian).
if [ -f /etc/ssl/openssl.cnf ]; then copy /etc/ssl/openssl.cnf; mkdir -p "$rootfs/usr/lib/ssl"; ln -s /etc/ssl/openssl.cnf "$rootfs/usr/lib/ssl/openssl.cnf"; fi
mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/root" "$rootfs/var/lib/podnet"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$tag" >/dev/null
echo "$tag"
