//! Parsers of untrusted bytes (`.npy`, gauge files) never panic: on random bytes, on truncations and on
//! single-byte mutations of valid files they return a value or a typed error.

use std::path::Path;

use gauge_core::gauge_file::{self, GaugeMeta};
use gauge_core::{npy, Gauge, RandomOptions};
use proptest::prelude::*;

fn valid_npy() -> Vec<u8> {
    npy::to_bytes_f32(&[1.0, -2.0, 3.0, 4.5, 0.0, 7.0], &[2, 3]).unwrap()
}

fn valid_gauge_file() -> Vec<u8> {
    let g = Gauge::random(12, &RandomOptions::default()).unwrap();
    gauge_file::to_bytes(&g, &GaugeMeta::default()).unwrap()
}

fn parse_both(bytes: &[u8]) {
    let p = Path::new("fuzz.bin");
    let _ = npy::parse(bytes, p);
    let _ = gauge_file::from_bytes(bytes, p);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_both(&bytes);
    }

    #[test]
    fn mutated_npy(pos in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        let mut b = valid_npy();
        let k = pos % b.len();
        b[k] = byte;
        parse_both(&b);
        b.truncate(cut.min(b.len()));
        parse_both(&b);
    }

    #[test]
    fn mutated_gauge_file(pos in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut b = valid_gauge_file();
        let k = pos % b.len();
        b[k] = byte;
        if let Ok((g, _)) = gauge_file::from_bytes(&b, Path::new("m")) {
            // Whatever parses is a valid gauge.
            prop_assert!(Gauge::from_parts(g.perm().to_vec(), g.sign().to_vec(), "m").is_ok());
        }
        b.truncate(cut.min(b.len()));
        parse_both(&b);
    }
}

#[test]
fn npy_header_claiming_a_huge_shape_is_an_error_not_an_allocation() {
    let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    let e = npy::parse(&b, Path::new("huge.npy")).unwrap_err();
    assert_eq!(e.code(), "NPY_FORMAT");
}
