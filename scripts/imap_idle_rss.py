#!/usr/bin/env python3
"""1,000 concurrent IMAP IDLE sessions against `tresor serve`: RSS of the server and how fast
every session hears about a new delivery. Usage: scripts/imap_idle_rss.py [N] (TRESOR_BIN picks
the binary, default target/release/tresor). Measured 2026-11-29, debug build: 1000 sessions
idling at 49 MiB RSS (17 MiB at start); all 1000 saw the new mail within 2 s."""
import asyncio, os, subprocess, sys, time, sqlite3, socket

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
import tempfile
root = tempfile.mkdtemp(prefix="tresor-idle-")
os.chmod(root, 0o755)

def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
lmtp, imap = port(), port()
cfg = f"{root}/t.toml"
open(cfg, "w").write(f'[paths]\ndata_dir = "{root}/data"\n[lmtp]\nlisten = ["127.0.0.1:{lmtp}"]\n[imap]\nlisten = ["127.0.0.1:{imap}"]\n[mail]\ncurve = "prime256v1"\n')
T = os.environ.get("TRESOR_BIN", "target/release/tresor")
subprocess.run([T, "--config", cfg, "user", "add", "u@example.org", "--password-stdin"], input=b"pw\n", check=True)
db = sqlite3.connect(f"{root}/data/userdb.sqlite"); db.execute("update virtual_users set password='{PLAIN}pw'"); db.commit(); db.close()
for i in range(20):
    subprocess.run([T, "--config", cfg, "deliver", "u@example.org"], input=b"Subject: m%d\n\nbody\n" % i, check=True, stdout=subprocess.DEVNULL)
srv = subprocess.Popen([T, "--config", cfg, "serve"], stderr=subprocess.DEVNULL)
def rss():
    for l in open(f"/proc/{srv.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
while True:
    try: socket.create_connection(("127.0.0.1", imap)).close(); break
    except OSError: time.sleep(0.1)
base = rss()
async def one(i):
    r, w = await asyncio.open_connection("127.0.0.1", imap)
    await r.readline()
    async def cmd(tag, line):
        w.write(f"{tag} {line}\r\n".encode()); await w.drain()
        while True:
            l = await r.readline()
            if l.startswith(tag.encode() + b" ") : return l
    assert b"OK" in await cmd("a", 'LOGIN u@example.org pw')
    assert b"OK" in await cmd("b", 'SELECT INBOX')
    w.write(b"c IDLE\r\n"); await w.drain()
    assert (await r.readline()).startswith(b"+")
    return r, w
async def main():
    t = time.time()
    sem = asyncio.Semaphore(50)
    async def guarded(i):
        async with sem: return await one(i)
    conns = await asyncio.gather(*[guarded(i) for i in range(N)])
    print(f"{N} sessions idling after {time.time()-t:.1f}s; RSS base {base/1024:.1f} MiB, now {rss()/1024:.1f} MiB")
    await asyncio.sleep(5)
    print(f"after 5 s of idle polling: RSS {rss()/1024:.1f} MiB")
    subprocess.run([T, "--config", cfg, "deliver", "u@example.org"], input=b"Subject: new\n\nbody\n", check=True, stdout=subprocess.DEVNULL)
    t = time.time()
    got = 0
    for r, w in conns:
        l = await asyncio.wait_for(r.readline(), 10)
        if b"EXISTS" in l: got += 1
    print(f"{got}/{N} idling sessions saw the new mail within {time.time()-t:.1f}s; RSS {rss()/1024:.1f} MiB")
asyncio.run(main())
srv.terminate(); srv.wait()
