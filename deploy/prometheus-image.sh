#!/bin/sh
# Builds a Prometheus image from this machine's own `prometheus` binary (Debian: apt-get install
# prometheus), for machines where prom/prometheus cannot be pulled (DESIGN §8): the binary, the
# shared libraries `ldd` lists for it, its web templates, imported with `docker import` and set up
# as the official image is (user nobody 65534, working directory /prometheus holding the TSDB,
# entrypoint /bin/prometheus). Use it with the compose file's observability profile:
#   PODNET_PROMETHEUS_IMAGE=podnet-prometheus:local docker compose -f deploy/docker-compose.yml --profile observability up -d
# usage: deploy/prometheus-image.sh [TAG]   (default podnet-prometheus:local)
set -eu
tag="${1:-podnet-prometheus:local}"
rootfs="$(mktemp -d /tmp/podnet-prometheus-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
# mktemp -d makes it 0700: as the image's / it would lock out the nobody user.
chmod 755 "$rootfs"

bin="$(command -v prometheus)" || { echo "podnet: prometheus is not installed (apt-get install prometheus)" >&2; exit 1; }
mkdir -p "$rootfs/bin"
cp -L "$bin" "$rootfs/bin/prometheus"
# ldd prints "libx.so => /path (addr)" and the loader as "/lib64/ld-linux-x86-64.so.2 (addr)".
for lib in $(ldd "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# Debian's build reads its web templates from here; the static files are symlinks into other
# packages and are left out (the HTTP API and /metrics need none of them).
if [ -d /usr/share/prometheus/web/templates ]; then
  mkdir -p "$rootfs/usr/share/prometheus/web"
  cp -r /usr/share/prometheus/web/templates "$rootfs/usr/share/prometheus/web/templates"
fi
mkdir -p "$rootfs/etc/prometheus" "$rootfs/prometheus" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
# The TSDB lives in the working directory; the official image's user owns it.
chown 65534:65534 "$rootfs/prometheus"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
tar -C "$rootfs" -c . | docker import \
  -c 'USER 65534:65534' \
  -c 'WORKDIR /prometheus' \
  -c 'ENTRYPOINT ["/bin/prometheus"]' \
  -c 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
  - "$tag" >/dev/null
echo "$tag"
