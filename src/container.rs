//! The `.lmz` container, version 2: a checksummed header, a chunk index, then the payloads.
//!
//! Byte layout (all integers little-endian; `varint` is unsigned LEB128), see `docs/FORMAT.md`:
//!
//! ```text
//! magic        4   89 4C 4D 5A  ("\x89LMZ")
//! version      1   2 (1 is read too: its model chunks were coded in cold windows)
//! header_len   4   length of the header body below
//! body             codec name   1 + n   (ASCII, 1..=32 bytes)
//!                  model flag   1       0 = none, 1 = model follows
//!                  model name   1 + n   (only with flag 1)
//!                  model sha256 32      (only with flag 1)
//!                  original_len varint
//!                  chunk_size   varint  (≥ 1)
//!                  chunk lens   varint × ceil(original_len / chunk_size)
//!                  original_crc 4       CRC-32 of the original bytes
//!                  payload_crc  4       CRC-32 of all payload bytes
//! header_crc   4   CRC-32 of magic..body
//! payloads         the chunks' coded bytes, back to back
//! ```
//!
//! Every field is validated; each kind of damage maps to its own [`ContainerError`].

/// The four bytes every `.lmz` starts with (a high byte first, like PNG, to catch text-mode damage).
pub const MAGIC: [u8; 4] = [0x89, b'L', b'M', b'Z'];
/// The format version this build writes. Version 2 changed no field: its model chunks (`lm-*`)
/// slide their windows ([`crate::codecs::lm::Windows`]); version 1 files still decode.
pub const VERSION: u8 = 2;
/// The oldest format version this build reads.
pub const MIN_VERSION: u8 = 1;
/// Codec name for chunks kept verbatim (used when coding would expand the data).
pub const STORED: &str = "stored";

const FIXED_PREFIX: usize = 4 + 1 + 4;
const MAX_NAME: usize = 32;
/// Header bodies above this are refused before any allocation (1 GiB of 2 KiB chunks fits).
const MAX_HEADER: usize = 8 << 20;

/// Which model a container's chunks were coded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelId {
    /// Human-readable name, e.g. `lm-200k`.
    pub name: String,
    /// SHA-256 of the exported weights file.
    pub sha256: [u8; 32],
}

impl ModelId {
    /// The hash as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Everything the header records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version the file was written in ([`VERSION`] for new files).
    pub version: u8,
    /// Codec that coded every chunk (`stored`, `brotli`, `lm-200k`, …).
    pub codec: String,
    /// The model, for model-based codecs.
    pub model: Option<ModelId>,
    /// Length of the original data in bytes.
    pub original_len: u64,
    /// Bytes of original data per chunk (the last chunk may be shorter).
    pub chunk_size: u64,
    /// Coded length of each chunk.
    pub chunk_lens: Vec<u64>,
    /// CRC-32 of the original data, checked after decoding.
    pub original_crc: u32,
}

impl Header {
    /// Number of chunks implied by the original length and chunk size.
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.original_len, self.chunk_size)
    }

    /// Coded bytes of all chunks (the header's reader checked that the sum fits).
    pub fn payload_len(&self) -> u64 {
        self.chunk_lens
            .iter()
            .fold(0u64, |a, &l| a.saturating_add(l))
    }

    /// Original length of chunk `i`.
    pub fn chunk_original_len(&self, i: usize) -> usize {
        let start = i as u64 * self.chunk_size;
        (self.original_len - start).min(self.chunk_size) as usize
    }
}

fn chunk_count(len: u64, chunk_size: u64) -> u64 {
    if chunk_size == 0 {
        0
    } else {
        len.div_ceil(chunk_size)
    }
}

/// A parsed container: its header and one payload slice per chunk.
#[derive(Debug)]
pub struct Container<'a> {
    /// The validated header.
    pub header: Header,
    /// Coded bytes of each chunk, in order.
    pub chunks: Vec<&'a [u8]>,
}

/// Everything that can be wrong with a `.lmz` file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Not an `.lmz` file at all.
    #[error("not an .lmz file (bad magic bytes)")]
    BadMagic,
    /// A version this build cannot read.
    #[error(
        ".lmz format version {found} is not supported (this build reads versions {MIN_VERSION} to {VERSION})"
    )]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The file ends before a field or payload it declares.
    #[error(
        "the file is truncated: {what} from byte {at} needs {needed} bytes, only {have} remain"
    )]
    Truncated {
        /// The part that is cut off.
        what: &'static str,
        /// Where that part starts in the file.
        at: u64,
        /// Bytes that part needs.
        needed: u64,
        /// Bytes that remain.
        have: u64,
    },
    /// The header's checksum does not match (a damaged header).
    #[error("the header is corrupted (checksum mismatch)")]
    HeaderCorrupt,
    /// The payload's checksum does not match (damaged compressed data).
    #[error("the compressed data (bytes {from} to {to}) is corrupted (checksum mismatch)")]
    PayloadCorrupt {
        /// First byte of the payloads in the file.
        from: u64,
        /// One past their last byte.
        to: u64,
    },
    /// A header field holds an impossible value although its checksum matched.
    #[error("invalid header field {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Bytes follow the last payload.
    #[error("{extra} unexpected bytes after the last chunk")]
    TrailingData {
        /// How many.
        extra: u64,
    },
}

/// Writes a container from a header (whose `chunk_lens` must match `chunks`) and the payloads.
pub fn write(header: &Header, chunks: &[Vec<u8>]) -> Vec<u8> {
    assert_eq!(
        header.chunk_count(),
        chunks.len() as u64,
        "chunk count must match the header"
    );
    debug_assert!(header
        .chunk_lens
        .iter()
        .zip(chunks)
        .all(|(&l, c)| l == c.len() as u64));
    let mut payload_crc = crc32fast::Hasher::new();
    for c in chunks {
        payload_crc.update(c);
    }
    let mut out = header_bytes(header, payload_crc.finalize());
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

/// Size in bytes of everything [`write`] puts before the payloads.
pub fn header_size(header: &Header) -> usize {
    header_bytes(header, 0).len()
}

/// Everything before the payloads, given their checksum: what a writer that streams the
/// payloads (and learns their lengths as it goes) writes once they are done.
pub fn header_bytes(header: &Header, payload_crc: u32) -> Vec<u8> {
    let mut body = Vec::new();
    put_name(&mut body, &header.codec);
    match &header.model {
        None => body.push(0),
        Some(m) => {
            body.push(1);
            put_name(&mut body, &m.name);
            body.extend_from_slice(&m.sha256);
        }
    }
    put_varint(&mut body, header.original_len);
    put_varint(&mut body, header.chunk_size);
    for &l in &header.chunk_lens {
        put_varint(&mut body, l);
    }
    body.extend_from_slice(&header.original_crc.to_le_bytes());
    body.extend_from_slice(&payload_crc.to_le_bytes());

    let mut out = Vec::with_capacity(FIXED_PREFIX + body.len() + 4);
    out.extend_from_slice(&MAGIC);
    debug_assert!((MIN_VERSION..=VERSION).contains(&header.version));
    out.push(header.version);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// True when `bytes` starts like an `.lmz` file.
pub fn looks_like_lmz(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Parses and validates a container.
/// Parses and checks the header at the start of `bytes` (the payloads may follow, or not yet
/// be read): the header, the payloads' checksum, and where the payloads start.
pub fn read_header(bytes: &[u8]) -> Result<(Header, u32, usize), ContainerError> {
    let end = header_len(bytes)?;
    let header_end = end - 4;
    if bytes.len() < end {
        return Err(ContainerError::Truncated {
            what: "the header",
            at: FIXED_PREFIX as u64,
            needed: (end - FIXED_PREFIX) as u64,
            have: (bytes.len() - FIXED_PREFIX) as u64,
        });
    }
    let stored_crc = u32::from_le_bytes(
        bytes[header_end..header_end + 4]
            .try_into()
            .expect("slice of 4 bytes"),
    );
    if crc32fast::hash(&bytes[..header_end]) != stored_crc {
        return Err(ContainerError::HeaderCorrupt);
    }

    let mut r = Reader {
        buf: &bytes[FIXED_PREFIX..header_end],
        pos: 0,
    };
    let codec = r.name("codec")?;
    let model = match r.u8("model flag")? {
        0 => None,
        1 => {
            let name = r.name("model name")?;
            let sha256 = r.take("model sha256", 32)?.try_into().expect("32 bytes");
            Some(ModelId { name, sha256 })
        }
        _ => {
            return Err(ContainerError::Invalid {
                field: "model flag",
                reason: "must be 0 or 1",
            })
        }
    };
    let original_len = r.varint("original length")?;
    let chunk_size = r.varint("chunk size")?;
    if chunk_size == 0 {
        return Err(ContainerError::Invalid {
            field: "chunk size",
            reason: "must be at least 1",
        });
    }
    let n = chunk_count(original_len, chunk_size);
    // Each chunk length takes at least one header byte: bound n before allocating.
    if n > (r.buf.len() - r.pos) as u64 {
        return Err(ContainerError::Invalid {
            field: "chunk index",
            reason: "more chunks than the header holds",
        });
    }
    let mut chunk_lens = Vec::with_capacity(n as usize);
    for _ in 0..n {
        chunk_lens.push(r.varint("chunk length")?);
    }
    let original_crc = r.u32("original checksum")?;
    let payload_crc = r.u32("payload checksum")?;
    if r.pos != r.buf.len() {
        return Err(ContainerError::Invalid {
            field: "header length",
            reason: "bytes left over after the last field",
        });
    }
    if chunk_lens
        .iter()
        .try_fold(0u64, |a, &l| a.checked_add(l))
        .is_none()
    {
        return Err(ContainerError::Invalid {
            field: "chunk index",
            reason: "lengths overflow",
        });
    }

    Ok((
        Header {
            version: bytes[4],
            codec,
            model,
            original_len,
            chunk_size,
            chunk_lens,
            original_crc,
        },
        payload_crc,
        header_end + 4,
    ))
}

/// How many bytes a header that starts with `prefix` (at least [`FIXED_PREFIX_LEN`] bytes)
/// takes in all, checksum included; the magic, version and size are checked.
pub fn header_len(prefix: &[u8]) -> Result<usize, ContainerError> {
    check_prefix(prefix)?;
    let body_len = u32::from_le_bytes([prefix[5], prefix[6], prefix[7], prefix[8]]) as usize;
    if body_len > MAX_HEADER {
        return Err(ContainerError::HeaderCorrupt);
    }
    Ok(FIXED_PREFIX + body_len + 4)
}

/// Bytes a reader needs before [`header_len`] can tell the header's length.
pub const FIXED_PREFIX_LEN: usize = FIXED_PREFIX;

fn check_prefix(bytes: &[u8]) -> Result<(), ContainerError> {
    if bytes.is_empty() {
        return Err(ContainerError::Empty);
    }
    if !bytes.starts_with(&MAGIC[..bytes.len().min(4)]) {
        return Err(ContainerError::BadMagic);
    }
    if bytes.len() < FIXED_PREFIX {
        return Err(ContainerError::Truncated {
            what: "the fixed header",
            at: 0,
            needed: FIXED_PREFIX as u64,
            have: bytes.len() as u64,
        });
    }
    if !(MIN_VERSION..=VERSION).contains(&bytes[4]) {
        return Err(ContainerError::UnsupportedVersion { found: bytes[4] });
    }
    Ok(())
}

pub fn read(bytes: &[u8]) -> Result<Container<'_>, ContainerError> {
    let (header, payload_crc, start) = read_header(bytes)?;
    let payload = &bytes[start..];
    let total = header.payload_len();
    if (payload.len() as u64) < total {
        return Err(ContainerError::Truncated {
            what: "the compressed data",
            at: start as u64,
            needed: total,
            have: payload.len() as u64,
        });
    }
    if payload.len() as u64 > total {
        return Err(ContainerError::TrailingData {
            extra: payload.len() as u64 - total,
        });
    }
    if crc32fast::hash(payload) != payload_crc {
        return Err(ContainerError::PayloadCorrupt {
            from: start as u64,
            to: bytes.len() as u64,
        });
    }
    let mut chunks = Vec::with_capacity(header.chunk_lens.len());
    let mut at = 0usize;
    for &l in &header.chunk_lens {
        chunks.push(&payload[at..at + l as usize]);
        at += l as usize;
    }
    Ok(Container { header, chunks })
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let bytes = &name.as_bytes()[..name.len().min(MAX_NAME)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], ContainerError> {
        if self.buf.len() - self.pos < n {
            return Err(ContainerError::Invalid {
                field,
                reason: "runs past the end of the header",
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ContainerError> {
        Ok(self.take(field, 1)?[0])
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ContainerError> {
        Ok(u32::from_le_bytes(
            self.take(field, 4)?.try_into().expect("4 bytes"),
        ))
    }

    fn varint(&mut self, field: &'static str) -> Result<u64, ContainerError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8(field)?;
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ContainerError::Invalid {
            field,
            reason: "varint longer than 10 bytes",
        })
    }

    fn name(&mut self, field: &'static str) -> Result<String, ContainerError> {
        let n = self.u8(field)? as usize;
        if n == 0 || n > MAX_NAME {
            return Err(ContainerError::Invalid {
                field,
                reason: "name must be 1 to 32 bytes",
            });
        }
        let raw = self.take(field, n)?;
        if !raw.iter().all(|b| b.is_ascii_graphic()) {
            return Err(ContainerError::Invalid {
                field,
                reason: "name must be printable ASCII",
            });
        }
        Ok(String::from_utf8_lossy(raw).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let chunks = vec![b"hello".to_vec(), b"world!".to_vec(), b"x".to_vec()];
        let header = Header {
            version: VERSION,
            codec: "brotli".into(),
            model: Some(ModelId {
                name: "lm-200k".into(),
                sha256: [7; 32],
            }),
            original_len: 5000,
            chunk_size: 2048,
            chunk_lens: chunks.iter().map(|c| c.len() as u64).collect(),
            original_crc: 0xDEAD_BEEF,
        };
        let out = write(&header, &chunks);
        assert_eq!(header_size(&header) + 12, out.len());
        out
    }

    #[test]
    fn roundtrip() {
        let bytes = sample();
        let c = read(&bytes).unwrap();
        assert_eq!(c.header.codec, "brotli");
        assert_eq!(c.header.model.as_ref().unwrap().name, "lm-200k");
        assert_eq!(c.header.chunk_count(), 3);
        assert_eq!(c.header.chunk_original_len(2), 5000 - 4096);
        assert_eq!(c.chunks, vec![&b"hello"[..], b"world!", b"x"]);
    }

    #[test]
    fn each_damage_has_its_own_error() {
        let good = sample();
        assert_eq!(read(&[]).unwrap_err(), ContainerError::Empty);
        assert_eq!(
            read(b"PK\x03\x04zip").unwrap_err(),
            ContainerError::BadMagic
        );
        for version in [0, VERSION + 1] {
            let mut other = good.clone();
            other[4] = version;
            assert_eq!(
                read(&other).unwrap_err(),
                ContainerError::UnsupportedVersion { found: version }
            );
        }
        for cut in [3usize, 8, 20, good.len() - 1] {
            assert!(
                matches!(
                    read(&good[..cut]).unwrap_err(),
                    ContainerError::Truncated { .. }
                ),
                "cut at {cut}"
            );
        }
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(
            read(&extra).unwrap_err(),
            ContainerError::TrailingData { extra: 1 }
        );
        // Every single-bit flip anywhere is caught, never accepted.
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                let err = read(&bad).unwrap_err();
                if i >= good.len() - 12 {
                    assert!(
                        matches!(err, ContainerError::PayloadCorrupt { .. }),
                        "byte {i} bit {bit}"
                    );
                } else if i >= 9 {
                    assert_eq!(err, ContainerError::HeaderCorrupt, "byte {i} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn empty_original_has_no_chunks() {
        let header = Header {
            version: VERSION,
            codec: STORED.into(),
            model: None,
            original_len: 0,
            chunk_size: 1,
            chunk_lens: vec![],
            original_crc: 0,
        };
        let bytes = write(&header, &[]);
        let c = read(&bytes).unwrap();
        assert!(c.chunks.is_empty());
        assert!(looks_like_lmz(&bytes));
    }
}
