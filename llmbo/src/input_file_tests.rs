//! Unit tests of `input_file.rs`.

use serde_json::json;

use super::*;

fn problems(text: &[u8]) -> Vec<(usize, String)> {
    match read_input(text, "f.jsonl") {
        Err(Error::InvalidInput {
            problem: crate::error::InputProblem::File(found),
            ..
        }) => found
            .problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect(),
        other => panic!("expected bad input, got {other:?}"),
    }
}

#[test]
fn every_form_of_line_is_read() -> Result<(), Box<dyn std::error::Error>> {
    let text = [
        json!({"recordId": "p", "prompt": "hi", "system": "be brief", "max_tokens": 9, "stop_sequences": ["x"]}),
        json!({"recordId": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
        json!({"recordId": "b", "modelInput": {"inputText": "raw"}}),
    ]
    .map(|v| v.to_string())
    .join("\n\n  \n");
    let records = read_input(text.as_bytes(), "f.jsonl")?;
    let ids: Vec<&str> = records.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["p", "m", "b"]);
    let prompt = &records[0].1;
    assert_eq!(prompt.messages[0].content, "hi");
    assert_eq!(
        (prompt.system.as_deref(), prompt.max_tokens),
        (Some("be brief"), Some(9))
    );
    assert_eq!(prompt.stop_sequences, ["x"]);
    assert_eq!(records[1].1.messages.len(), 3);
    assert_eq!(records[2].1.raw_body, Some(json!({"inputText": "raw"})));
    Ok(())
}

#[test]
fn each_bad_line_is_named_and_the_rest_still_checked() {
    let mut text = Vec::new();
    text.extend_from_slice(b"{\"recordId\": \"a\", \"prompt\": \"x\"}\n");
    text.extend_from_slice(b"{\"recordId\": 7, \"prompt\": \"x\"}\n");
    text.extend_from_slice(b"{\"recordId\": \"\", \"prompt\": \"x\"}\n");
    text.extend_from_slice(b"{\"recordId\": \"c\", \"prompt\": \"x\", \"messages\": []}\n");
    text.extend_from_slice(b"{\"recordId\": \"d\", \"modelInput\": {}, \"temperature\": 1}\n");
    text.extend_from_slice(b"{\"recordId\": \"e\", \"prompt\": \"x\", \"top_p\": 2}\n");
    text.extend_from_slice(b"\xff\xfe\n");
    text.extend_from_slice(b"[1, 2]\n");
    let found = problems(&text);
    let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8]);
    assert!(
        found[0].1.contains("`recordId` must be a string"),
        "{found:?}"
    );
    assert!(found[1].1.contains("it is empty"), "{found:?}");
    assert!(found[2].1.contains("not both"), "{found:?}");
    assert!(found[3].1.contains("inside the body"), "{found:?}");
    assert!(found[4].1.contains("top_p 2 is outside"), "{found:?}");
    assert_eq!(found[5].1, "is not UTF-8 text");
    assert_eq!(found[6].1, "a line must be a JSON object");
}

#[test]
fn many_bad_lines_are_counted_not_all_listed() {
    let text = "nope\n".repeat(MAX_PROBLEMS + 7);
    let Err(Error::InvalidInput {
        problem: crate::error::InputProblem::File(found),
        ..
    }) = read_input(text.as_bytes(), "big.jsonl")
    else {
        panic!("bad input expected");
    };
    assert_eq!((found.problems.len(), found.more), (MAX_PROBLEMS, 7));
    let shown = found.to_string();
    assert!(shown.starts_with("big.jsonl has 57 bad lines"), "{shown}");
    assert!(shown.ends_with("… and 7 more"), "{shown}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = read_input_file("/nonexistent/in.jsonl").unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/in.jsonl"),
        "{err}"
    );
}

/// A byte-order mark before the first line (files written on Windows) is not part of the
/// record; one anywhere else is, and is refused as it would be.
#[test]
fn a_byte_order_mark_before_the_first_line_is_skipped() -> Result<(), Box<dyn std::error::Error>> {
    let text = b"\xEF\xBB\xBF{\"recordId\": \"a\", \"prompt\": \"Hi\"}\r\n{\"recordId\": \"b\", \"prompt\": \"Ho\"}\n";
    let records = read_input(&text[..], "f.jsonl")?;
    let ids: Vec<&str> = records.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bom.jsonl");
    std::fs::write(&path, text)?;
    let file = InputFile::check(&path)?;
    assert_eq!(file.records(), 2);
    let read: Vec<String> = file.read()?.map(|(id, _)| id).collect();
    assert_eq!(read, ["a", "b"]);
    let late = b"{\"recordId\": \"a\", \"prompt\": \"Hi\"}\n\xEF\xBB\xBF{\"recordId\": \"b\", \"prompt\": \"Ho\"}\n";
    assert_eq!(problems(late).iter().map(|p| p.0).collect::<Vec<_>>(), [2]);
    Ok(())
}

/// A line over the limit is refused by its number, and the lines after it are still read
/// and checked.
#[test]
fn a_line_over_the_limit_is_refused_by_number() {
    let mut text =
        b"{\"recordId\": \"a\", \"prompt\": \"Hi\"}\n{\"recordId\": \"big\", \"prompt\": \""
            .to_vec();
    text.resize(text.len() + MAX_LINE_BYTES + 10, b'x');
    text.extend_from_slice(b"\"}\n{\"recordId\": \"c\", \"prompt\": \"Hi\"}\nnot json\n");
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, 2);
    assert!(found[0].1.contains("over the limit"), "{}", found[0].1);
    assert_eq!(found[1].0, 4, "the line after is still read");
    // The same line last in the file, without a newline: refused, and the reading ends.
    let mut text = b"{\"recordId\": \"a\", \"prompt\": \"Hi\"}\n".to_vec();
    text.resize(text.len() + MAX_LINE_BYTES + 10, b'x');
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 2);
    // Exactly at the limit, the line is read (and is then only a record too large).
    let mut text = b"{\"recordId\": \"a\", \"prompt\": \"".to_vec();
    text.resize(MAX_LINE_BYTES - 2, b'x');
    text.extend_from_slice(b"\"}");
    assert_eq!(text.len(), MAX_LINE_BYTES);
    assert!(read_input(&text[..], "f.jsonl").is_ok());
}

#[test]
fn a_line_names_its_documents_and_images_as_parts() -> Result<(), Box<dyn std::error::Error>> {
    let text = json!({"recordId": "inv", "messages": [{"role": "user", "parts": [
        {"text": "Extract the invoice."},
        {"document": {"file": "invoices/0042.pdf"}},
        {"image": {"s3": {"uri": "s3://archive/0042.png"}}},
        {"image": {"bytes": "iVBORw0KGgo="}}
    ]}]})
    .to_string();
    let records = read_input(text.as_bytes(), "f.jsonl")?;
    let parts = &records[0].1.messages[0].parts;
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0].as_text(), Some("Extract the invoice."));
    assert_eq!(
        parts[1],
        crate::media::Part::document_file("invoices/0042.pdf")
    );
    assert_eq!(
        parts[2],
        crate::media::Part::image_s3("s3://archive/0042.png")
    );
    assert_eq!(
        parts[3],
        crate::media::Part::image(b"\x89PNG\r\n\x1a\n".to_vec())
    );
    Ok(())
}
