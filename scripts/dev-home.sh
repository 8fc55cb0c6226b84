#!/usr/bin/env bash
# Makes a development home (SoftHSM2 token inside it) once; `make run` uses it.
# DEVELOPMENT ONLY: PINs and the admin passphrase sit in plain files in the home.
set -euo pipefail
home=${1:-.home}
if [ -f "$home/dataprep.toml" ]; then exit 0; fi
mkdir -p "$home"
chmod 700 "$home"
pass="$home/DEV-ONLY-admin-passphrase"
[ -f "$pass" ] || { head -c 18 /dev/urandom | base64 > "$pass"; chmod 600 "$pass"; }
./bin/dataprep init --home "$home" --admin admin --dev --admin-passphrase-file "$pass"
echo "administrator: admin, passphrase file: $pass"
