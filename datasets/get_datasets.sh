#!/usr/bin/env bash
# Download the real data sets into this script's folder (datasets/).
#
# Usage (from any folder):
#   bash datasets/get_datasets.sh            CIFAR-10, python version (about 170 MB)
#   bash datasets/get_datasets.sh cifar10    the same
#   bash datasets/get_datasets.sh mnist      MNIST: the four IDX .gz files (about 11 MB)
#   bash datasets/get_datasets.sh all        both
#
# * CIFAR-10 lands in cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta) and MNIST
#   in mnist/ (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
#   t10k-labels-idx1-ubyte.gz, kept compressed: the loaders read them as they are), next to this
#   script whatever the current folder is.
# * Idempotent: a folder that already holds all its files is left alone ("nothing to do").
# * Every download's MD5 is checked before it is used; a bad download is refused.
# * Never leaves a half-filled folder: everything is downloaded (and unpacked) in a temporary
#   folder next to this script, and the finished folder is moved into place with one rename.
#   The temporary folder is removed on success, failure or Ctrl-C.
# * Offline? Download the files by hand from the URLs below and put them next to this script
#   (cifar-10-python.tar.gz, or the four MNIST .gz files), then run the script again: they are
#   used instead of downloading, checked, and moved or deleted once in place. Or use the
#   synthetic stand-ins (see assignment/synthetic_cifar.py and assignment/synthetic_mnist.py).
#
# Needs: bash, curl or wget, tar with gzip, and md5sum (Linux), md5 (macOS) or python3.
#
# Test and mirror hooks (environment variables, all optional):
#   CIFAR10_URL         download CIFAR-10 from this URL instead of the official one
#                       (anything curl or wget accepts; curl also takes file:// URLs)
#   CIFAR10_MD5         expected MD5 of the archive at CIFAR10_URL
#   CIFAR10_DOWNLOADER  "curl" or "wget" to force one (default: curl if installed, else wget)
#   MNIST_URL           folder URL holding the four MNIST files (default: the mirrors below,
#                       tried in order for each file)
#   MNIST_MD5S          their four expected MD5s, space separated, in the order train images,
#                       train labels, test images, test labels
#   MNIST_DOWNLOADER    "curl" or "wget" to force one for MNIST
set -euo pipefail

CIFAR10_DEFAULT_URL="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_DEFAULT_MD5="c58f30108f718f92721af3b95e74349a"
CIFAR10_FILES=(data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch
    batches.meta)

MNIST_MIRRORS=("https://ossci-datasets.s3.amazonaws.com/mnist"
    "https://storage.googleapis.com/cvdf-datasets/mnist")
MNIST_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz
    t10k-labels-idx1-ubyte.gz)
MNIST_DEFAULT_MD5S="f68b3c2dcbeaaa9fbdd348bbdeb94873 d53e105ee54ea40749a09fcbcd1e9432
    9fb629c4189551a2d022fa330f9573f3 ec29112dd5afa0611ce80d1b7f02629c"

die() {
    echo "get_datasets.sh: error: $*" >&2
    exit 1
}

usage() {
    echo "usage: bash get_datasets.sh [cifar10 | mnist | all]   (no argument: cifar10)" >&2
    exit 2
}

# The folder holding this script (no dirname/readlink needed, so it also works on macOS).
script="${BASH_SOURCE[0]}"
case "$script" in
    */*) here="${script%/*}" ;;
    *) here="." ;;
esac
here="$(cd "$here" && pwd)"

# Print the names of $2... that are not regular files in folder $1, space separated.
missing_files() {
    local folder="$1" f out=""
    shift
    for f in "$@"; do
        [[ -f "$folder/$f" ]] || out="$out $f"
    done
    echo "${out# }"
}

# Exit 0 from the calling subshell if folder $2 (named $1) is complete; die if it is there but
# incomplete or not a folder; return if it is absent. $3... are its files.
done_or_absent() {
    local name="$1" dest="$2" missing
    shift 2
    if [[ -d "$dest" ]]; then
        missing="$(missing_files "$dest" "$@")"
        if [[ -z "$missing" ]]; then
            echo "$name is already in $dest; nothing to do."
            exit 0
        fi
        die "$dest exists but is incomplete (missing: $missing)." \
            "Remove it (rm -rf \"$dest\") and run this script again."
    elif [[ -e "$dest" ]]; then
        die "$dest exists and is not a folder; remove it and run this script again."
    fi
}

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

# Set $downloader from the hook variable named $1 (or curl, else wget); $2 says what to fetch
# by hand if neither is installed.
choose_downloader() {
    local hook="$1" by_hand="$2"
    downloader="${!hook:-}"
    if [[ -z "$downloader" ]]; then
        if command -v curl >/dev/null 2>&1; then
            downloader=curl
        elif command -v wget >/dev/null 2>&1; then
            downloader=wget
        else
            die "neither curl nor wget is installed. Install one of them, or $by_hand," \
                "then run this script again."
        fi
    elif [[ "$downloader" != curl && "$downloader" != wget ]]; then
        die "$hook must be curl or wget, not '$downloader'."
    elif ! command -v "$downloader" >/dev/null 2>&1; then
        die "$hook=$downloader, but $downloader is not installed."
    fi
}

# fetch URL OUT: download with $downloader; returns its exit status.
fetch() {
    local status=0 progress
    if [[ "$downloader" == curl ]]; then
        if [[ -t 2 ]]; then progress=(--progress-bar); else progress=(--silent --show-error); fi
        curl --fail --location --connect-timeout 20 --retry 2 "${progress[@]}" \
            --output "$2" "$1" || status=$?
    else
        if [[ -t 2 ]]; then progress=(--progress=bar); else progress=(--no-verbose); fi
        wget --tries=2 --timeout=20 "${progress[@]}" --output-document="$2" "$1" || status=$?
    fi
    return "$status"
}

# A temporary folder next to this script, removed when the (sub)shell exits.
make_tmp() {
    tmp="$(mktemp -d "$here/.$1-download.XXXXXX")" \
        || die "cannot create a temporary folder in $here."
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

get_cifar10() {
    local url="${CIFAR10_URL:-$CIFAR10_DEFAULT_URL}"
    local md5="${CIFAR10_MD5:-$CIFAR10_DEFAULT_MD5}"
    local dest="$here/cifar-10-batches-py" local_archive="$here/cifar-10-python.tar.gz"
    local archive actual expected src missing
    done_or_absent CIFAR-10 "$dest" "${CIFAR10_FILES[@]}"
    make_tmp cifar-10

    if [[ -f "$local_archive" ]]; then
        echo "Using the archive already at $local_archive"
        archive="$local_archive"
    else
        choose_downloader CIFAR10_DOWNLOADER "download $url by hand and save it as $local_archive"
        archive="$tmp/cifar-10-python.tar.gz"
        echo "Downloading $url with $downloader ..."
        local status=0
        fetch "$url" "$archive" || status=$?
        if [[ "$status" -ne 0 ]]; then
            die "could not download $url ($downloader exit status $status). Are you offline," \
                "behind a proxy, or is the server down? Check the connection and run this" \
                "script again, or download the file by hand and save it as $local_archive."
        fi
    fi

    echo "Verifying the checksum ..."
    actual="$(md5_of "$archive")" || die "could not compute the MD5 checksum of $archive."
    expected="$(echo "$md5" | tr 'A-F' 'a-f')"
    if [[ "$actual" != "$expected" ]]; then
        if [[ "$archive" == "$local_archive" ]]; then
            die "checksum mismatch: $local_archive has MD5 $actual, expected $expected." \
                "Delete it and run this script again to download a fresh copy."
        fi
        die "checksum mismatch: the archive from $url has MD5 $actual, expected $expected." \
            "The download is corrupt or incomplete (or not the CIFAR-10 archive); nothing was" \
            "unpacked. Run this script again."
    fi

    echo "Unpacking ..."
    mkdir "$tmp/unpacked"
    tar -xzf "$archive" -C "$tmp/unpacked" || die "could not unpack $archive."
    src="$tmp/unpacked/cifar-10-batches-py"
    [[ -d "$src" ]] || die "the archive has no cifar-10-batches-py/ folder; is $url the right file?"
    missing="$(missing_files "$src" "${CIFAR10_FILES[@]}")"
    [[ -z "$missing" ]] || die "the archive's cifar-10-batches-py/ lacks: $missing."
    [[ ! -e "$dest" ]] || die "$dest appeared while this script ran (a second copy running?);" \
        "not replacing it."
    mv "$src" "$dest"
    if [[ "$archive" == "$local_archive" ]]; then
        rm -f "$local_archive"
    fi
    echo "CIFAR-10 is ready in $dest"
}

get_mnist() {
    local dest="$here/mnist" i name expected actual base status out
    local -a md5s mirrors bases=()
    done_or_absent MNIST "$dest" "${MNIST_FILES[@]}"
    read -r -a md5s <<<"${MNIST_MD5S:-$MNIST_DEFAULT_MD5S}"
    [[ "${#md5s[@]}" -eq 4 ]] || die "MNIST_MD5S must hold four MD5s, got ${#md5s[@]}."
    mirrors=("${MNIST_MIRRORS[@]}")
    [[ -z "${MNIST_URL:-}" ]] || mirrors=("${MNIST_URL%/}")
    make_tmp mnist
    mkdir "$tmp/mnist"

    for i in 0 1 2 3; do
        name="${MNIST_FILES[$i]}"
        out="$tmp/mnist/$name"
        if [[ -f "$here/$name" ]]; then
            echo "Using the file already at $here/$name"
            cp "$here/$name" "$out" || die "could not copy $here/$name."
            bases+=("local")
        else
            [[ -n "${downloader:-}" ]] || choose_downloader MNIST_DOWNLOADER \
                "download the four files from ${mirrors[0]}/ by hand into $here"
            status=1
            for base in "${mirrors[@]}"; do
                echo "Downloading $base/$name with $downloader ..."
                status=0
                fetch "$base/$name" "$out" || status=$?
                [[ "$status" -ne 0 ]] || break
                rm -f "$out"
            done
            if [[ "$status" -ne 0 ]]; then
                die "could not download $name from ${mirrors[*]} ($downloader exit status" \
                    "$status). Are you offline, behind a proxy, or is the server down? Check" \
                    "the connection and run this script again, or download the four files" \
                    "by hand into $here."
            fi
            bases+=("$base")
        fi
        actual="$(md5_of "$out")" || die "could not compute the MD5 checksum of $out."
        expected="$(echo "${md5s[$i]}" | tr 'A-F' 'a-f')"
        if [[ "$actual" != "$expected" ]]; then
            if [[ "${bases[$i]}" == local ]]; then
                die "checksum mismatch: $here/$name has MD5 $actual, expected $expected." \
                    "Delete it and run this script again to download a fresh copy."
            fi
            die "checksum mismatch: $name from ${bases[$i]} has MD5 $actual, expected" \
                "$expected. The download is corrupt or incomplete; nothing was kept. Run this" \
                "script again."
        fi
    done

    [[ ! -e "$dest" ]] || die "$dest appeared while this script ran (a second copy running?);" \
        "not replacing it."
    mv "$tmp/mnist" "$dest"
    for name in "${MNIST_FILES[@]}"; do
        rm -f "$here/$name"
    done
    echo "MNIST is ready in $dest"
}

[[ $# -le 1 ]] || usage
case "${1:-cifar10}" in
    cifar10 | cifar-10) (get_cifar10) ;;
    mnist) (get_mnist) ;;
    all) (get_cifar10) && (get_mnist) ;;
    -h | --help) usage ;;
    *) echo "get_datasets.sh: unknown data set '$1'." >&2 && usage ;;
esac
