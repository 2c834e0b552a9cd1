//! The Lambda zip, made by the binary from itself: the rotgen binary *is* the rotation
//! function, so where it can run on Lambda as it is (Linux, the function's architecture,
//! glibc no newer than Amazon Linux 2023's), `rotgen build --package` and `rotgen package`
//! write it as `bootstrap` into a zip. No I/O here: the caller reads the binary and writes
//! the zip (the output module).

/// The newest glibc Lambda's `provided.al2023` runtime has.
pub const LAMBDA_GLIBC: (u32, u32) = (2, 34);

/// The architecture of this binary, as Lambda names it (`arm64`, `x86_64`), if Lambda has it.
pub fn host_architecture() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("x86_64"),
        "aarch64" => Some("arm64"),
        _ => None,
    }
}

/// Why this binary cannot be the function's code, if it cannot: `elf` is the binary
/// itself, `architecture` the function's.
pub fn check_runs_on_lambda(elf: &[u8], architecture: &str) -> Result<(), String> {
    const BUILD_ELSEWHERE: &str = "build the zip with scripts/package.sh in a checkout of rotgen (it cross-compiles), and give its path or s3:// URL as function.code";
    if !cfg!(target_os = "linux") {
        return Err(format!(
            "this rotgen runs on {}, and Lambda runs Linux binaries; {BUILD_ELSEWHERE}",
            std::env::consts::OS
        ));
    }
    match host_architecture() {
        Some(a) if a == architecture => {}
        Some(a) => {
            return Err(format!(
                "this rotgen is built for {a} and the function is {architecture}; set function.architecture = \"{a}\", or {BUILD_ELSEWHERE}"
            ));
        }
        None => {
            return Err(format!(
                "this rotgen is built for {}, which Lambda does not run; {BUILD_ELSEWHERE}",
                std::env::consts::ARCH
            ));
        }
    }
    // Lambda's quota on a function's unzipped code.
    const LAMBDA_UNZIPPED: usize = 250 * 1024 * 1024;
    if elf.len() > LAMBDA_UNZIPPED {
        return Err(format!(
            "this rotgen binary is {} MB, over Lambda's 250 MB for unzipped code (a debug build?); use a release build, which `cargo install` makes",
            elf.len() / 1_000_000
        ));
    }
    match glibc_needed(elf)? {
        Some(v) if v > LAMBDA_GLIBC => Err(format!(
            "this rotgen needs glibc {}.{}, newer than Amazon Linux 2023's {}.{} (it was built on a newer Linux); install it with `cargo install --locked rotgen --target {}-unknown-linux-musl`, or {BUILD_ELSEWHERE}",
            v.0,
            v.1,
            LAMBDA_GLIBC.0,
            LAMBDA_GLIBC.1,
            std::env::consts::ARCH,
        )),
        _ => Ok(()),
    }
}

/// The newest `GLIBC_x.y` symbol version an ELF binary needs (`None`: it needs none, as a
/// static binary). Reads the ELF64 little-endian `.gnu.version_r` section.
pub fn glibc_needed(elf: &[u8]) -> Result<Option<(u32, u32)>, String> {
    let bad = || "this rotgen binary is not an ELF64 little-endian file it can read".to_string();
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err(bad());
    }
    // Readers at `base + offset`: none past the end, and no arithmetic overflow on
    // offsets the file itself gives.
    let bytes = |base: usize, offset: usize, n: usize| -> Option<&[u8]> {
        let start = base.checked_add(offset)?;
        elf.get(start..start.checked_add(n)?)
    };
    let u16_at = |o: usize| -> Option<usize> {
        Some(u16::from_le_bytes(bytes(o, 0, 2)?.try_into().ok()?) as usize)
    };
    let u32_in = |base: usize, offset: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes(base, offset, 4)?.try_into().ok()?) as usize)
    };
    let u64_in = |base: usize, offset: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(bytes(base, offset, 8)?.try_into().ok()?)).ok()
    };
    let u64_at = |o: usize| u64_in(o, 0);

    let shoff = u64_at(0x28).ok_or_else(bad)?;
    let shentsize = u16_at(0x3A).ok_or_else(bad)?;
    let shnum = u16_at(0x3C).ok_or_else(bad)?;
    if shentsize < 64 {
        return Err(bad());
    }
    let section = |i: usize| -> Option<(usize, usize, usize, usize, usize)> {
        let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
        // (type, offset, size, link, info)
        Some((
            u32_in(h, 4)?,
            u64_in(h, 24)?,
            u64_in(h, 32)?,
            u32_in(h, 40)?,
            u32_in(h, 44)?,
        ))
    };
    const SHT_GNU_VERNEED: usize = 0x6fff_fffe;
    let mut newest: Option<(u32, u32)> = None;
    for i in 0..shnum {
        let Some((kind, offset, _, link, count)) = section(i) else {
            return Err(bad());
        };
        if kind != SHT_GNU_VERNEED {
            continue;
        }
        let (_, strings, strings_size, _, _) = section(link).ok_or_else(bad)?;
        let name_at = |o: usize| -> Option<&[u8]> {
            let start = strings.checked_add(o)?;
            let end = strings.checked_add(strings_size)?.min(elf.len());
            let rest = elf.get(start..end)?;
            Some(&rest[..rest.iter().position(|b| *b == 0)?])
        };
        let mut need = offset;
        for _ in 0..count.min(4096) {
            let aux_count = need.checked_add(2).and_then(u16_at).ok_or_else(bad)?;
            let mut aux = need
                .checked_add(u32_in(need, 8).ok_or_else(bad)?)
                .ok_or_else(bad)?;
            for _ in 0..aux_count.min(4096) {
                let name = name_at(u32_in(aux, 8).ok_or_else(bad)?).ok_or_else(bad)?;
                if let Some(v) = name.strip_prefix(b"GLIBC_").and_then(parse_version) {
                    newest = newest.max(Some(v));
                }
                let next = u32_in(aux, 12).ok_or_else(bad)?;
                if next == 0 {
                    break;
                }
                aux = aux.checked_add(next).ok_or_else(bad)?;
            }
            let next = u32_in(need, 12).ok_or_else(bad)?;
            if next == 0 {
                break;
            }
            need = need.checked_add(next).ok_or_else(bad)?;
        }
    }
    Ok(newest)
}

/// `2.34` → (2, 34); `PRIVATE` and the like → none.
fn parse_version(v: &[u8]) -> Option<(u32, u32)> {
    let v = std::str::from_utf8(v).ok()?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// A zip holding one executable file `name` (mode 0755), deflated, with a fixed
/// timestamp: the same input gives the same bytes.
pub fn zip_executable(name: &str, data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 6);
    let crc = crc32(data);
    let name = name.as_bytes();
    let size = u32::try_from(data.len()).expect("a Lambda zip is far below 4 GiB");
    let packed = u32::try_from(deflated.len()).expect("a Lambda zip is far below 4 GiB");
    // 1980-01-01 00:00, the earliest DOS date.
    const DOS_TIME: u16 = 0;
    const DOS_DATE: u16 = (1 << 5) | 1;
    let mut out = Vec::with_capacity(deflated.len() + 128);
    let common = |out: &mut Vec<u8>| {
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0 (deflate)
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&8u16.to_le_bytes()); // method: deflate
        out.extend_from_slice(&DOS_TIME.to_le_bytes());
        out.extend_from_slice(&DOS_DATE.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&packed.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    // Local file header, then the data.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(&mut out);
    out.extend_from_slice(name);
    out.extend_from_slice(&deflated);
    // Central directory: made by Unix (3), so the external attributes carry the mode.
    let central = out.len() as u32;
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
    common(&mut out);
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out.extend_from_slice(&0u16.to_le_bytes()); // disk number
    out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    out.extend_from_slice(&((0o100_755u32) << 16).to_le_bytes()); // -rwxr-xr-x
    out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name);
    let central_size = out.len() as u32 - central;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A short name for `bytes` that changes with them (16 hex digits of FNV-1a and CRC-32):
/// an S3 key that a new version of the zip never reuses.
pub fn content_id(bytes: &[u8]) -> String {
    let fnv = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!(
        "{:08x}{:08x}",
        (fnv >> 32) as u32 ^ fnv as u32,
        crc32(bytes)
    )
}

/// CRC-32 (IEEE), as zip uses it.
fn crc32(data: &[u8]) -> u32 {
    let table: [u32; 256] = std::array::from_fn(|i| {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        c
    });
    !data.iter().fold(!0u32, |c, b| {
        table[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn this_test_binary_reads_as_elf() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            let v = glibc_needed(&me)
                .unwrap()
                .expect("a glibc binary needs glibc");
            assert!(v >= (2, 2), "{v:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"\x7fELF", b"\x7fELF\x02\x01\x01", &[0xff; 200]] {
            assert!(glibc_needed(junk).is_err());
        }
        // A header pointing past the end.
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        assert!(glibc_needed(&elf).is_err());
    }

    /// Random section tables and version records never panic the reader.
    #[test]
    fn hostile_headers_are_errors_or_answers_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = 64 + (next() % 2048) as usize;
            let mut elf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
            // Mostly in-range section tables, sometimes wild ones.
            let shoff = if next() % 4 == 0 {
                next()
            } else {
                64 + next() % 512
            };
            elf[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
            elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
            elf[0x3C..0x3E].copy_from_slice(&((next() % 24) as u16).to_le_bytes());
            // Sometimes make one section a version-needs table.
            if next() % 2 == 0 && shoff < len as u64 - 64 {
                let h = shoff as usize;
                elf[h + 4..h + 8].copy_from_slice(&0x6fff_fffeu32.to_le_bytes());
            }
            let _ = glibc_needed(&elf);
        }
    }

    #[test]
    fn the_zip_is_deterministic() {
        let a = zip_executable("bootstrap", b"#!/bin/sh\necho hi\n");
        assert_eq!(a, zip_executable("bootstrap", b"#!/bin/sh\necho hi\n"));
        assert_eq!(&a[..4], b"PK\x03\x04");
    }
}
