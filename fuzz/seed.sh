#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs for the cargo-fuzz targets in fuzz/fuzz_targets:
#
#   fuzz/seed.sh [TARGET...]        (default: every target)
#
# - dicom: tiny phantom views (48 px wide, a few KB: libFuzzer mutates small inputs faster)
#   in every transfer syntax Granska reads, re-encoded with dcmtk and pylibjpeg-openjpeg, plus
#   small files from pydicom's bundled test data (odd encodings, sequences, missing meta);
# - config, policy, model_toml: the shipped policies and model card, and config snippets;
# - upload: hand-made chunk streams in the target's encoding (see fuzz_targets/upload.rs);
# - dimse: granska-dimse's fuzz regressions (P-DATA streams of C-STORE messages).
# - stow: hand-made STOW-RS requests (a Content-Type line, then a multipart body).
#
# Seeds are generated, never committed (fuzz/corpus is ignored). Needs dcmtk and the venv of
# scripts/setup.sh --test; the granska binary is $GRANSKA_BIN, else target/{release,debug}/granska,
# else `cargo run -p granska`. Not run by CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORPUS="$ROOT/fuzz/corpus"
PYTHON="${GRANSKA_PYTHON:-$ROOT/.venv/bin/python}"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(dicom upload config policy model_toml dimse stow)

say() { printf '[seed] %s\n' "$*" >&2; }

granska() {
    if [[ -n "${GRANSKA_BIN:-}" ]]; then "$GRANSKA_BIN" "$@"
    elif [[ -x "$ROOT/target/release/granska" ]]; then "$ROOT/target/release/granska" "$@"
    elif [[ -x "$ROOT/target/debug/granska" ]]; then "$ROOT/target/debug/granska" "$@"
    else (cd "$ROOT" && cargo run -q -p granska -- "$@"); fi
}

seed_dicom() {
    local out="$CORPUS/dicom" tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$out"
    # Three kinds of view: MONOCHROME2 for presentation, MONOCHROME1, for processing.
    granska phantom --out "$tmp/m2" --studies 1 --seed 1 --cancer-fraction 1 >/dev/null
    granska phantom --out "$tmp/m1" --studies 1 --seed 2 --photometric monochrome1 >/dev/null
    granska phantom --out "$tmp/fp" --studies 1 --seed 3 --for-processing >/dev/null
    local kind view
    for kind in m2 m1 fp; do
        for view in "$tmp/$kind"/*/L-CC.dcm "$tmp/$kind"/*/R-MLO.dcm; do
            dcmscale --write-xfer-little +Sxv 48 "$view" "$out/phantom-$kind-$(basename "$view" .dcm).dcm"
        done
    done
    # Every transfer syntax, from one tiny MONOCHROME2 view.
    local base="$out/phantom-m2-L-CC.dcm"
    dcmcrle "$base" "$out/phantom-rle.dcm"
    dcmcjpeg +el "$base" "$out/phantom-jpeg-lossless-p14.dcm"
    dcmcjpeg +e1 "$base" "$out/phantom-jpeg-lossless-sv1.dcm"
    dcmcjpeg +ee "$base" "$out/phantom-jpeg-extended.dcm" # refused (unsupported), but parsed
    dcmcjpls +el "$base" "$out/phantom-jpegls-lossless.dcm"
    dcmcjpls +en "$base" "$out/phantom-jpegls-near.dcm"
    dcmconv +te "$base" "$out/phantom-big-endian.dcm"
    dcmconv +ti "$base" "$out/phantom-implicit.dcm"
    dcmconv +td "$base" "$out/phantom-deflated.dcm"
    "$PYTHON" "$ROOT/tests/oracle/pydicom_oracle.py" encode-j2k "$base" "$out/phantom-j2k-lossless.dcm"
    "$PYTHON" "$ROOT/tests/oracle/pydicom_oracle.py" encode-j2k-lossy "$base" "$out/phantom-j2k.dcm"
    dcmcrle "$out/phantom-m1-R-MLO.dcm" "$out/phantom-m1-rle.dcm"
    dcmcjpls +el "$out/phantom-fp-R-MLO.dcm" "$out/phantom-fp-jpegls.dcm"
    # pydicom's test files under 16 KB: other modalities, 8/32-bit, RGB, multi-frame, no meta,
    # bad VRs, private and undefined-length sequences.
    local data f
    data="$("$PYTHON" -c 'import pydicom.data, os; print(os.path.join(os.path.dirname(pydicom.data.__file__), "test_files"))')"
    for f in MR_small.dcm MR_small_RLE.dcm MR_small_bigendian.dcm MR_small_implicit.dcm MR_small_expb.dcm \
        MR_small_jpeg_ls_lossless.dcm MR_small_jp2klossless.dcm MR_truncated.dcm JPEG-lossy.dcm \
        JPEG2000.dcm JPEG2000-embedded-sequence-delimiter.dcm 693_J2KI.dcm JPEGLSNearLossless_08.dcm \
        JPEGLSNearLossless_16.dcm SC_rgb_jls_lossy_line.dcm SC_rgb_jpeg_dcmtk.dcm SC_rgb_jpeg_app14_dcmd.dcm \
        SC_jpeg_no_color_transform.dcm SC_rgb_small_odd.dcm SC_rgb_small_odd_big_endian.dcm \
        SC_rgb_small_odd_jpeg.dcm SC_rgb_rle_16bit_2frame.dcm SC_rgb_rle_32bit.dcm rtdose_1frame.dcm \
        rtdose_rle_1frame.dcm rtdose_expb_1frame.dcm image_dfl.dcm ExplVR_BigEnd.dcm badVR.dcm \
        UN_sequence.dcm priv_SQ.dcm nested_priv_SQ.dcm no_meta_group_length.dcm meta_missing_tsyntax.dcm \
        empty_charset_LEI.dcm; do
        cp "$data/$f" "$out/pydicom-$f"
    done
    local big
    big="$(find "$out" -type f -size +200k)"
    [[ -z "$big" ]] || { say "seeds over 200 KB: $big"; exit 1; }
}

seed_upload() {
    local out="$CORPUS/upload"
    mkdir -p "$out"
    # header byte: bits 0-2 the ref (0 "a", 1 "b", 3 empty, 4 1024 bytes, 5 1025 bytes), bit 3 last;
    # then a length byte (0xF0+ means (b - 0xEF) x 512) and the data.
    printf '\x00\x03abc\x08\x02de' >"$out/two-chunks"
    printf '\x00\x03abc\x08\x02de\x09\x01z\x0a\x00' >"$out/three-instances"
    printf '\x00\xf8\x08\x00\x09\x04next' >"$out/too-large-then-small"
    printf '\x08\xf8\x0c\x03max' >"$out/too-large-one-chunk"
    printf '\x00\x01x\x01\x01y' >"$out/interleaved"
    printf '\x0b\x00' >"$out/empty-ref"
    printf '\x0d\x01q' >"$out/long-ref"
    printf '\x00\x05abcde\x00\x05fghij' >"$out/unfinished"
}

seed_dimse() {
    local out="$CORPUS/dimse" f
    mkdir -p "$out"
    for f in "$ROOT"/crates/granska-dimse/tests/fuzz-regressions/dimse/*; do
        [[ "$(basename "$f")" == README.md ]] || cp "$f" "$out/"
    done
}

seed_stow() {
    local out="$CORPUS/stow"
    mkdir -p "$out"
    # First line: the request's Content-Type; the rest: its body (see fuzz_targets/stow.rs).
    local ct='multipart/related; type="application/dicom"; boundary=b'
    local meta='DICM\x02\x00\x02\x00UI\x1c\x001.2.840.10008.5.1.4.1.1.1.2\x00\x02\x00\x03\x00UI\x08\x001.2.3.4\x00'
    printf "%s\n--b\r\nContent-Type: application/dicom\r\n\r\n$meta\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n" "$ct" >"$out/two-parts"
    printf 'Multipart/Related;TYPE=Application/DICOM;Boundary="q;\\"b"\n--q;"b\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--q;"b--\r\n' >"$out/quoted-boundary"
    printf '%s\npreamble\r\n--b\r\nContent-Type: application/dicom\r\nContent-Length: 3\r\n\r\nabc\r\n--b--\r\nepilogue' "$ct" >"$out/preamble-epilogue"
    printf '%s\n--b\r\nContent-Type: application/dicom\r\n\r\nunterminated' "$ct" >"$out/unterminated"
    printf 'multipart/related; type="application/dicom"; boundary="unclosed\n--b--\r\n' >"$out/unclosed-quote"
}

seed_config() {
    local out="$CORPUS/config"
    mkdir -p "$out"
    : >"$out/empty.toml"
    cat >"$out/full.toml" <<'EOF'
[server]
listen = "0.0.0.0:50051"
metrics_listen = ""
data_dir = "/var/lib/granska"
max_connections = 64
handshake_timeout_s = 5
max_concurrent_streams = 10
keepalive_interval_s = 20
keepalive_timeout_s = 5

[server.tls]
cert_file = "tls/server.pem"
key_file = "tls/server.key"

[model]
dir = "models/granska-phantom-v1"
ort_library = "/opt/onnxruntime/lib/libonnxruntime.so"
threads = 4
batch = 8
batch_wait_ms = 2
device = "cuda:0"
cuda_fallback = true

[policy]
name = "threshold"
file = "policies/local.toml"

[ingest]
quiet_period_s = 60
max_instance_mib = 128
profile = "lenient"
max_uploads = 8
max_buffered_mib = 256
idle_timeout_s = 30
min_free_mib = 512

[scoring]
workers = 1
queue = 16
timeout_s = 60
max_attempts = 3
retry_backoff_ms = 1000

[worklist]
lease_minutes = 30

[auth]
health_requires_token = true

[[auth.tokens]]
principal = "pacs-1"
role = "pacs"
token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[[auth.tokens]]
principal = "dr-a"
role = "radiologist"
token_sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
EOF
    printf '[ingest]\nprofile = "strict"\nmax_instance_mib = 1\n' >"$out/ingest.toml"
    printf 'server.listen = "[::1]:0"\npolicy = { name = "masai" }\n' >"$out/dotted.toml"
    printf '[model]\nthreads = -1\n' >"$out/negative.toml"
    printf '[server]\nunknown = 1\n' >"$out/unknown-key.toml"
}

seed_policy() {
    mkdir -p "$CORPUS/policy"
    cp "$ROOT"/crates/granska-triage/policies/*.toml "$CORPUS/policy/"
    printf 'name = "n"\nversion = "1"\nmax_wait_hours = 1e300\n[rule]\nkind = "normal-triage"\nnormal_up_to_category = 3\nsafety_net_from_category = 9\n' \
        >"$CORPUS/policy/normal-triage-net.toml"
}

seed_model_toml() {
    mkdir -p "$CORPUS/model_toml"
    cp "$ROOT/models/granska-phantom-v1/model.toml" "$CORPUS/model_toml/granska-phantom-v1.toml"
}

for t in "${targets[@]}"; do
    case "$t" in
        dicom | upload | config | policy | model_toml | dimse | stow) "seed_$t"; say "$t: $(find "$CORPUS/$t" -type f | wc -l) seeds" ;;
        *) say "unknown target $t (dicom, upload, config, policy, model_toml, dimse, stow)"; exit 1 ;;
    esac
done
