//! OpenSSL MPI encoding of a private scalar (SPEC §1.6; `BN_bn2mpi` / `BN_mpi2bn`).

use zeroize::Zeroizing;

/// `u32be len ‖ magnitude`, magnitude minimal big-endian with a `00` prepended when the top bit
/// is set.
pub(crate) fn encode(scalar_be: &[u8]) -> Zeroizing<Vec<u8>> {
    let first = scalar_be
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(scalar_be.len());
    let digits = scalar_be.get(first..).unwrap_or_default();
    let pad = digits.first().is_some_and(|b| b & 0x80 != 0);
    let len = digits.len() + usize::from(pad);
    let mut out = Zeroizing::new(Vec::with_capacity(4 + len));
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

/// The magnitude of an MPI whose length prefix matches exactly and which is not negative;
/// `None` otherwise (this is how a wrong password usually shows, SPEC §4.5).
pub(crate) fn decode(mpi: &[u8]) -> Option<&[u8]> {
    let (len, rest) = mpi.split_first_chunk::<4>()?;
    if usize::try_from(u32::from_be_bytes(*len)).ok()? != rest.len() {
        return None;
    }
    if rest.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_top_bit_and_strips_zeros() {
        assert_eq!(&encode(&[0, 0, 0x80, 1])[..], &[0, 0, 0, 3, 0, 0x80, 1]);
        assert_eq!(&encode(&[0, 0x7f])[..], &[0, 0, 0, 1, 0x7f]);
        assert_eq!(decode(&[0, 0, 0, 3, 0, 0x80, 1]), Some(&[0, 0x80, 1][..]));
        assert_eq!(decode(&[0, 0, 0, 2, 0x80, 1]), None, "negative");
        assert_eq!(decode(&[0, 0, 0, 3, 0x80, 1]), None, "length mismatch");
        assert_eq!(decode(&[0, 0, 0]), None);
    }
}
