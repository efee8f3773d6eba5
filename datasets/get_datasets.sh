#!/usr/bin/env bash
# Download the real CIFAR-10 (python version, about 170 MB) into datasets/cifar-10-batches-py/.
#
# Usage (from any folder):  bash datasets/get_datasets.sh
#
# * The data lands next to this script, in cifar-10-batches-py/ (data_batch_1..5, test_batch,
#   batches.meta), whatever the current folder is.
# * Idempotent: if that folder already holds all seven files, the script says so and exits 0.
# * The archive's MD5 is checked before anything is unpacked; a bad download is refused.
# * Never leaves a half-extracted folder: the archive is downloaded and unpacked in a temporary
#   folder next to this script, and the finished folder is moved into place with one rename.
#   The temporary folder, archive included, is removed on success, failure or Ctrl-C.
# * Offline? Download the archive by hand from the URL below, put it next to this script as
#   cifar-10-python.tar.gz and run the script again: it is used instead of downloading, and
#   deleted once unpacked. Or use the synthetic stand-in (see assignment/synthetic_cifar.py).
#
# Needs: bash, curl or wget, tar with gzip, and md5sum (Linux), md5 (macOS) or python3.
#
# Test and mirror hooks (environment variables, all optional):
#   CIFAR10_URL         download from this URL instead of the official one
#                       (anything curl or wget accepts; curl also takes file:// URLs)
#   CIFAR10_MD5         expected MD5 of the archive at CIFAR10_URL
#   CIFAR10_DOWNLOADER  "curl" or "wget" to force one (default: curl if installed, else wget)
set -euo pipefail

DEFAULT_URL="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DEFAULT_MD5="c58f30108f718f92721af3b95e74349a"
URL="${CIFAR10_URL:-$DEFAULT_URL}"
MD5="${CIFAR10_MD5:-$DEFAULT_MD5}"
FILES=(data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch batches.meta)

die() {
    echo "get_datasets.sh: error: $*" >&2
    exit 1
}

# The folder holding this script (no dirname/readlink needed, so it also works on macOS).
script="${BASH_SOURCE[0]}"
case "$script" in
    */*) here="${script%/*}" ;;
    *) here="." ;;
esac
here="$(cd "$here" && pwd)"
dest="$here/cifar-10-batches-py"
local_archive="$here/cifar-10-python.tar.gz"

# Print the names from FILES that are not regular files in folder $1, space separated.
missing_files() {
    local f out=""
    for f in "${FILES[@]}"; do
        [[ -f "$1/$f" ]] || out="$out $f"
    done
    echo "${out# }"
}

if [[ -d "$dest" ]]; then
    missing="$(missing_files "$dest")"
    if [[ -z "$missing" ]]; then
        echo "CIFAR-10 is already in $dest; nothing to do."
        exit 0
    fi
    die "$dest exists but is incomplete (missing: $missing)." \
        "Remove it (rm -rf \"$dest\") and run this script again."
elif [[ -e "$dest" ]]; then
    die "$dest exists and is not a folder; remove it and run this script again."
fi

md5_of() {
    local out
    if command -v md5sum >/dev/null 2>&1; then
        out="$(md5sum "$1")" || return 1
        out="${out%% *}"
    elif command -v md5 >/dev/null 2>&1; then
        out="$(md5 -q "$1")" || return 1
    elif command -v python3 >/dev/null 2>&1; then
        out="$(python3 -c '
import hashlib, sys
h = hashlib.md5()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
' "$1")" || return 1
    else
        die "cannot verify the download: none of md5sum, md5 or python3 is installed."
    fi
    echo "$out" | tr 'A-F' 'a-f'
}

tmp="$(mktemp -d "$here/.cifar-10-download.XXXXXX")" \
    || die "cannot create a temporary folder in $here."
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -f "$local_archive" ]]; then
    echo "Using the archive already at $local_archive"
    archive="$local_archive"
else
    downloader="${CIFAR10_DOWNLOADER:-}"
    if [[ -z "$downloader" ]]; then
        if command -v curl >/dev/null 2>&1; then
            downloader=curl
        elif command -v wget >/dev/null 2>&1; then
            downloader=wget
        else
            die "neither curl nor wget is installed. Install one of them, or download" \
                "$URL by hand and save it as $local_archive, then run this script again."
        fi
    elif [[ "$downloader" != curl && "$downloader" != wget ]]; then
        die "CIFAR10_DOWNLOADER must be curl or wget, not '$downloader'."
    elif ! command -v "$downloader" >/dev/null 2>&1; then
        die "CIFAR10_DOWNLOADER=$downloader, but $downloader is not installed."
    fi

    archive="$tmp/cifar-10-python.tar.gz"
    echo "Downloading $URL with $downloader ..."
    status=0
    if [[ "$downloader" == curl ]]; then
        if [[ -t 2 ]]; then progress=(--progress-bar); else progress=(--silent --show-error); fi
        curl --fail --location --connect-timeout 20 --retry 2 "${progress[@]}" \
            --output "$archive" "$URL" || status=$?
    else
        if [[ -t 2 ]]; then progress=(--progress=bar); else progress=(--no-verbose); fi
        wget --tries=2 --timeout=20 "${progress[@]}" --output-document="$archive" "$URL" \
            || status=$?
    fi
    if [[ "$status" -ne 0 ]]; then
        die "could not download $URL ($downloader exit status $status). Are you offline," \
            "behind a proxy, or is the server down? Check the connection and run this script" \
            "again, or download the file by hand and save it as $local_archive."
    fi
fi

echo "Verifying the checksum ..."
actual="$(md5_of "$archive")" || die "could not compute the MD5 checksum of $archive."
expected="$(echo "$MD5" | tr 'A-F' 'a-f')"
if [[ "$actual" != "$expected" ]]; then
    if [[ "$archive" == "$local_archive" ]]; then
        die "checksum mismatch: $local_archive has MD5 $actual, expected $expected." \
            "Delete it and run this script again to download a fresh copy."
    fi
    die "checksum mismatch: the archive from $URL has MD5 $actual, expected $expected." \
        "The download is corrupt or incomplete (or not the CIFAR-10 archive); nothing was" \
        "unpacked. Run this script again."
fi

echo "Unpacking ..."
mkdir "$tmp/unpacked"
tar -xzf "$archive" -C "$tmp/unpacked" || die "could not unpack $archive."
src="$tmp/unpacked/cifar-10-batches-py"
[[ -d "$src" ]] || die "the archive has no cifar-10-batches-py/ folder; is $URL the right file?"
missing="$(missing_files "$src")"
[[ -z "$missing" ]] || die "the archive's cifar-10-batches-py/ lacks: $missing."
[[ ! -e "$dest" ]] || die "$dest appeared while this script ran (a second copy running?);" \
    "not replacing it."
mv "$src" "$dest"
if [[ "$archive" == "$local_archive" ]]; then
    rm -f "$local_archive"
fi
echo "CIFAR-10 is ready in $dest"
