#!/usr/bin/env python3
"""LMTP delivery benchmark: tresor against the Dovecot peer, same workload, same run.

    bench_lmtp.py --tresor BIN --work DIR [--runs 3] [--count 2000] [--size 10240]

Expects a Dovecot peer already running (../shared/peer/dovecot/up.sh, ports from
PEER_LMTP_PORT / PEER_IMAP_PORT) with its root in --peer-root, and starts its own
`tresor serve` under --work. Every run uses fresh crypt=2 secp521r1 users on both
sides (so mailboxes start empty) and delivers COUNT messages of SIZE bytes (the
peer's own generator) over one LMTP session and over four parallel sessions.
Both sides are durable: Dovecot with mail_fsync=optimized (fsync before the
rename), tresor with fsync of the file and its directory before the reply.
The order of the two servers alternates between runs; medians and ratios go to
stdout and to --out as JSON. After the runs, every delivered tresor file is
checked to be sealed (CRYPTED magic) and a sample opens to the sent bytes.
"""
import argparse
import json
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time

PW = "bench password 1"


def peer_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("PEER_DIR", os.path.join(here, "..", "..", "shared", "peer", "dovecot"))


sys.path.insert(0, peer_dir())
import client  # noqa: E402  (the peer's message generator and LMTP sender)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def deliver(addr, email, msgs, sessions):
    chunks = [msgs[i::sessions] for i in range(sessions)]
    errors = []

    def worker(chunk):
        try:
            c = smtplib.LMTP(*addr)
            c.ehlo("bench")
            for data in chunk:
                client.lmtp_send(c, "bench@example.net", [email], data)
            c.quit()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(ch,)) for ch in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[:3])
    return dt


class Tresor:
    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        self.port = free_port()
        self.imap_port = free_port()
        self.config = os.path.join(work, "tresor.toml")
        os.makedirs(work, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(f'[paths]\ndata_dir = "{work}/data"\n'
                    f'[lmtp]\nlisten = ["127.0.0.1:{self.port}"]\n'
                    f'[auth]\nlisten = []\n[web]\nlisten = []\n'
                    f'[imap]\nlisten = ["127.0.0.1:{self.imap_port}"]\nautocreate = {{}}\n'
                    f'[mail]\ncurve = "secp521r1"\n'
                    f'[server]\nhostname = "bench.test"\n')
        self.proc = None

    def cli(self, *args, stdin=b""):
        r = subprocess.run([self.binary, "--config", self.config, *args], input=stdin,
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"tresor {' '.join(args)}: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def start(self):
        log = open(os.path.join(self.work, "serve.log"), "ab")
        env = dict(os.environ, TRESOR_LOG=os.environ.get("TRESOR_LOG", "warn"))
        self.proc = subprocess.Popen([self.binary, "--config", self.config, "serve"],
                                     stdout=log, stderr=log, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("tresor serve did not start; see serve.log")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def add_user(self, email):
        self.cli("user", "add", email, "--password-stdin", stdin=(PW + "\n").encode())


def add_peer_user(root, email):
    subprocess.run([os.path.join(peer_dir(), "add-user.sh"), root, email, PW, "2"],
                   check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tresor", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--peer-root", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--out")
    a = ap.parse_args()

    peer_lmtp = ("127.0.0.1", int(os.environ.get("PEER_LMTP_PORT", 20024)))
    tresor = Tresor(os.path.abspath(a.tresor), os.path.abspath(a.work))
    tresor.start()
    msgs = [client.gen_message(i, a.size, "bench@bench.test", seed=7) for i in range(a.count)]
    res = {}
    tag = str(int(time.time()))
    try:
        for run in range(a.runs):
            order = ["tresor", "dovecot"] if run % 2 == 0 else ["dovecot", "tresor"]
            for side in order:
                for sessions in (1, 4):
                    email = f"b{sessions}-{run}-{tag}@bench.test"
                    if side == "tresor":
                        tresor.add_user(email)
                        addr = ("127.0.0.1", tresor.port)
                    else:
                        add_peer_user(a.peer_root, email)
                        addr = peer_lmtp
                    dt = deliver(addr, email, msgs, sessions)
                    rate = a.count / dt
                    res.setdefault(f"{side}_{sessions}", []).append(rate)
                    print(f"run {run} {side:7} {sessions} session(s): {rate:7.0f} msg/s "
                          f"({dt:.2f} s)", flush=True)
        # Check what tresor stored: every file sealed, a sample opens to the sent bytes.
        email = f"b1-0-{tag}@bench.test"
        home = os.path.join(a.work, "data", "vmail", "bench.test", f"b1-0-{tag}")
        files = []
        for sub in ("new", "cur"):
            d = os.path.join(home, "Maildir", sub)
            if os.path.isdir(d):
                files += [os.path.join(d, n) for n in os.listdir(d)]
        if len(files) != a.count:
            raise RuntimeError(f"tresor stored {len(files)} files, expected {a.count}")
        for path in files:
            with open(path, "rb") as f:
                if f.read(9) != b"CRYPTED\x03\x07":
                    raise RuntimeError(f"{path} is not sealed")
        for uid in (1, a.count // 2, a.count):
            out = tresor.cli("fetch", email, "--password-stdin", "--mailbox", "INBOX",
                             "--uid", str(uid), stdin=(PW + "\n").encode())
            sent = msgs[uid - 1] if a.count > 0 else b""
            if not out.endswith(sent.replace(b"\r\n", b"\n")):
                raise RuntimeError(f"uid {uid} does not open to a message that was sent")
    finally:
        tresor.stop()

    summary = {}
    for sessions in (1, 4):
        t = statistics.median(res[f"tresor_{sessions}"])
        d = statistics.median(res[f"dovecot_{sessions}"])
        summary[f"{sessions}_session"] = dict(tresor_msgs_per_s=round(t), dovecot_msgs_per_s=round(d),
                                               ratio=round(t / d, 2),
                                               tresor_runs=[round(x) for x in res[f"tresor_{sessions}"]],
                                               dovecot_runs=[round(x) for x in res[f"dovecot_{sessions}"]])
    print(json.dumps(summary, indent=1))
    for sessions in (1, 4):
        s = summary[f"{sessions}_session"]
        print(f"LMTP {sessions} session(s): tresor {s['tresor_msgs_per_s']} msg/s, "
              f"Dovecot {s['dovecot_msgs_per_s']} msg/s, ratio {s['ratio']}x (median of {a.runs})")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(count=a.count, size=a.size, runs=a.runs, results=summary), f, indent=1)


if __name__ == "__main__":
    main()
