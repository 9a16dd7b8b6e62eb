//! Writes seed files for the `open` target: small messages sealed to the target's fixed P-256
//! key, so the fuzzer starts from files whose key unwraps and whose GCM tag verifies.
//!
//! Run by `fuzz/seed.sh` as `cargo run --example seal_seeds -- <out dir> [<message file>...]`
//! (a plain build, no fuzzing flags).

use std::path::PathBuf;
use std::{env, fs, process};

use mailcrypt::{PrivateKeyString, seal};

/// The same key as `fuzz_targets/open.rs`: Dovecot's P-256 test key (SPEC §4.3).
const KEY: &str = "2:1.2.840.10045.3.1.7:0:\
    0000002100b6e40903eb9ba19595c201dc0dc8b255dae8bc03f094caac8432b7b3bf080c3b:\
    ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";

fn main() {
    if let Err(e) = run() {
        eprintln!("seal_seeds: {e}");
        process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut args = env::args_os().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: seal_seeds <out dir> [<message>...]")?,
    );
    let key = PrivateKeyString::parse(KEY)
        .and_then(|s| s.unlock())
        .map_err(|e| format!("fixed key: {e}"))?;
    let mut messages: Vec<(String, Vec<u8>)> = vec![
        ("x".into(), b"x".to_vec()),
        ("tiny".into(), b"Subject: hi\r\n\r\nhello\r\n".to_vec()),
    ];
    for path in args {
        let path = PathBuf::from(path);
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map_or_else(|| "message".into(), |s| s.to_string_lossy().into_owned());
        messages.push((name, bytes));
    }
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (name, plain) in messages {
        let sealed = seal(&plain, key.public_key()).map_err(|e| format!("seal {name}: {e}"))?;
        let path = out.join(format!("sealed-fixed-key-{name}"));
        fs::write(&path, sealed).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
