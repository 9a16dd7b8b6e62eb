#!/usr/bin/env python3
"""Cross-check tresor against the independent Python model of the format
(../shared/spec/mail-crypt-reference.py, written from the spec, not from our code).

  * tresor seals -> the model decrypts (with the folder key tresor exports as PEM);
  * the model seals to tresor's folder public key -> tresor opens;
  * the model wraps a user key with a password -> tresor unlocks it.

Usage: reference-check.py TRESOR_BIN.  Prints one `ok`/`not ok` line per check and a final
`N passed, M failed` line; exits non-zero on any failure."""
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "..", "..", "shared", "spec", "mail-crypt-reference.py")
spec = importlib.util.spec_from_file_location("ref", REF)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)
from cryptography.hazmat.primitives import serialization  # noqa: E402

TRESOR = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/tresor")
passed = failed = 0


def check(what, cond):
    global passed, failed
    print(("ok - " if cond else "not ok - ") + what)
    if cond:
        passed += 1
    else:
        failed += 1


def run(args, stdin=b""):
    return subprocess.run([TRESOR] + args, input=stdin, capture_output=True)


def attributes(home):
    with open(os.path.join(home, "Maildir", "dovecot-attributes"), "rb") as f:
        return ref.parse_attribute_file(f.read().decode())


for curve in ("prime256v1", "secp384r1", "secp521r1"):
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        os.mkdir(home)
        pw = "Kennwort mit Umlaut ä und 'quote'"
        r = run(["key", "generate", "--home", home, "--password-stdin", "--curve", curve],
                (pw + "\n").encode())
        check(f"{curve}: key generate", r.returncode == 0)
        r = run(["key", "generate", "--home", home, "--mailbox", "INBOX"])
        check(f"{curve}: folder key generate", r.returncode == 0)
        folder_id = r.stdout.decode().strip()
        attrs = attributes(home)
        P = "vendor/vendor.dovecot/pvt/"
        user_priv = [v for k, v in attrs.items() if k.startswith("priv/") and "/server/" in k][0]
        uk = ref.load_private_v2(user_priv, password=pw)
        check(f"{curve}: model unlocks tresor's password-wrapped user key", uk is not None)
        fpriv = [v for k, v in attrs.items() if k.endswith(P + "crypt/privkeys/" + folder_id)][0]
        fk = ref.load_private_v2(fpriv, dec_key=uk)
        fpub = [v for k, v in attrs.items() if k.endswith(P + "crypt/pubkeys/" + folder_id)][0]
        check(f"{curve}: model loads tresor's public key string", ref.key_id(ref.load_public_v2(fpub)) == folder_id)

        for size in (1, 1000, 300_000):
            msg = bytes((i * 31 + 7) % 256 for i in range(size))
            r = run(["file", "seal", "--home", home], msg)
            ok = r.returncode == 0 and ref.decrypt_v2(r.stdout, fk) == msg
            check(f"{curve}: tresor seals {size} B, model decrypts", ok)
            sealed = ref.encrypt_v2(msg, fk.public_key())
            path = os.path.join(home, "Maildir", "new", f"1.M{size}P1.ref,S={size}")
            with open(path, "wb") as f:
                f.write(sealed)
            r = run(["file", "open", "--home", home, "--password-stdin", path], (pw + "\n").encode())
            check(f"{curve}: model seals {size} B, tresor opens", r.returncode == 0 and r.stdout == msg)

        # tresor's export equals the model's view of the same keys.
        r = run(["key", "export", "--home", home, "--password-stdin"], (pw + "\n").encode())
        pems = [b"-----BEGIN" + p for p in r.stdout.split(b"-----BEGIN")[1:]]
        scalars = sorted(serialization.load_pem_private_key(p.split(b"-----END PRIVATE KEY-----")[0]
                         + b"-----END PRIVATE KEY-----\n", None).private_numbers().private_value
                         for p in pems)
        check(f"{curve}: export holds exactly the user and folder keys",
              scalars == sorted([uk.private_numbers().private_value, fk.private_numbers().private_value]))

        # A user key wrapped by the model opens in tresor (replace the stored one).
        new_pw = "model pw"
        attrs2 = {k: (ref.store_private_v2(uk, password=new_pw) if v == user_priv else v)
                  for k, v in attrs.items()}
        with open(os.path.join(home, "Maildir", "dovecot-attributes"), "wb") as f:
            f.write(ref.write_attribute_file(attrs2).encode())
        r = run(["file", "open", "--home", home, "--password-stdin", path], (new_pw + "\n").encode())
        check(f"{curve}: tresor unlocks a key the model wrapped", r.returncode == 0 and r.stdout == msg)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
