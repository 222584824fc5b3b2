//! Argon2 PHC strings (`$argon2id$`, `$argon2i$`, `$argon2d$`) through the `argon2` crate.
//!
//! libxcrypt has no Argon2, so these come from Dovecot (`{ARGON2ID}`), LDAP overlays and
//! application databases. The string is parsed and the cost bounded here, and the hash recomputed
//! with `hash_password_into`, so that the comparison is ours (`subtle`) and the buffers are zeroed.

use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::cost::{Cost, rate};
use super::{Checked, HashError, Scheme};

/// Check `password` against an Argon2 PHC string.
pub(super) fn verify(password: &[u8], stored: &str) -> Result<Checked, HashError> {
    let scheme = if stored.starts_with("$argon2id$") {
        Scheme::Argon2id
    } else if stored.starts_with("$argon2i$") {
        Scheme::Argon2i
    } else if stored.starts_with("$argon2d$") {
        Scheme::Argon2d
    } else {
        return Err(HashError::Unsupported("unknown argon2 variant".to_owned()));
    };
    let malformed = || HashError::malformed(scheme);

    let phc = PasswordHash::new(stored).map_err(|_| malformed())?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|_| malformed())?;
    // A PHC string without `v=` is version 0x10: that is how the reference implementation
    // (libargon2's decode_string) reads it, whereas the crate would assume 0x13.
    let version = match phc.version {
        None => Version::V0x10,
        Some(v) => Version::try_from(v).map_err(|_| malformed())?,
    };
    let params = Params::try_from(&phc).map_err(|_| malformed())?;
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return Err(malformed());
    };

    cost(&params).bound(scheme)?;

    let expected = expected.as_bytes();
    let mut computed = Zeroizing::new(vec![0u8; expected.len()]);
    Argon2::new(algorithm, version, params)
        .hash_password_into(password, salt, &mut computed)
        .map_err(|_| malformed())?;
    let matched: bool = computed.as_slice().ct_eq(expected).into();
    Ok(Checked::new(matched, scheme))
}

/// Passes × memory: every pass fills all `m` KiB once, after the memory is allocated and first
/// touched. Lanes split that memory rather than add
/// to it, and without the crate's `parallel` feature they run one after another, so they add
/// no term of their own (and `m ≥ 8·p` makes many lanes cost memory anyway).
fn cost(params: &Params) -> Cost {
    let bytes = u64::from(params.m_cost()) * 1024;
    Cost::new(bytes, rate::ARGON2_ALLOC_BYTE, bytes).then(Cost::new(
        bytes.saturating_mul(params.t_cost().into()),
        rate::ARGON2_BYTE,
        bytes,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::fixtures::{ARGON2ID, PASSWORD, WRONG};
    use super::*;

    #[test]
    fn libargon2_hash_verifies() {
        assert_eq!(verify(PASSWORD, ARGON2ID).unwrap(), Checked::new(true, Scheme::Argon2id));
        assert_eq!(verify(WRONG, ARGON2ID).unwrap(), Checked::new(false, Scheme::Argon2id));
    }

    #[test]
    fn version_matters() {
        // The same string claiming v=16 computes a different hash: no match, no error.
        let v16 = ARGON2ID.replace("v=19", "v=16");
        assert!(!verify(PASSWORD, &v16).unwrap().matched);
    }

    #[test]
    fn absurd_costs_are_refused() {
        let too_costly = |stored: &str| matches!(verify(PASSWORD, stored), Err(HashError::TooCostly { .. }));
        assert!(too_costly(&ARGON2ID.replace("m=19456", "m=4194304")), "4 GiB");
        assert!(too_costly(&ARGON2ID.replace("t=2", "t=4000")), "4000 passes");
        // Each alone is fine; passes × memory is what costs: 8 passes over 512 MiB.
        assert!(too_costly(&ARGON2ID.replace("m=19456,t=2", "m=524288,t=8")), "passes × memory");
        assert!(cost(&Params::new(524288, 1, 1, None).unwrap()).bound(Scheme::Argon2id).is_ok());
        assert!(cost(&Params::new(19456, 40, 4, None).unwrap()).bound(Scheme::Argon2id).is_ok());
    }

    #[test]
    fn malformed_strings() {
        for stored in [
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ",
            "$argon2id$v=19$m=19456,t=2,p=1$$xY7IlRUjDV8hGuVDdYjQIuK2M5c9IoX5Pz+HU5Gxl3g",
            "$argon2id$v=99$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$xY7IlRUjDV8hGuVDdYjQIuK2M5c9IoX5Pz+HU5Gxl3g",
            "$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$xY7IlRUjDV8hGuVDdYjQIuK2M5c9IoX5Pz+HU5Gxl3g",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$xY7I!",
        ] {
            assert!(matches!(verify(PASSWORD, stored), Err(HashError::Malformed { .. })), "{stored}");
        }
    }

    /// Prints the model beside real timings: `cargo test -p backends --lib argon::tests::calibrate
    /// -- --ignored --nocapture` (compare with crypt_cost's, run in the same breath).
    #[test]
    #[ignore = "a measurement, not a test"]
    fn calibrate() {
        for (m, t) in [(19456, 2), (65536, 3), (262144, 1)] {
            let stored = ARGON2ID.replace("m=19456,t=2", &format!("m={m},t={t}"));
            let start = std::time::Instant::now();
            let _ = verify(PASSWORD, &stored);
            let took = start.elapsed().as_millis();
            let model = cost(&Params::new(m, t, 1, None).unwrap()).millis();
            println!("argon2id m={m:6} t={t}  model {model:6} ms  measured {took:6} ms");
        }
    }
}
