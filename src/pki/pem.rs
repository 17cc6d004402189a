//! A strict PEM splitter: one configuration string may hold several certificates or CRLs, and
//! we want to say exactly which block is bad rather than silently skip it.

use base64::Engine;

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemBlock {
    /// The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE` or `X509 CRL`.
    pub label: String,
    pub der: Vec<u8>,
}

/// Splits `text` into PEM blocks. Text outside blocks (comments, `openssl x509 -text` output) is
/// ignored, as OpenSSL does; an unterminated block, a mismatched END label, encrypted-PEM headers
/// or bad base64 are errors. Returns an error when there is no block at all.
pub(crate) fn parse_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((line_no, line)) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        else {
            continue;
        };
        let end_marker = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            let inner = inner.trim();
            if inner == end_marker {
                closed = true;
                break;
            }
            if inner.starts_with("-----") {
                return Err(format!(
                    "block `{label}` opened on line {} ends with `{inner}`",
                    line_no + 1
                ));
            }
            // RFC 1421 headers (Proc-Type, DEK-Info) mean an encrypted block we cannot use.
            if inner.contains(':') {
                return Err(format!(
                    "block `{label}` has PEM headers (encrypted PEM is not supported)"
                ));
            }
            body.push_str(inner);
        }
        if !closed {
            return Err(format!(
                "block `{label}` opened on line {} is not terminated",
                line_no + 1
            ));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| {
                format!(
                    "block `{label}` opened on line {} is not valid base64: {e}",
                    line_no + 1
                )
            })?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der,
        });
    }
    if blocks.is_empty() {
        return Err("no PEM block found".into());
    }
    Ok(blocks)
}

/// Encodes DER as a PEM block with 64-column lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_errors() {
        let text = format!(
            "comment\n{}{}",
            encode("CERTIFICATE", b"abc"),
            encode("X509 CRL", &[0u8; 100])
        );
        let blocks = parse_blocks(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0],
            PemBlock {
                label: "CERTIFICATE".into(),
                der: b"abc".to_vec()
            }
        );
        assert_eq!(blocks[1].label, "X509 CRL");
        assert!(parse_blocks("nothing here").is_err());
        assert!(parse_blocks("-----BEGIN CERTIFICATE-----\nYWJj\n").is_err());
        assert!(
            parse_blocks("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").is_err()
        );
        assert!(
            parse_blocks("-----BEGIN CERTIFICATE-----\nYWJj\n-----END X509 CRL-----\n").is_err()
        );
    }
}
