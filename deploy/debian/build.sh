#!/usr/bin/env bash
# Build the collector's wheel and Debian package from this source tree (docs/operations.md,
# "Packages"). Needs python3 with pip and dpkg-deb; writes OUT/likavillkor-*.whl and
# OUT/likavillkor-collector_<version>_all.deb.
#
#   deploy/debian/build.sh dist/
set -euo pipefail
OUT="${1:?usage: build.sh OUTDIR}"
PY="${PYTHON:-python3}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# a clean copy: setuptools' in-tree build/ would leak stale modules into the wheel
tar -C "$SRC" --exclude=./.venv --exclude=./build --exclude='*.egg-info' --exclude=./.git --exclude=./data \
    --exclude='__pycache__' --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
    --exclude=./dist --exclude=./test-artifacts -cf - . | tar -C "$work" -xf - --one-top-level=src
"$PY" -m pip wheel --quiet --no-deps --disable-pip-version-check -w "$OUT" "$work/src"
version="$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
    "$SRC/pyproject.toml")"
wheel="$OUT/likavillkor-$version-py3-none-any.whl"
[ -f "$wheel" ] || { echo "no wheel $wheel" >&2; exit 1; }

root="$work/root"
install -d "$root/DEBIAN" "$root/usr/share/likavillkor/wheels" "$root/lib/systemd/system" \
    "$root/usr/share/doc/likavillkor-collector" "$root/usr/share/likavillkor/deploy"
install -m 0644 "$wheel" "$root/usr/share/likavillkor/wheels/"
install -m 0644 "$SRC/deploy/systemd/likavillkor-collector.service" "$root/lib/systemd/system/"
# the host set-up (install.sh, PostgreSQL, InfluxDB, Mosquitto conf.d, templates) and the examples
for f in host/install.sh host/postgres-setup.sh host/influxdb1-setup.sh host/influxdb.conf host/collector.toml \
         mosquitto/conf.d/likavillkor.conf systemd/likavillkor-collector.service systemd/likavillkor-agent.service \
         collector.example.toml agent.example.toml roster.example.toml windows/install-agent.ps1 windows/README.md; do
    install -D -m 0644 "$SRC/deploy/$f" "$root/usr/share/likavillkor/deploy/$f"
done
chmod 0755 "$root"/usr/share/likavillkor/deploy/host/*.sh
install -m 0644 "$SRC/docs/operations.md" "$SRC/docs/tls.md" "$root/usr/share/doc/likavillkor-collector/"
for s in postinst prerm postrm; do install -m 0755 "$SRC/deploy/debian/$s" "$root/DEBIAN/$s"; done
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$SRC/deploy/debian/control.in" > "$root/DEBIAN/control"
deb="$OUT/likavillkor-collector_${version}_all.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$wheel"
echo "$deb"
