//! Fixtures from the real `doveadm pw` and libxcrypt, and a round trip through `doveadm pw -t`.

use std::process::Command;

use super::*;

/// The password every fixture below was made with.
const PW: &[u8] = "pä55 word!".as_bytes();
const WRONG: &[u8] = b"pa55 word!";

// `doveadm pw -s SCHEME -p 'pä55 word!'`, Dovecot 2.3.19.1 (Debian 12).
const DOVEADM: &[(Scheme, &str)] = &[
    (
        Scheme::BlfCrypt,
        "{BLF-CRYPT}$2y$05$uRzwtpNpfaJJm1M7zPhxjeQletTgWZHVRbnX/cZGFrzMiaMk0Cs62",
    ),
    (
        Scheme::Sha512Crypt,
        "{SHA512-CRYPT}$6$XcP3rSZRhD/TLuDx$BH1hkoudZQi12AqN2Mfvju9AQoIHwtQs147egPxkNkpArUL02zJ/KPoRR7dK.9zs1.9FpPViLjrhJ8Opie4NA.",
    ),
    // `doveadm pw -s SHA512-CRYPT -r 10000`
    (
        Scheme::Sha512Crypt,
        "{SHA512-CRYPT}$6$rounds=10000$lrSyY/PpzcLLQ.P/$drXCM7OHoaOYWZIvWYzQKagtZ92a4BKzC5AaDe4bMk7DdGTLhtmFjX60foVFterEDK4SRcJEqHKG96L/7ymiU/",
    ),
    (
        Scheme::Sha256Crypt,
        "{SHA256-CRYPT}$5$34qFxQFVLP4QwZkX$0Bk1jWs9PiOkmXDdb6o7WxN8fqpYw07V.mwGxErE.v6",
    ),
    (
        Scheme::Argon2id,
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$td43OCpfK+0RX1JCYdJcew$B3lttvMCO6NHxrAEDCjk5RFlX0Ns2LHTXyw23l3R5zg",
    ),
    (
        Scheme::Argon2i,
        "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$c5VWTEH4Omh7GxAHHOf2wA$NR32eXkZ+JMh/BvhnzwIlUWeL1VKi9fkW81tPVVsuZw",
    ),
    (
        Scheme::Ssha512,
        "{SSHA512}ONGpnt7OO91QiB+3N4W+9fvX24e16QDuVmHtqfe4DvpAJuUABmYVD20vqxzSpPQC6hnxll5PQaWljnIRDYYS5t0Ab0c=",
    ),
    (
        Scheme::Sha512,
        "{SHA512}GTKO42u0FaznzdKnVohyWtsWzhvfjXrTVTdjXEqGKcAHfA59+PrFyVXuGf40Hj5TbK89SEBrckuPJ6XnzZcmrQ==",
    ),
    (
        Scheme::Ssha256,
        "{SSHA256}qXJNLHQB7ESbVKCAxcsqdGqCzBUTCTFe1kdfzzvv8rV7hEpJ",
    ),
    (
        Scheme::Sha256,
        "{SHA256}G1K3V46jNHnQ9pkLqXKSYhBP988NLmEGhi4nNW3yIF8=",
    ),
    (Scheme::Plain, "{PLAIN}pä55 word!"),
    (Scheme::Plain, "{CLEAR}pä55 word!"),
    // Explicit encodings: `doveadm pw -s SSHA512.HEX` etc.
    (
        Scheme::Ssha512,
        "{SSHA512.HEX}0e50c1ee862b7f8e4be996e1f37f0354fef62290a675ae4b89271849364e20eeda55217e82a0d63f0f133c0cc76d8a0c1c78bc02893b4fa32db942d44082d30ff22603e2",
    ),
    (
        Scheme::Ssha256,
        "{SSHA256.HEX}2d24c808fb83c802cb83f066b079c61c0444211a70775f31c8c39120c6d8037ce02e64c4",
    ),
    (
        Scheme::Sha512,
        "{SHA512.HEX}19328ee36bb415ace7cdd2a75688725adb16ce1bdf8d7ad35537635c4a8629c0077c0e7df8fac5c955ee19fe341e3e536caf3d48406b724b8f27a5e7cd9726ad",
    ),
    (
        Scheme::Sha512,
        "{SHA512.b64}GTKO42u0FaznzdKnVohyWtsWzhvfjXrTVTdjXEqGKcAHfA59+PrFyVXuGf40Hj5TbK89SEBrckuPJ6XnzZcmrQ==",
    ),
    (Scheme::Plain, "{PLAIN.B64}cMOkNTUgd29yZCE="),
    (Scheme::Plain, "{PLAIN.HEX}70c3a4353520776f726421"),
    // Unsuffixed hex, which Dovecot recognises by its length (`doveadm pw -t` says
    // "(verified)" for both).
    (
        Scheme::Sha512,
        "{SHA512}19328ee36bb415ace7cdd2a75688725adb16ce1bdf8d7ad35537635c4a8629c0077c0e7df8fac5c955ee19fe341e3e536caf3d48406b724b8f27a5e7cd9726ad",
    ),
    (
        Scheme::Sha256,
        "{SHA256}1b52b7578ea33479d0f6990ba9729262104ff7cf0d2e6106862e27356df2205f",
    ),
];

// crypt(3) strings made by libxcrypt (Debian 12) for the same password, each checked with
// `doveadm pw -t '{CRYPT}…' -p 'pä55 word!'` → "(verified)".
const LIBXCRYPT: &[&str] = &[
    "$2a$06$I3lnCdZeAyPtCBQe1A6Wxe4hXt.mudF7X.aFJb/VC3yCXa6JjybFe",
    "$2b$06$ufnG8a/CYxA/G5Af2C8f2epSNVklcGJ5c7CFAgWxZeU6qbTR0CiWm",
    "$6$rounds=6000$saltsaltsaltsalt$0AspI3T0/BroogQIchEQxvRgx5MrgOFrMYGIjrDMYY71nP7uyPBzsqt1Qzr8gpx7NGLo9nJm.r.Y7d8UDTlbf0",
];

#[test]
fn doveadm_fixtures_verify_right_and_reject_wrong() {
    for (scheme, stored) in DOVEADM {
        assert_eq!(
            check(stored, Scheme::BlfCrypt).unwrap(),
            *scheme,
            "{stored}"
        );
        assert!(
            verify(stored, PW).unwrap(),
            "right password rejected: {stored}"
        );
        assert!(
            !verify(stored, WRONG).unwrap(),
            "wrong password accepted: {stored}"
        );
        assert!(
            !verify(stored, b"").unwrap(),
            "empty password accepted: {stored}"
        );
    }
}

#[test]
fn libxcrypt_fixtures_verify_with_every_crypt_prefix_and_without() {
    for hash in LIBXCRYPT {
        for prefix in ["{CRYPT}", "{SHA512-CRYPT}", "{SHA256-CRYPT}", ""] {
            let stored = format!("{prefix}{hash}");
            assert!(verify(&stored, PW).unwrap(), "{stored}");
            assert!(!verify(&stored, WRONG).unwrap(), "{stored}");
        }
    }
    let bcrypt_only = format!("{{BLF-CRYPT}}{}", LIBXCRYPT[0]);
    assert!(verify(&bcrypt_only, PW).unwrap());
}

#[test]
fn unprefixed_values_use_the_default_or_describe_themselves() {
    for (_, stored) in DOVEADM {
        let Some((_, payload)) = split_prefix(stored) else {
            continue;
        };
        if payload.starts_with('$') {
            // Self-describing: works whatever the (non-PLAIN) default.
            for default in [Scheme::BlfCrypt, Scheme::Sha512Crypt, Scheme::Sha256] {
                assert!(
                    verify_with_default(payload, PW, default).unwrap(),
                    "{payload}"
                );
                assert!(!verify_with_default(payload, WRONG, default).unwrap());
            }
        }
    }
    let ssha = "ONGpnt7OO91QiB+3N4W+9fvX24e16QDuVmHtqfe4DvpAJuUABmYVD20vqxzSpPQC6hnxll5PQaWljnIRDYYS5t0Ab0c=";
    assert!(verify_with_default(ssha, PW, Scheme::Ssha512).unwrap());
    assert!(verify_with_default("pä55 word!", PW, Scheme::Plain).unwrap());
    // With PLAIN as the default, a password that looks like a hash is just a password.
    assert!(verify_with_default("$6$abc$def", b"$6$abc$def", Scheme::Plain).unwrap());
    // An unprefixed non-bcrypt value under the ISPmail default is a malformed BLF-CRYPT.
    assert!(matches!(
        verify("plaintext", PW),
        Err(SchemeError::Malformed {
            scheme: Scheme::BlfCrypt,
            ..
        })
    ));
}

#[test]
fn blf_crypt_refuses_sha_crypt_payload_like_dovecot() {
    // doveadm: "Password is not blowfish password".
    let stored = "{BLF-CRYPT}$6$XcP3rSZRhD/TLuDx$BH1hkoudZQi12AqN2Mfvju9AQoIHwtQs147egPxkNkpArUL02zJ/KPoRR7dK.9zs1.9FpPViLjrhJ8Opie4NA.";
    assert!(matches!(
        verify(stored, PW),
        Err(SchemeError::Malformed { .. })
    ));
}

#[test]
fn scheme_names_are_case_insensitive() {
    assert!(
        verify(
            "{blf-crypt}$2y$05$uRzwtpNpfaJJm1M7zPhxjeQletTgWZHVRbnX/cZGFrzMiaMk0Cs62",
            PW
        )
        .unwrap()
    );
    assert!(verify("{sha256}G1K3V46jNHnQ9pkLqXKSYhBP988NLmEGhi4nNW3yIF8=", PW).unwrap());
    assert_eq!("cleartext".parse::<Scheme>().unwrap(), Scheme::Plain);
    for scheme in Scheme::ALL {
        assert_eq!(scheme.name().parse::<Scheme>().unwrap(), scheme);
    }
}

#[test]
fn unknown_schemes_say_which_work() {
    for stored in [
        "{MD5-CRYPT}$1$abc$def",
        "$1$abcdefgh$0123456789012345678901",
        "{PBKDF2}$1$x$y",
        "{SHA256.ROT13}abc",
        "{CRYPT}$y$j9T$abc$def",
        "{CRYPT}abcdefghijklm",
        "{BLF-CRYPT}$2x$05$uRzwtpNpfaJJm1M7zPhxjeQletTgWZHVRbnX/cZGFrzMiaMk0Cs62",
    ] {
        let err = verify(stored, PW).unwrap_err();
        assert!(
            matches!(err, SchemeError::Unsupported(_)),
            "{stored}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("{BLF-CRYPT}") && text.contains("{ARGON2ID}"),
            "{text}"
        );
    }
    assert!(matches!(
        "NTLM".parse::<Scheme>(),
        Err(SchemeError::Unsupported(name)) if name == "NTLM"
    ));
}

#[test]
fn malformed_payloads_are_errors_not_mismatches() {
    for stored in [
        "{SHA256}not base64!",
        "{SHA256}AAAA",
        "{SHA512.HEX}zz",
        "{SSHA256}qXJNLHQB7ESbVKCAxcsqdGqCzBUTCTFe1kdfzzvv8rU=",
        "{BLF-CRYPT}$2y$05$short",
        "{BLF-CRYPT}$2y$99$uRzwtpNpfaJJm1M7zPhxjeQletTgWZHVRbnX/cZGFrzMiaMk0Cs62",
        "{SHA512-CRYPT}$6$salt",
        "{SHA512-CRYPT}$6$rounds=10$salt$BH1hkoudZQi12AqN2Mfvju9AQoIHwtQs147egPxkNkpArUL02zJ/KPoRR7dK.9zs1.9FpPViLjrhJ8Opie4NA.",
        "{ARGON2ID}$argon2id$garbage",
        "{ARGON2ID}$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
    ] {
        let err = verify(stored, PW).unwrap_err();
        assert!(
            matches!(err, SchemeError::Malformed { .. }),
            "{stored}: {err:?}"
        );
        assert!(check(stored, Scheme::BlfCrypt).is_err(), "{stored}");
    }
}

#[test]
fn generated_hashes_verify_here() {
    for scheme in [Scheme::BlfCrypt, Scheme::Argon2id] {
        let stored = hash(scheme, PW).unwrap();
        assert!(
            stored.starts_with(&format!("{{{}}}", scheme.name())),
            "{stored}"
        );
        assert_eq!(check(&stored, Scheme::Plain).unwrap(), scheme);
        assert!(verify(&stored, PW).unwrap());
        assert!(!verify(&stored, WRONG).unwrap());
    }
    let blf = hash(Scheme::BlfCrypt, PW).unwrap();
    assert!(blf.starts_with("{BLF-CRYPT}$2y$11$"), "{blf}");
    let argon = hash(Scheme::Argon2id, PW).unwrap();
    assert!(
        argon.starts_with("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"),
        "{argon}"
    );
    assert!(matches!(
        hash(Scheme::Sha512Crypt, PW),
        Err(SchemeError::CannotGenerate(Scheme::Sha512Crypt))
    ));
}

/// Dovecot itself must accept what tresor writes. CI installs Dovecot, so a missing
/// `doveadm` is a failure, not a skip.
#[test]
fn doveadm_verifies_generated_hashes() {
    let password = "pä55 word!";
    for scheme in [Scheme::BlfCrypt, Scheme::Argon2id] {
        let stored = hash(scheme, password.as_bytes()).unwrap();
        let out = Command::new("doveadm")
            .args(["pw", "-t", &stored, "-p", password])
            .output()
            .expect("doveadm not found on PATH: install dovecot-core (CI does)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("(verified)"),
            "doveadm rejected {stored}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("doveadm")
            .args(["pw", "-t", &stored, "-p", "wrong"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "doveadm accepted a wrong password");
    }
}
