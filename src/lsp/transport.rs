//! JSON-RPC messages over a byte stream, framed by `Content-Length` headers.
//!
//! `lsp-server` brings the message types, but its stdio transport ends the connection
//! at the first malformed message and allocates whatever length a header claims. An
//! editor, or anything that writes to the server's input, may send garbage; the server
//! must answer it and carry on. So this transport reads frames itself: header lines and
//! bodies are bounded ([`MAX_HEADER_LINE`], [`MAX_MESSAGE_BYTES`]), a body that is not
//! JSON gets a "parse error" response and one that is not a JSON-RPC message an
//! "invalid request" (both with a `null` id when none can be read, as JSON-RPC says),
//! and a frame without a usable length is skipped up to the next header.

use std::io::{BufRead, Read, Write};
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

use lsp_server::{ErrorCode, Message};
use serde_json::{json, Value};

/// The longest header line read; longer lines are skipped as malformed.
pub const MAX_HEADER_LINE: u64 = 8 * 1024;

/// The largest message body read: a document of the largest source size
/// ([`crate::package::MAX_SOURCE_BYTES`]), with room for JSON's escapes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 64 * 1024 * 1024;

/// What the reader got from the stream.
#[derive(Debug)]
pub enum Incoming {
    Message(Message),
    /// Input that is no message: the error response to send back.
    Malformed(Value),
    /// The stream ended (or failed).
    Closed,
}

/// What the writer sends.
#[derive(Debug)]
pub enum Outgoing {
    Message(Message),
    /// A response that [`Message`] cannot express: an error whose request id is unknown.
    Raw(Value),
}

/// Reads messages from `input` on a thread of its own and sends each, converted, to
/// `events`; the last is [`Incoming::Closed`]. Reading stops after an `exit`
/// notification, or when `events` is closed.
pub fn spawn_reader<R, E>(input: R, events: Sender<E>) -> std::io::Result<JoinHandle<()>>
where
    R: BufRead + Send + 'static,
    E: From<Incoming> + Send + 'static,
{
    std::thread::Builder::new().name("mandate-lsp-reader".to_string()).spawn(move || {
        let mut input = input;
        loop {
            let incoming = read(&mut input);
            let last = matches!(&incoming, Incoming::Closed)
                || matches!(&incoming, Incoming::Message(Message::Notification(n)) if n.method == "exit");
            if events.send(E::from(incoming)).is_err() || last {
                return;
            }
        }
    })
}

/// Writes what it receives to `output` on a thread of its own, until every sender is
/// dropped; join the handle to know all was written.
pub fn spawn_writer<W: Write + Send + 'static>(output: W) -> std::io::Result<(Sender<Outgoing>, JoinHandle<()>)> {
    let (sender, receiver) = channel::<Outgoing>();
    let handle = std::thread::Builder::new().name("mandate-lsp-writer".to_string()).spawn(move || {
        let mut output = output;
        for outgoing in receiver {
            if write(&mut output, outgoing).is_err() {
                // Nobody reads any more: the rest would be lost as well.
                return;
            }
        }
    })?;
    Ok((sender, handle))
}

/// Writes one message with its header.
pub fn write(output: &mut impl Write, outgoing: Outgoing) -> std::io::Result<()> {
    match outgoing {
        Outgoing::Message(message) => message.write(output),
        Outgoing::Raw(mut value) => {
            if let Some(object) = value.as_object_mut() {
                object.insert("jsonrpc".to_string(), json!("2.0"));
            }
            let text = serde_json::to_string(&value)?;
            write!(output, "Content-Length: {}\r\n\r\n{text}", text.len())?;
            output.flush()
        }
    }
}

/// Reads the next message, or what stands in its place.
pub fn read(input: &mut impl BufRead) -> Incoming {
    loop {
        match read_frame(input) {
            Frame::Body(body) => return decode(&body),
            Frame::Bad(reason) => return Incoming::Malformed(error(Value::Null, ErrorCode::ParseError, &reason)),
            Frame::End => return Incoming::Closed,
            Frame::Empty => continue,
        }
    }
}

enum Frame {
    Body(Vec<u8>),
    Bad(String),
    End,
    /// Blank lines between frames.
    Empty,
}

fn read_frame(input: &mut impl BufRead) -> Frame {
    let mut length: Option<Result<usize, String>> = None;
    let mut headers = 0;
    loop {
        let Some(line) = read_line(input) else { return Frame::End };
        let Ok(line) = line else {
            headers += 1;
            continue;
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        headers += 1;
        // A frame that came without a header ran into the next one's: resynchronise.
        let header = match line.to_ascii_lowercase().find("content-length") {
            Some(at) => line.get(at..).unwrap_or(line),
            None => line,
        };
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().map_err(|error| format!("bad Content-Length: {error}")));
            }
        }
    }
    if headers == 0 {
        return Frame::Empty;
    }
    match length {
        Some(Ok(size)) if size <= MAX_MESSAGE_BYTES => read_body(input, size),
        Some(Ok(size)) => match std::io::copy(&mut input.take(size as u64), &mut std::io::sink()) {
            Ok(skipped) if skipped == size as u64 => {
                Frame::Bad(format!("a message of {size} bytes is longer than the limit of {MAX_MESSAGE_BYTES}"))
            }
            _ => Frame::End,
        },
        Some(Err(reason)) => Frame::Bad(reason),
        None => Frame::Bad("a message without a Content-Length header".to_string()),
    }
}

fn read_body(input: &mut impl BufRead, size: usize) -> Frame {
    let mut body = Vec::new();
    match input.take(size as u64).read_to_end(&mut body) {
        Ok(read) if read == size => Frame::Body(body),
        _ => Frame::End,
    }
}

/// One header line of at most [`MAX_HEADER_LINE`] bytes: `None` at the end of the
/// stream, `Err` for a longer line (skipped) or one that is not text.
fn read_line(input: &mut impl BufRead) -> Option<Result<String, ()>> {
    let mut bytes = Vec::new();
    let read = input.by_ref().take(MAX_HEADER_LINE).read_until(b'\n', &mut bytes).ok()?;
    if read == 0 {
        return None;
    }
    if !bytes.ends_with(b"\n") && read as u64 == MAX_HEADER_LINE {
        input.skip_until(b'\n').ok()?;
        return Some(Err(()));
    }
    Some(String::from_utf8(bytes).map_err(|_| ()))
}

/// A body as a message, or the error response it deserves.
fn decode(body: &[u8]) -> Incoming {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(reason) => return Incoming::Malformed(error(Value::Null, ErrorCode::ParseError, &reason.to_string())),
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    // `lsp-server` reads ids that are 32-bit integers or strings; a request with another
    // id would otherwise pass for a notification and never be answered.
    let readable_id = id.is_null() || id.is_string() || id.as_i64().is_some_and(|id| i32::try_from(id).is_ok());
    if !readable_id {
        return Incoming::Malformed(error(id, ErrorCode::InvalidRequest, "the id is not an integer or a string"));
    }
    match serde_json::from_value::<Message>(value) {
        Ok(message) => Incoming::Message(message),
        Err(reason) => Incoming::Malformed(error(id, ErrorCode::InvalidRequest, &reason.to_string())),
    }
}

/// An error response to a request with id `id` (`null` when unknown).
pub fn error(id: Value, code: ErrorCode, message: &str) -> Value {
    json!({ "id": id, "error": { "code": code as i32, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut reader = std::io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            match read(&mut reader) {
                Incoming::Message(message) => out.push(format!("message {}", serde_json::to_string(&message).unwrap())),
                Incoming::Malformed(error) => out.push(format!("error {}", error["error"]["code"])),
                Incoming::Closed => return out,
            }
        }
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn malformed_input_is_answered_and_reading_goes_on() {
        let input = [
            frame("{not json"),
            frame(r#"[1, 2]"#),
            frame(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            "Content-Length: x\r\n\r\n".to_string(),
            "Content-Length: 99999999999\r\n\r\n".to_string(),
        ]
        .concat();
        let seen = frames(input.as_bytes());
        assert_eq!(seen, ["error -32700", "error -32600", "error -32600", "error -32700"], "then the stream ends");
    }

    #[test]
    fn a_message_without_a_header_is_skipped_up_to_the_next_one() {
        let notification = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = format!("{notification}{}", frame(notification));
        let seen = frames(input.as_bytes());
        assert_eq!(seen, [r#"message {"method":"initialized","params":{}}"#]);
    }

    #[test]
    fn a_truncated_stream_ends_the_connection() {
        assert!(frames(b"Content-Length: 10\r\n\r\n{}").is_empty());
        assert!(frames(b"Content-Len").is_empty());
        assert!(frames(b"").is_empty());
    }

    #[test]
    fn overlong_header_lines_are_skipped() {
        let long = format!("X-Junk: {}\r\n", "a".repeat(100_000));
        let input = format!("{long}{}", frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
        let seen = frames(input.as_bytes());
        assert_eq!(seen.last().map(String::as_str), Some(r#"message {"method":"exit"}"#));
    }
}
