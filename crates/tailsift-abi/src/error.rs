//! [`DecodeError`]: why a buffer was refused, with messages that say what was wrong.

use core::fmt;

use crate::layout::{Section, ALIGN, HEADER_LEN, SECTION_COUNT, VERSION};

/// Why a buffer was refused by [`TraceBuf::parse`](crate::TraceBuf::parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends before its header does.
    Truncated {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
    /// The buffer does not start with the magic bytes `TSTV`.
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// The buffer is of a format version this decoder does not read.
    UnsupportedVersion {
        /// The buffer's version.
        found: u16,
        /// The version this decoder reads.
        supported: u16,
    },
    /// The header's length or section count is not the one its version defines.
    BadHeader {
        /// The header length the buffer states.
        header_len: u16,
        /// The section count the buffer states.
        section_count: u32,
    },
    /// A section starts inside the header or ends past the end of the buffer.
    SectionOutOfBounds {
        /// The section.
        section: Section,
        /// Its stated byte offset.
        offset: u32,
        /// Its stated element count.
        count: u32,
        /// The buffer's length.
        len: usize,
    },
    /// A section does not start on an 8-byte boundary.
    Misaligned {
        /// The section.
        section: Section,
        /// Its stated byte offset.
        offset: u32,
    },
    /// A section does not have the number of elements the others imply (one per span, ...).
    CountMismatch {
        /// The section.
        section: Section,
        /// The count the other sections imply.
        expected: u64,
        /// The section's stated count.
        found: u32,
    },
    /// Offsets or ranges in a section go backwards or past the end of the data they index.
    BadOffsets {
        /// The section.
        section: Section,
        /// The first bad element.
        index: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { needed, len } => write!(
                f,
                "trace buffer truncated: its header needs {needed} bytes, the buffer has {len}"
            ),
            DecodeError::BadMagic { found } => write!(
                f,
                "not a tailsift trace buffer: it starts with {found:02x?}, expected the magic \"TSTV\""
            ),
            DecodeError::UnsupportedVersion { found, supported } => write!(
                f,
                "trace buffer format version {found} is not supported: this decoder reads version \
                 {supported} only; build the policy against the tailsift-abi of the host"
            ),
            DecodeError::BadHeader {
                header_len,
                section_count,
            } => write!(
                f,
                "trace buffer header malformed: it states a {header_len}-byte header and \
                 {section_count} sections, version {VERSION} has {HEADER_LEN} and {SECTION_COUNT}"
            ),
            DecodeError::SectionOutOfBounds {
                section,
                offset,
                count,
                len,
            } => write!(
                f,
                "trace buffer section '{}' ({count} elements at byte {offset}) is not inside the \
                 buffer's data (header {HEADER_LEN} bytes, buffer {len} bytes)",
                section.name()
            ),
            DecodeError::Misaligned { section, offset } => write!(
                f,
                "trace buffer section '{}' starts at byte {offset}, which is not a multiple of \
                 {ALIGN}",
                section.name()
            ),
            DecodeError::CountMismatch {
                section,
                expected,
                found,
            } => write!(
                f,
                "trace buffer section '{}' has {found} elements, expected {expected}",
                section.name()
            ),
            DecodeError::BadOffsets { section, index } => write!(
                f,
                "trace buffer section '{}': element {index} goes backwards or past the end of \
                 the data it indexes",
                section.name()
            ),
        }
    }
}

impl core::error::Error for DecodeError {}
