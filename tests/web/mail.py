#!/usr/bin/env python3
"""Mail helpers for the browser test, over loopback.

    mail.py deliver LMTP_PORT RCPT SUBJECT BODY   LMTP delivery (smtplib.LMTP)
    mail.py read IMAP_PORT USER < password        IMAP login (imaplib), prints every INBOX
                                                  message; exit 3 when the login is refused
"""
import imaplib
import smtplib
import sys


def deliver(port, rcpt, subject, body):
    msg = f"From: sender@example.net\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    with smtplib.LMTP("127.0.0.1", int(port)) as lmtp:
        refused = lmtp.sendmail("sender@example.net", [rcpt], msg.encode())
        if refused:
            sys.exit(f"refused: {refused}")


def read(port, user):
    password = sys.stdin.buffer.read().rstrip(b"\n")
    imap = imaplib.IMAP4("127.0.0.1", int(port))
    try:
        # SASL PLAIN, so a password with spaces or non-ASCII goes through unchanged.
        imap.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password)
    except imaplib.IMAP4.error as e:
        print(f"login refused: {e}", file=sys.stderr)
        sys.exit(3)
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    if typ != "OK":
        sys.exit(f"fetch failed: {data}")
    for part in data:
        if isinstance(part, tuple):
            sys.stdout.write(part[1].decode("utf-8", "replace"))
    imap.logout()


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"deliver": deliver, "read": read}[cmd](*args)
