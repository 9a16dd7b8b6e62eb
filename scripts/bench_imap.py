#!/usr/bin/env python3
"""IMAP read benchmark: tresor against the Dovecot peer, same workload, same run.

    bench_imap.py --tresor BIN --work DIR --peer-root ROOT [--runs 3] [--count 2000] [--size 10240]

Per run, on both sides a fresh crypt=2 secp521r1 user gets COUNT messages of SIZE bytes (the
peer's generator) over LMTP; then the timed part, as a mail client does it: connect, LOGIN,
SELECT INBOX, UID FETCH 1:* BODY.PEEK[] of every message, LOGOUT. tresor is measured three
ways: "cold" (the first session after delivery), "warm" (a second session), and "restarted"
(a fresh server process, nothing in memory). Every fetched body is compared with what was
sent (both sides add trace headers and CRLF line ends). Medians and the ratios
Dovecot / tresor go to stdout and to --out as JSON.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_lmtp import PW, Tresor, add_peer_user, client, deliver  # noqa: E402  (shared parts)


def same_login_hash(tresor, email):
    """The same login hash on both sides: the peer's users get `doveadm pw -s BLF-CRYPT`
    (bcrypt cost 5), tresor's own default is cost 11 (170 ms per login, deliberately).
    Giving tresor's user the peer's kind of hash, as a migrated ISPmail user has, keeps
    the comparison about reading mail."""
    import sqlite3
    import subprocess
    h = subprocess.run(["doveadm", "pw", "-s", "BLF-CRYPT", "-p", PW], capture_output=True,
                       check=True, text=True).stdout.strip()
    db = sqlite3.connect(os.path.join(tresor.work, "data", "userdb.sqlite"))
    with db:
        n = db.execute("UPDATE virtual_users SET password = ? WHERE email = ?", (h, email)).rowcount
    db.close()
    if n != 1:
        raise RuntimeError(f"could not set the login hash of {email}")


def message_id(data):
    start = data.find(b"Message-ID: <")
    return data[start:data.find(b">", start) + 1] if start >= 0 else None


def session(port, email, want):
    """One timed client session (total, and SELECT + FETCH alone); then every body is
    checked against what was sent."""
    t0 = time.perf_counter()
    m = client.imap_connect("127.0.0.1", port, email, PW)
    msgs, t_select, t_fetch = client.imap_fetch_all(m, "INBOX", examine=True)
    m.logout()
    dt = (time.perf_counter() - t0, t_select + t_fetch)
    if len(msgs) != len(want):
        raise RuntimeError(f"{email}: fetched {len(msgs)} messages, expected {len(want)}")
    sent = {message_id(w): client.normalize_crlf(w) for w in want}
    for uid, body in msgs:
        # The stored message is the sent one behind the trace headers delivery added.
        if not body.endswith(sent.get(message_id(body), b"\0")):
            raise RuntimeError(f"{email}: UID {uid} is not a message that was sent")
    return dt


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
    peer_imap = int(os.environ.get("PEER_IMAP_PORT", 20143))
    tresor = Tresor(os.path.abspath(a.tresor), os.path.abspath(a.work))
    tresor.start()
    msgs = [client.gen_message(i, a.size, "bench@bench.test", seed=11) for i in range(a.count)]
    res = {"dovecot": [], "tresor_cold": [], "tresor_warm": [], "tresor_restarted": []}
    tag = str(int(time.time()))
    try:
        for run in range(a.runs):
            email = f"imap-{run}-{tag}@bench.test"
            add_peer_user(a.peer_root, email)
            deliver(peer_lmtp, email, msgs, 4)
            tresor.add_user(email)
            same_login_hash(tresor, email)
            deliver(("127.0.0.1", tresor.port), email, msgs, 4)
            d = session(peer_imap, email, msgs)
            cold = session(tresor.imap_port, email, msgs)
            warm = session(tresor.imap_port, email, msgs)
            tresor.stop()
            tresor.start()
            restarted = session(tresor.imap_port, email, msgs)
            for k, v in (("dovecot", d), ("tresor_cold", cold), ("tresor_warm", warm),
                         ("tresor_restarted", restarted)):
                res[k].append(v[0])
                res.setdefault(k + "_fetch_only", []).append(v[1])
            print(f"run {run}: Dovecot {d[0]:.2f} s, tresor cold {cold[0]:.3f} s, warm "
                  f"{warm[0]:.3f} s, after restart {restarted[0]:.3f} s (SELECT+FETCH alone: "
                  f"{d[1]:.2f} / {cold[1]:.3f} / {warm[1]:.3f} / {restarted[1]:.3f} s)", flush=True)
    finally:
        tresor.stop()
    med = {k: statistics.median(v) for k, v in res.items()}
    summary = {k: dict(median_s=round(v, 3), runs=[round(x, 3) for x in res[k]]) for k, v in med.items()}
    for k in ("tresor_cold", "tresor_warm", "tresor_restarted"):
        summary[k]["dovecot_over_tresor"] = round(med["dovecot"] / med[k], 1)
        f = k + "_fetch_only"
        summary[f]["dovecot_over_tresor"] = round(med["dovecot_fetch_only"] / med[f], 1)
    print(json.dumps(summary, indent=1))
    print(f"IMAP login + FETCH BODY.PEEK[] of {a.count} x {a.size} B (median of {a.runs}): "
          f"Dovecot {med['dovecot']:.2f} s; tresor cold {med['tresor_cold']:.3f} s "
          f"({summary['tresor_cold']['dovecot_over_tresor']}x), warm {med['tresor_warm']:.3f} s "
          f"({summary['tresor_warm']['dovecot_over_tresor']}x), after restart "
          f"{med['tresor_restarted']:.3f} s ({summary['tresor_restarted']['dovecot_over_tresor']}x)")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(count=a.count, size=a.size, runs=a.runs, results=summary), f, indent=1)


if __name__ == "__main__":
    main()
