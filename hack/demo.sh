#!/usr/bin/env bash
# Demo: build hull, turn Debian's static busybox into a base image, import it
# like `docker import`, list and inspect it, then run containers from it. Run as root:
#   sudo ./hack/demo.sh          (HULL_ROOT=/some/dir to use another store)
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/install-deps.sh
export PATH="/usr/local/go/bin:$PATH"

CGO_ENABLED=0 go build -o bin/hull ./cmd/hull
hull() {
	echo "+ hull $*" >&2
	bin/hull --root "${HULL_ROOT:-/var/lib/hull}" "$@"
}

# A minimal rootfs: busybox and its applets, users, the usual directories.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,proc,root,sys,tmp,var}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
cp /bin/busybox "$rootfs/bin/busybox"
/bin/busybox --list | while read -r applet; do
	[[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$rootfs/etc/group"
tar -C "$rootfs" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@946684800 -cf "$work/busybox.tar" .

hull import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest
hull images
hull image inspect busybox:latest

# Containers: one in the foreground, one detached with logs and exec.
hull run --rm busybox echo "hello from a hull container"
hull run -d --name tour busybox sh -c 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done'
sleep 2
hull ps
hull logs tour
hull exec tour sh -c 'echo "exec in $(hostname): $(id)"'
hull stop -t 1 tour
hull ps -a --filter name=tour
hull rm tour

# Docker's "getting started": build an image that serves a page, run it
# detached with a published port, fetch the page from the host, ps, logs,
# stop and remove it.
app=$work/app
mkdir -p "$app/site"
printf '%s\n' 'FROM busybox' 'COPY site/ /www/' \
	'RUN echo "built at $(date -u +%FT%TZ)" > /www/built.txt' 'EXPOSE 80' \
	'CMD ["httpd", "-f", "-v", "-p", "80", "-h", "/www"]' >"$app/Dockerfile"
echo '<h1>Hello from hull</h1>' >"$app/site/index.html"
hull build -t getting-started "$app"
hull run -d --name web -p 127.0.0.1:8080:80 getting-started
page=
for _ in $(seq 50); do
	page=$(busybox wget -q -O- http://127.0.0.1:8080/ 2>/dev/null) && break
	sleep 0.1
done
echo "+ wget -qO- http://127.0.0.1:8080/" >&2
echo "$page"
hull ps
hull logs web
hull stop -t 1 web
hull rm web
