//! What a document's bytes are, decided by looking at them (never by the
//! client's word): the allowlist of PDF, common images, plain text and
//! office documents. Anything else is refused before it is stored.

use crate::domain::text_enum;

text_enum! {
    /// What a document is.
    pub enum DocumentKind {
        TreatmentPlan = "treatment_plan",
        Assessment = "assessment",
        Consent = "consent",
        LabResult = "lab_result",
        /// A progress report the server rendered (`POST /patients/{id}/reports/progress`).
        ProgressReport = "progress_report",
        Other = "other",
    }
}

text_enum! {
    /// Where a document stands: `pending` until its content is uploaded, then `ready`;
    /// `deleted` is a tombstone (its content is removed); `failed`: the server could not
    /// render it (a filed report whose requester can no longer act for the patient).
    pub enum DocumentStatus {
        Pending = "pending",
        Ready = "ready",
        Deleted = "deleted",
        Failed = "failed",
    }
}

/// Every type [`sniff`] can answer, as downloads declare them.
pub const ALLOWED_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain; charset=utf-8",
    "application/vnd.ms-office",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
];

/// How much of the start of a body the sniffer looks at.
pub const SNIFF_BYTES: usize = 8 * 1024;

const ZIP: &[u8] = b"PK\x03\x04";
const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// The content type of a body that starts with `head` (`complete`: `head`
/// is the whole body), or `None` when it is not on the allowlist.
pub fn sniff(head: &[u8], complete: bool) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if starts(OLE) {
        // Word, Excel and PowerPoint before 2007 share this container.
        Some("application/vnd.ms-office")
    } else if starts(ZIP) {
        office_zip(head)
    } else if is_plain_text(head, complete) {
        Some("text/plain; charset=utf-8")
    } else {
        None
    }
}

/// The file name extension for a sniffed type.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/vnd.ms-office" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/vnd.oasis.opendocument.text" => "odt",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        "application/vnd.oasis.opendocument.presentation" => "odp",
        _ => "txt",
    }
}

/// A ZIP is allowed only as an office document: OpenDocument names its type
/// in a first, uncompressed `mimetype` entry; Office Open XML starts with
/// `[Content_Types].xml` and keeps its parts under `word/`, `xl/` or `ppt/`.
fn office_zip(head: &[u8]) -> Option<&'static str> {
    let u16_at = |at: usize| head.get(at..at + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let name_len = u16_at(26)?;
    let extra_len = u16_at(28)?;
    let name = head.get(30..30 + name_len)?;
    if name == b"mimetype" {
        // Stored uncompressed, its size in the header: exactly the type.
        let size = head.get(18..22).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
        let start = 30 + name_len + extra_len;
        let data = head.get(start..start + size)?;
        const ODF: &[&str] = &[
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
        ];
        return ODF.iter().copied().find(|t| data == t.as_bytes());
    }
    if name != b"[Content_Types].xml" {
        return None;
    }
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if contains(b"word/") {
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    } else if contains(b"xl/") {
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    } else if contains(b"ppt/") {
        Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
    } else {
        None
    }
}

/// UTF-8 text without control characters (tab, line breaks and form feed
/// aside) that is not markup: HTML, SVG and XML are not plain text and are
/// not on the allowlist. A character cut at the end of the sniffed part is
/// fine unless the body ends there.
fn is_plain_text(head: &[u8], complete: bool) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if !complete && e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).expect("valid up to here")
        }
        Err(_) => return false,
    };
    let body = text.trim_start_matches('\u{feff}').trim_start();
    !body.is_empty()
        && !body.starts_with('<')
        && !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_entry(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = ZIP.to_vec();
        out.extend_from_slice(&[0; 14]); // version, flags, method (stored), times, crc
        out.extend_from_slice(&(data.len() as u32).to_le_bytes()); // compressed size
        out.extend_from_slice(&(data.len() as u32).to_le_bytes()); // size
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn the_allowlist_is_decided_by_the_bytes() {
        let docx =
            [zip_entry("[Content_Types].xml", b"<Types/>"), zip_entry("word/document.xml", b"x")].concat();
        let odt = [
            zip_entry("mimetype", b"application/vnd.oasis.opendocument.text"),
            zip_entry("content.xml", b"x"),
        ]
        .concat();
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"%PDF-1.7\n%\xE2\xE3\xCF\xD3", Some("application/pdf")),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some("image/jpeg")),
            (b"GIF89a\x01\0\x01\0", Some("image/gif")),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0", Some("application/vnd.ms-office")),
            (&docx, Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
            (&odt, Some("application/vnd.oasis.opendocument.text")),
            ("Blood panel: normal.\r\nHb 14.1 g/dL – ok\n".as_bytes(), Some("text/plain; charset=utf-8")),
            // Refused: executables, archives, markup, binary noise, nothing.
            (b"MZ\x90\0\x03\0\0\0", None),
            (b"\x7FELF\x02\x01\x01", None),
            (&zip_entry("payload.exe", b"MZ"), None),
            (&zip_entry("mimetype", b"application/vnd.oasis.opendocument.text-template"), None),
            (&zip_entry("[Content_Types].xml", b"<Types/>"), None),
            (b"  <!DOCTYPE html><script>alert(1)</script>", None),
            (b"<svg xmlns='http://www.w3.org/2000/svg' onload='x()'/>", None),
            (b"\xEF\xBB\xBF<?xml version='1.0'?>", None),
            (b"text with a \0 byte", None),
            (b"bell \x07", None),
            (b"\xC3\x28 invalid utf-8", None),
            (b"", None),
            (b"   \n", None),
        ];
        for (head, expected) in cases {
            assert_eq!(sniff(head, true), *expected, "{:?}", String::from_utf8_lossy(head));
            assert!(expected.is_none_or(|t| ALLOWED_TYPES.contains(&t)), "{expected:?} is declared");
        }
    }

    #[test]
    fn a_character_cut_by_the_sniff_window_is_text_only_mid_body() {
        let cut = &"Notes – ".as_bytes()[..8]; // ends inside the dash's three bytes
        assert_eq!(sniff(cut, false), Some("text/plain; charset=utf-8"));
        assert_eq!(sniff(cut, true), None);
    }

    #[test]
    fn every_sniffed_type_has_its_extension() {
        assert_eq!(extension("application/pdf"), "pdf");
        assert_eq!(extension("application/vnd.oasis.opendocument.spreadsheet"), "ods");
        assert_eq!(extension("text/plain; charset=utf-8"), "txt");
    }
}
