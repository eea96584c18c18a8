//! How log lines write their fields: `key=value` in the value's display form, quoted (with `\"`,
//! `\\`, `\n` escaped) when it is empty or holds a space, a quote or an `=`, so that a line reads
//! as a person expects and splits as a machine expects. Strings are not quoted for being strings.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

pub(crate) struct LogFields;

impl<'writer> FormatFields<'writer> for LogFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut line = Line::default();
        fields.record(&mut line);
        writer.write_str(&line.render())
    }
}

/// The message first, then each field in the order written.
#[derive(Default)]
struct Line {
    message: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl Line {
    fn render(&self) -> String {
        let mut out = self.message.clone().unwrap_or_default();
        for (name, value) in &self.fields {
            if !out.is_empty() {
                out.push(' ');
            }
            let name = name.strip_prefix("r#").unwrap_or(name);
            let _ = write!(out, "{name}={}", quoted_if_needed(value));
        }
        out
    }

    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, value.to_string());
    }

    /// `%value` arrives here as its Display form, integers and booleans as themselves; only a
    /// `?value` written on purpose shows a debug form.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

pub(crate) fn quoted_if_needed(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_spaces_quotes_or_nothing_are_quoted() {
        assert_eq!(quoted_if_needed("imap:support"), "imap:support");
        assert_eq!(quoted_if_needed("no sender"), "\"no sender\"");
        assert_eq!(quoted_if_needed(""), "\"\"");
        assert_eq!(quoted_if_needed("a=b"), "\"a=b\"");
        assert_eq!(quoted_if_needed("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(quoted_if_needed("tab\there"), "\"tab\\there\"");
    }

    #[test]
    fn a_logged_line_shows_display_forms_message_first() {
        use tracing_subscriber::layer::SubscriberExt;
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(LogFields)
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .with_writer(move || Sink(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("mailbox", name = "support desk");
            let _entered = span.enter();
            let ticket: Option<u64> = Some(12);
            let none: Option<u64> = None;
            let error = std::io::Error::other("connection reset by peer");
            tracing::warn!(ticket, none, source = "imap:support", %error, attempts = 3, "mail not stored");
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text.trim(),
            "WARN mailbox{name=\"support desk\"}: mail not stored ticket=12 source=imap:support \
             error=\"connection reset by peer\" attempts=3"
        );
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
