#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs taken from the Dovecot 2.3.19 test vectors.
#
#   fuzz/seed.sh              # vectors at ../shared/vectors/dovecot-2.3.19 (beside the checkout)
#   VECTORS=/path/to/dovecot-2.3.19 fuzz/seed.sh
#   NO_SEAL=1 fuzz/seed.sh    # skip the cargo-built seeds sealed to the `open` target's key
#
# Seeds are only added, never removed, so a corpus grown by earlier runs is kept. Idempotent.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$fuzz_dir/.." && pwd)
vectors=${VECTORS:-$root/../shared/vectors/dovecot-2.3.19}
corpus=$fuzz_dir/corpus

if [[ ! -d $vectors/vmail ]]; then
    echo "seed.sh: no test vectors at $vectors (set VECTORS=...)" >&2
    exit 1
fi

targets=(key_string file_header open attributes_file uidlist)
for t in "${targets[@]}"; do mkdir -p "$corpus/$t"; done

# A seed file named after its origin: <prefix>-<path under vmail>, with _ for / , : and the like.
name() {
    local rel=${2#"$vectors"/vmail/}
    rel=${rel//\/Maildir/}
    printf '%s-%s' "$1" "$rel" | tr -c 'A-Za-z0-9._-' _
}

# dovecot-attributes files, whole (attributes_file), and their key-string values (key_string):
# the file pairs a key line with a value line; v2 key strings start with `2:`, v1 ones with
# `1<TAB>`, which the file tab-escapes as `1 \x01 t`.
n_keys=0
while IFS= read -r -d '' f; do
    cp "$f" "$corpus/attributes_file/$(name attrs "$f")"
    i=0
    while IFS= read -r value; do
        i=$((i + 1))
        printf '%s' "$value" | sed 's/\x01t/\t/g' > "$corpus/key_string/$(name key "$f")-$i"
        n_keys=$((n_keys + 1))
    done < <(awk 'NR % 2 == 0 && (/^2:/ || /^1\001t/)' "$f")
done < <(find "$vectors/vmail" -name dovecot-attributes -type f -print0 | sort -z)

# The PEM private keys that `doveadm mailbox cryptokey export` printed (parse_pem).
while IFS= read -r -d '' f; do
    awk -v out="$corpus/key_string/pem-$(basename "$f" .txt)-" '
        /-----BEGIN / { n++; keep = 1 }
        keep { print > (out n) }
        /-----END / { keep = 0; close(out n) }' "$f"
done < <(find "$vectors/keys" -name '*.txt' -type f -print0 | sort -z)

# dovecot-uidlist files of every folder (uidlist).
while IFS= read -r -d '' f; do
    cp "$f" "$corpus/uidlist/$(name uidlist "$f")"
done < <(find "$vectors/vmail" -name dovecot-uidlist -type f -print0 | sort -z)

# Small sealed mail files (under 4 KB), the three smallest of each user's INBOX
# (file_header and open; `open` has no key for them, so it stops at key unwrapping).
magic=435259505445440307  # "CRYPTED\x03\x07" in hex
for cur in "$vectors"/vmail/*/*/Maildir/cur; do
    mapfile -t small < <(find "$cur" -type f -size -4k -printf '%s %p\n' | sort -n | cut -d' ' -f2-)
    picked=0
    for f in "${small[@]}"; do
        ((picked < 3)) || break
        [[ $(head -c 9 "$f" | od -An -tx1 | tr -d ' \n') == "$magic" ]] || continue
        cp "$f" "$corpus/file_header/$(name mail "$f")"
        cp "$f" "$corpus/open/$(name mail "$f")"
        picked=$((picked + 1))
    done
done

# Messages sealed to the `open` target's fixed key, so that it reaches decryption too.
if [[ -z ${NO_SEAL:-} ]]; then
    small=()
    for m in "$vectors"/plaintext/*.eml; do
        [[ $(stat -c %s "$m") -lt 4096 ]] && small+=("$m")
    done
    cargo run --quiet --manifest-path "$fuzz_dir/Cargo.toml" --example seal_seeds -- \
        "$corpus/open" "${small[@]}"
fi

for t in "${targets[@]}"; do
    printf '%-16s %3d files\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done
if ((n_keys == 0)); then
    echo "seed.sh: no key strings found in the attributes files" >&2
    exit 1
fi
