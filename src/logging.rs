//! Log formatting shared by `serve` and the admin commands.
//!
//! Values logged come from clients (a `grant_type`, a username, an error description). Written
//! raw, a value holding CR/LF forges a log line. The text format therefore escapes control
//! characters in every field; the JSON format escapes by construction.

use std::fmt::{self, Write as _};

use tracing::field::Field;
use tracing_subscriber::field::{MakeExt, RecordFields};
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::FormatFields;

/// `s` with control characters escaped (`\n`, `\r`, `\t`, others as `\u{..}`), so that one log
/// record is always one line.
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn write_field(w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let text = format!("{value:?}");
    if field.name() == "message" {
        write!(w, "{}", escape_control(&text))
    } else {
        write!(w, "{}={}", field.name(), escape_control(&text))
    }
}

/// The text format's field formatter: `name=value` pairs separated by spaces, control characters
/// escaped.
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    EscapedFields(
        format::debug_fn(
            write_field as fn(&mut Writer<'_>, &Field, &dyn fmt::Debug) -> fmt::Result,
        )
        .delimited(" "),
    )
}

struct EscapedFields<F>(F);

impl<'w, F> FormatFields<'w> for EscapedFields<F>
where
    F: for<'a> FormatFields<'a> + Send + Sync + 'static,
{
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        self.0.format_fields(writer, fields)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn escape_control_table() {
        let rows = [
            ("plain", "plain"),
            ("a\nb", "a\\nb"),
            ("a\r\nb", "a\\r\\nb"),
            ("t\tab", "t\\tab"),
            ("bell\u{7}", "bell\\u{7}"),
            ("é ü", "é ü"),
        ];
        for (input, want) in rows {
            assert_eq!(escape_control(input), want, "{input:?}");
        }
    }

    #[test]
    fn a_value_with_a_newline_cannot_forge_a_log_line() {
        // Issue 8 item 7: a grant_type holding CR/LF used to be written raw.
        let buf = Buffer::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(escaped_fields())
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let forged = "x\n2026-12-02T00:00:00Z  INFO udap_server: admin login succeeded";
            tracing::info!(grant_type = %forged, "token request refused");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.matches('\n').count(), 1, "{out}");
        assert!(out.contains("grant_type=x\\n2026"), "{out}");
    }
}
