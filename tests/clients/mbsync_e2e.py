#!/usr/bin/env python3
"""mbsync (Debian isync) against `tresor serve`: a real client syncs an encrypted mailbox to a
local Maildir, and every message it stores is byte for byte what tresor holds.

    mbsync_e2e.py TRESOR_BIN

  a. A crypt=2 user gets mail over LMTP (text, 8-bit, CRLF and LF, no final newline, a
     base64 attachment, a long header) in INBOX and in a second folder; one message is
     marked \\Seen over IMAP.
  b. `mbsync -a` pulls every folder into a local Maildir: exit 0, the same folders, the same
     number of messages, and each local file equals `tresor fetch` of that UID (the stored
     plaintext) — matched by Message-ID — with \\Seen as the S flag.
  c. More mail and a flag change, then a second `mbsync -a`: only the new messages arrive,
     the flag follows, nothing is duplicated.
  d. tresor's log holds neither the password nor any message text.

Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits non-zero on
any failure. Runs as root or not; uses only loopback ports.
"""
import imaplib
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

PW = "mbsync pass 1"
USER = "mb@example.org"
PASSED = FAILED = 0


def ok(cond, what, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print(f"ok - {what}")
    else:
        FAILED += 1
        print(f"not ok - {what}")
        for line in str(detail).splitlines()[:20]:
            print(f"#   {line}")
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def messages(start, count):
    out = []
    for i in range(start, start + count):
        mid = f"<mbsync-{i}@example.net>"
        kind = i % 5
        if kind == 0:
            m = (f"From: A <a@example.net>\r\nTo: {USER}\r\nSubject: plain {i}\r\n"
                 f"Message-ID: {mid}\r\n\r\nSECRET-BODY-{i}\r\nline two\r\n").encode()
        elif kind == 1:
            m = (f"From: B <b@example.net>\r\nTo: {USER}\r\nSubject: =?UTF-8?Q?J=C3=B6rg_{i}?=\r\n"
                 f"Message-ID: {mid}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 f"Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, SECRET-BODY-{i}\r\n").encode()
        elif kind == 2:
            m = (f"From: c@example.net\nTo: {USER}\nSubject: lf {i}\nMessage-ID: {mid}\n\n"
                 f"SECRET-BODY-{i} no final newline").encode()
        elif kind == 3:
            data = bytes(range(256)) * 20
            import base64
            b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
            m = (f"From: d@example.net\r\nTo: {USER}\r\nSubject: attachment {i}\r\n"
                 f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
                 f"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
                 f"Content-Type: text/plain\r\n\r\nSECRET-BODY-{i}\r\n--XX\r\n"
                 f"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                 ).encode() + b64 + b"--XX--\r\n"
        else:
            m = (f"From: e@example.net\r\nTo: {USER}\r\nSubject: {'long ' * 60}{i}\r\n"
                 f"X-Long: {'y' * 900}\r\nMessage-ID: {mid}\r\n\r\nSECRET-BODY-{i}\r\n").encode()
        out.append((mid, m))
    return out


def lmtp(port, msgs):
    c = smtplib.LMTP("127.0.0.1", port)
    c.ehlo("mbsync.test")
    for _, m in msgs:
        c.sendmail("s@example.net", [USER], m)
    c.quit()


def message_id(data):
    m = re.search(rb"(?im)^Message-ID: (<[^>]+>)", data)
    return m.group(1).decode() if m else None


def local_folder(root, name):
    return os.path.join(root, name)


def local_messages(root):
    """{folder: {message-id: (bytes, flags)}} of the mbsync Maildir tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        folder = os.path.relpath(os.path.dirname(dirpath), root)
        for f in filenames:
            data = open(os.path.join(dirpath, f), "rb").read()
            # mbsync marks what it stores with an X-TUID header line of its own (12 chars).
            data = re.sub(rb"(?m)\AX-TUID: [A-Za-z0-9+/]{12}\n|^X-TUID: [A-Za-z0-9+/]{12}\n", b"", data, count=1)
            flags = f.split(":2,")[1] if ":2," in f else ""
            out.setdefault(folder, {})[message_id(data)] = (data, flags)
    return out


def main():
    tresor = os.path.abspath(sys.argv[1])
    root = tempfile.mkdtemp(prefix="tresor-mbsync-")
    os.chmod(root, 0o755)
    lport, iport = free_port(), free_port()
    cfg = os.path.join(root, "tresor.toml")
    with open(cfg, "w") as f:
        f.write(f'[paths]\ndata_dir = "{root}/data"\n[lmtp]\nlisten = ["127.0.0.1:{lport}"]\n'
                f'[imap]\nlisten = ["127.0.0.1:{iport}"]\n[auth]\nlisten = []\n[web]\nlisten = []\n'
                f'[mail]\ncurve = "prime256v1"\n')

    def cli(*args, stdin=b""):
        return subprocess.run([tresor, "--config", cfg, *args], input=stdin, capture_output=True)

    r = cli("user", "add", USER, "--password-stdin", stdin=(PW + "\n").encode())
    if not ok(r.returncode == 0, "tresor user add", r.stderr.decode(errors="replace")):
        return
    cli("mailbox", "create", USER, "Archive")
    log = open(os.path.join(root, "serve.log"), "wb")
    srv = subprocess.Popen([tresor, "--config", cfg, "serve"], stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", iport), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        first = messages(0, 15)
        lmtp(lport, first)
        archive = messages(100, 3)
        for _, m in archive:
            cli("deliver", USER, "--mailbox", "Archive", stdin=m)
        m = imaplib.IMAP4("127.0.0.1", iport)
        m.login(USER, PW)
        m.select("INBOX")
        m.uid("STORE", "2", "+FLAGS", "(\\Seen)")
        m.logout()

        local = os.path.join(root, "local")
        os.makedirs(local)
        rc = os.path.join(root, "mbsyncrc")
        with open(rc, "w") as f:
            f.write(f"""IMAPAccount tresor
Host 127.0.0.1
Port {iport}
User {USER}
Pass "{PW}"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account tresor

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
""")

        def sync():
            return subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, timeout=300)

        def check(round_name, expect):
            have = local_messages(local)
            for folder, msgs in expect.items():
                got = have.get(folder, {})
                ok(len(got) == len(msgs), f"{round_name}: {folder} has {len(msgs)} messages locally",
                   f"local: {sorted(k or '?' for k in got)}")
                # What tresor holds, UID by UID, decrypted.
                for uid in range(1, 200):
                    r = cli("fetch", USER, "--password-stdin", "--mailbox", folder, "--uid", str(uid),
                            stdin=(PW + "\n").encode())
                    if r.returncode != 0:
                        continue
                    mid = message_id(r.stdout)
                    if mid not in got:
                        ok(False, f"{round_name}: {folder} UID {uid} {mid} synced")
                        continue
                    data, _ = got[mid]
                    ok(data == r.stdout, f"{round_name}: {folder} UID {uid} byte for byte",
                       f"local {len(data)} bytes, tresor {len(r.stdout)} bytes")

        r = sync()
        ok(r.returncode == 0, "first mbsync -a exits 0", (r.stdout + r.stderr).decode(errors="replace"))
        check("first sync", {"INBOX": first, "Archive": archive})
        seen = local_messages(local).get("INBOX", {}).get(messages(1, 1)[0][0], (b"", ""))[1]
        ok("S" in seen, "\\Seen set over IMAP arrives as the S flag", f"flags {seen!r}")

        second = messages(15, 4)
        lmtp(lport, second)
        m = imaplib.IMAP4("127.0.0.1", iport)
        m.login(USER, PW)
        m.select("INBOX")
        m.uid("STORE", "3", "+FLAGS", "(\\Flagged)")
        m.logout()
        r = sync()
        ok(r.returncode == 0, "second mbsync -a exits 0", (r.stdout + r.stderr).decode(errors="replace"))
        check("second sync", {"INBOX": first + second, "Archive": archive})
        flagged = local_messages(local).get("INBOX", {}).get(messages(2, 1)[0][0], (b"", ""))[1]
        ok("F" in flagged, "a flag set between syncs follows", f"flags {flagged!r}")
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
        log.close()
    text = open(os.path.join(root, "serve.log"), "rb").read()
    ok(PW.encode() not in text and b"SECRET-BODY" not in text,
       "tresor's log holds no password and no message text")
    on_disk = b""
    for dirpath, _, files in os.walk(os.path.join(root, "data")):
        for f in files:
            if f.startswith(("userdb", "dovecot", "tresor-", "subscriptions")):
                continue
            on_disk += open(os.path.join(dirpath, f), "rb").read()
    ok(b"SECRET-BODY" not in on_disk, "no plaintext of the encrypted user's mail on tresor's disk")
    print(f"{PASSED} passed, {FAILED} failed")
    if FAILED == 0 and not os.environ.get("MBSYNC_E2E_KEEP"):
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
