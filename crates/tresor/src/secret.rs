//! Secrets from standard input: one line each, only the trailing newline removed, so a
//! password may hold spaces, quotes and any UTF-8.

use std::io::BufRead;

use zeroize::Zeroizing;

/// Reads one line from stdin; only a final `\n` is stripped. EOF before any byte is an error.
pub(crate) fn read_line(what: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::new());
    let n = std::io::stdin().lock().read_until(b'\n', &mut line)?;
    if n == 0 {
        anyhow::bail!("expected the {what} on standard input, got nothing");
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

/// Prompts twice on the terminal (no echo) for a new password.
pub(crate) fn prompt_new(prompt: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let first = Zeroizing::new(rpassword::prompt_password(prompt)?);
    let second = Zeroizing::new(rpassword::prompt_password("Repeat: ")?);
    anyhow::ensure!(*first == *second, "the passwords differ");
    Ok(Zeroizing::new(first.as_bytes().to_vec()))
}
