//! `.npz` archives as `numpy.savez` writes them (Gemma Scope's `params.npz`): a ZIP of `.npy` members, stored
//! without compression, with ZIP64 extra fields when numpy forces them. Reading checks every offset and size
//! against the file before reading and each member's CRC-32; compressed members (`numpy.savez_compressed`) are
//! refused with the reason. Writing produces a stored ZIP that `numpy.load` reads.

use std::path::Path;

use crate::error::{Error, Result};
use crate::npy::{self, NpyArray};

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        what: path.display().to_string(),
        reason: reason.into(),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
}

/// CRC-32 (IEEE, as ZIP uses it).
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// The members of the `.npz` bytes `b` (read from `path`), in archive order, each `(name without .npy, array)`.
pub fn parse(b: &[u8], path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let short = |what: &str| bad(path, format!("is not a readable .npz archive: {what}"));
    // The end-of-central-directory record is in the last 22 + 65535 bytes.
    let from = b.len().saturating_sub(22 + 65535);
    let eocd = (from..b.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(b, i) == Some(EOCD))
        .ok_or_else(|| short("no end-of-central-directory record (not a ZIP)"))?;
    let mut entries = u16_at(b, eocd + 10).ok_or_else(|| short("truncated end record"))? as u64;
    let mut cd_offset = u32_at(b, eocd + 16).ok_or_else(|| short("truncated end record"))? as u64;
    if entries == 0xFFFF || cd_offset == 0xFFFF_FFFF {
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| u32_at(b, l) == Some(ZIP64_LOCATOR))
            .ok_or_else(|| short("ZIP64 sizes without a ZIP64 locator"))?;
        let z = u64_at(b, loc + 8).ok_or_else(|| short("truncated ZIP64 locator"))? as usize;
        if u32_at(b, z) != Some(ZIP64_EOCD) {
            return Err(short("the ZIP64 locator points at no ZIP64 end record"));
        }
        entries = u64_at(b, z + 32).ok_or_else(|| short("truncated ZIP64 end record"))?;
        cd_offset = u64_at(b, z + 48).ok_or_else(|| short("truncated ZIP64 end record"))?;
    }
    // Each central entry takes at least 46 bytes: a count beyond that is a lie.
    if entries > (b.len() as u64) / 46 {
        return Err(short(&format!(
            "claims {entries} members in {} bytes",
            b.len()
        )));
    }
    let mut out = Vec::with_capacity(entries as usize);
    let mut at =
        usize::try_from(cd_offset).map_err(|_| short("central directory offset out of range"))?;
    for k in 0..entries {
        let entry = |what: &str| short(&format!("member {k}: {what}"));
        if u32_at(b, at) != Some(CENTRAL) {
            return Err(entry("no central directory entry where the archive says"));
        }
        let field16 = |o: usize| u16_at(b, at + o).ok_or_else(|| entry("truncated"));
        let field32 = |o: usize| u32_at(b, at + o).ok_or_else(|| entry("truncated"));
        let method = field16(10)?;
        let crc = field32(16)?;
        let mut size = field32(20)? as u64;
        let name_len = field16(28)? as usize;
        let extra_len = field16(30)? as usize;
        let comment_len = field16(32)? as usize;
        let mut local = field32(42)? as u64;
        let name_bytes = b
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| entry("truncated name"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let extra = b
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(|| entry("truncated extra field"))?;
        // ZIP64 extra: the 64-bit values of the fields that are 0xFFFFFFFF, in order.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (
                u16_at(extra, e).unwrap(),
                u16_at(extra, e + 2).unwrap() as usize,
            );
            if id == 1 {
                let mut f = e + 4;
                let mut next = || {
                    let v = u64_at(extra, f).ok_or_else(|| entry("truncated ZIP64 extra field"));
                    f += 8;
                    v
                };
                if field32(24)? == 0xFFFF_FFFF {
                    next()?; // the uncompressed size, equal to the stored size
                }
                if size == 0xFFFF_FFFF {
                    size = next()?;
                }
                if local == 0xFFFF_FFFF {
                    local = next()?;
                }
            }
            e += 4 + len;
        }
        if method != 0 {
            return Err(bad(
                path,
                format!(
                    "member {name:?} is compressed (method {method}, as numpy.savez_compressed writes); only stored \
                     members are read: re-save it with numpy.savez"
                ),
            ));
        }
        let l = usize::try_from(local).map_err(|_| entry("local header offset out of range"))?;
        if u32_at(b, l) != Some(LOCAL) {
            return Err(entry("no local header where the central directory says"));
        }
        let data_at = l
            + 30
            + u16_at(b, l + 26).ok_or_else(|| entry("truncated"))? as usize
            + u16_at(b, l + 28).ok_or_else(|| entry("truncated"))? as usize;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| data_at.checked_add(s))
            .filter(|&end| end <= b.len())
            .ok_or_else(|| entry(&format!("{name:?} runs past the end of the file")))?;
        let data = &b[data_at..end];
        if crc32(data) != crc {
            return Err(bad(
                path,
                format!("member {name:?} fails its CRC-32 check (corrupt archive)"),
            ));
        }
        let array = npy::parse(data, &path.join(&name))?;
        out.push((
            name.strip_suffix(".npy").unwrap_or(&name).to_string(),
            array,
        ));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// The bytes of a stored `.npz` archive of float32 arrays, `members` as `(name without .npy, data, shape)` in
/// order, as `numpy.savez` would write them (without its ZIP64 extras, which these sizes do not need).
pub fn to_bytes(members: &[(String, Vec<f32>, Vec<usize>)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, shape) in members {
        let npy = npy::to_bytes_f32(data, shape)?;
        let file = format!("{name}.npy");
        let (size, offset) = (u32::try_from(npy.len()), u32::try_from(out.len()));
        let (Ok(size), Ok(offset)) = (size, offset) else {
            return Err(Error::invalid(
                name.clone(),
                "is too large for an archive without ZIP64 (4 GiB)",
            ));
        };
        let crc = crc32(&npy);
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes()); // made by
            }
            h.extend(20u16.to_le_bytes()); // needed: 2.0
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(0u16.to_le_bytes()); // stored
            h.extend(0u16.to_le_bytes()); // time
            h.extend(0x21u16.to_le_bytes()); // date: 1980-01-01
            h.extend(crc.to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend((file.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attributes
                h.extend(0u32.to_le_bytes()); // external attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(file.as_bytes());
            h
        };
        out.extend(header(LOCAL, false));
        out.extend(&npy);
        central.extend(header(CENTRAL, true));
    }
    let cd_offset =
        u32::try_from(out.len()).map_err(|_| Error::invalid("npz", "is larger than 4 GiB"))?;
    out.extend(&central);
    out.extend(EOCD.to_le_bytes());
    out.extend([0u8; 4]); // disk numbers
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // comment
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn written_archives_read_back_and_damage_is_refused() {
        let members = vec![
            (
                "W".to_string(),
                vec![1.0, -2.0, 3.5, 0.0, 5.0, 6.0],
                vec![2, 3],
            ),
            ("b".to_string(), vec![0.5, 0.25], vec![2]),
        ];
        let bytes = to_bytes(&members).unwrap();
        let p = Path::new("x.npz");
        let back = parse(&bytes, p).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, "W");
        assert_eq!(back[0].1.shape, vec![2, 3]);
        assert_eq!(back[1].1.clone().into_f32(p).unwrap(), vec![0.5, 0.25]);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(parse(&bytes[..cut], p).is_err(), "cut {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(parse(&flipped, p)
            .unwrap_err()
            .to_string()
            .contains("CRC-32"));
    }
}
