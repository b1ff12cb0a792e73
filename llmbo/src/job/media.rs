//! S3 media and Bedrock's folder rule: a job whose records name media in S3 reads them only
//! from the folder its input names, so each such job gets a folder of its own
//! (`input/<job>/`, its JSONL inside) and every medium outside it is copied in, server-side,
//! as the job's lines are uploaded, or refused ([`S3Media`]).

use std::collections::HashSet;

use serde_json::Value;

use super::config::JobConfig;
use super::record::ShardEntry;
use crate::error::Error;
use crate::media::S3Media;

const LOCATION: &[u8] = b"\"s3Location\"";

/// Moves the media of one job's lines into its folder, each medium once.
pub(crate) struct Relocation<'a> {
    config: &'a JobConfig,
    folder: String,
    copied: HashSet<String>,
}

impl<'a> Relocation<'a> {
    /// The relocation of a job with a folder of its own; `None` for a job of one file.
    pub(crate) fn of(config: &'a JobConfig, entry: &ShardEntry) -> Option<Self> {
        let folder = entry.input_folder.clone()?;
        Some(Relocation {
            config,
            folder,
            copied: HashSet::new(),
        })
    }

    /// Rewrites the lines of `chunk` that name media outside the folder to name their copies
    /// in it, copying each first. Lines without S3 media are kept byte for byte.
    pub(crate) async fn chunk(&mut self, chunk: &mut Vec<u8>) -> Result<(), Error> {
        if memchr::memmem::find(chunk, LOCATION).is_none() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(chunk.len());
        for line in chunk.split_inclusive(|&b| b == b'\n') {
            let Some(moved) = relocated_line(line, &self.folder)? else {
                out.extend_from_slice(line);
                continue;
            };
            let named = |problem: String| Error::InvalidInput {
                record_id: Some(moved.record_id.clone()),
                problem: crate::error::InputProblem::Request(problem),
            };
            for (from, owner, to) in moved.moves {
                if self.config.settings.s3_media == S3Media::Refuse {
                    return Err(named(format!(
                        "its medium {from} is outside its job's input folder {}, the only place \
                         Bedrock reads media from; move it there, or let llmbo copy it \
                         (s3_media(S3Media::Copy))",
                        self.folder
                    )));
                }
                if self.copied.insert(to.clone()) {
                    self.config
                        .backend
                        .copy_media(&from, owner.as_deref(), &to)
                        .await
                        .map_err(|err| match err {
                            Error::InvalidInput {
                                record_id: None,
                                problem,
                            } => Error::InvalidInput {
                                record_id: Some(moved.record_id.clone()),
                                problem,
                            },
                            other => other,
                        })?;
                    tracing::debug!(from = %from, to = %to, "medium copied into the job's folder");
                }
            }
            out.extend_from_slice(&moved.line);
        }
        *chunk = out;
        Ok(())
    }
}

/// A spooled line as its job's input holds it, when it names S3 media outside the job's
/// folder: the line naming the copies, its record, and the copies to make.
pub(crate) struct Relocated {
    pub(crate) line: Vec<u8>,
    pub(crate) record_id: String,
    pub(crate) moves: Vec<(String, Option<String>, String)>,
}

/// The line with every S3 medium outside `folder` pointed at its copy in it (with its
/// newline); `None` when it names none, so it is kept byte for byte. Pure: the upload and the
/// hash of a job's input (which a second handle checks the uploaded object against) agree.
pub(crate) fn relocated_line(line: &[u8], folder: &str) -> Result<Option<Relocated>, Error> {
    if memchr::memmem::find(line, LOCATION).is_none() {
        return Ok(None);
    }
    let mut record: Value =
        serde_json::from_slice(line.trim_ascii_end()).map_err(|err| Error::Internal {
            what: "relocating a record's media",
            reason: format!("a spooled line is not JSON: {err}"),
        })?;
    let mut moves = Vec::new();
    if let Some(body) = record.get_mut("modelInput") {
        relocate(body, folder, &mut moves);
    }
    if moves.is_empty() {
        return Ok(None);
    }
    let record_id = record
        .get("recordId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut line = serde_json::to_vec(&record).map_err(|err| Error::Internal {
        what: "relocating a record's media",
        reason: err.to_string(),
    })?;
    line.push(b'\n');
    Ok(Some(Relocated {
        line,
        record_id,
        moves,
    }))
}

/// The folder a follow-up job's input hash places its media copies in. A follow-up is
/// recorded (by the hash of its requests) before its folder is named, so its hash is of the
/// lines relocated here; [`folder_free`] turns the lines as uploaded back into these.
pub(crate) const ANY_FOLDER: &str = "s3://llmbo-job-folder/";

/// A job input's line as its folder-free hash reads it: each medium copied into `folder` named
/// as if copied into [`ANY_FOLDER`] (what [`relocated_line`] with `ANY_FOLDER` writes).
pub(crate) fn folder_free<'l>(line: &'l [u8], folder: &str) -> std::borrow::Cow<'l, [u8]> {
    if memchr::memmem::find(line, LOCATION).is_none() {
        return std::borrow::Cow::Borrowed(line);
    }
    let from = format!("\"{folder}");
    let to = format!("\"{ANY_FOLDER}");
    let finder = memchr::memmem::Finder::new(from.as_bytes());
    let mut out = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = finder.find(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to.as_bytes());
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    std::borrow::Cow::Owned(out)
}

/// Points every `s3Location` of `value` outside `folder` at its copy in it, noting the moves
/// (`from`, its bucket's owner, `to`). The copy is named by a digest of its source, so two
/// records that name one object share one copy, and two objects never share a name.
fn relocate(value: &mut Value, folder: &str, moves: &mut Vec<(String, Option<String>, String)>) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| relocate(item, folder, moves)),
        Value::Object(map) => {
            if let Some(Value::Object(location)) = map.get_mut("s3Location")
                && let Some(uri) = location.get("uri").and_then(Value::as_str)
                && !in_folder(uri, folder)
            {
                let from = uri.to_owned();
                let owner = location
                    .get("bucketOwner")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let to = format!("{folder}{}", copy_name(&from));
                location.insert("uri".into(), Value::String(to.clone()));
                // The copy is in the run's bucket, whose owner the job's input already names.
                location.remove("bucketOwner");
                moves.push((from, owner, to));
                return;
            }
            map.values_mut()
                .for_each(|item| relocate(item, folder, moves));
        }
        _ => {}
    }
}

/// Whether `uri` is directly in `folder` (`s3://bucket/input/job/`), not in a folder below.
fn in_folder(uri: &str, folder: &str) -> bool {
    uri.strip_prefix(folder)
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// `m-<16 hex of the source's SHA-256>-<its file name>`, the name kept to what S3 keys and
/// Bedrock's formats read well (letters, digits, `.`, `-`, `_`).
fn copy_name(from: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = super::engine::hex(&Sha256::digest(from.as_bytes()));
    let file: String = from
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("m-{}-{file}", digest.get(..16).unwrap_or(&digest))
}

/// Refuses, at prepare, a record whose S3 media cannot be in its job's folder when llmbo may
/// not copy them: under [`S3Media::Refuse`], a medium must already be in
/// `s3://<bucket>/input/<job name>/`.
pub(crate) fn check_refused(
    config: &JobConfig,
    input: &crate::model_input::ModelInput,
) -> Result<(), Error> {
    if config.settings.s3_media != S3Media::Refuse {
        return Ok(());
    }
    let folder = config.url(&crate::layout::job_folder(config.job_name()));
    for part in input.messages.iter().flat_map(|m| &m.parts) {
        if let Some((
            kind,
            crate::media::Media {
                source: crate::media::MediaSource::S3 { uri, .. },
                ..
            },
        )) = part.as_media()
            && !in_folder(uri, &folder)
        {
            return Err(Error::invalid_request(format!(
                "its {kind} {uri} is outside the job's input folder {folder}, the only place \
                 Bedrock reads media from; move it there, or let llmbo copy it \
                 (s3_media(S3Media::Copy))"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn media_outside_the_folder_are_pointed_at_their_copies() {
        let folder = "s3://run/input/job-1/";
        let mut body = json!({"messages": [{"role": "user", "content": [
            {"text": "x"},
            {"document": {"format": "pdf", "name": "a", "source": {"s3Location": {"uri": "s3://docs/in/a b.pdf", "bucketOwner": "111122223333"}}}},
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://run/input/job-1/here.png"}}}},
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://run/input/job-1/below/x.png"}}}},
        ]}]});
        let mut moves = Vec::new();
        relocate(&mut body, folder, &mut moves);
        assert_eq!(moves.len(), 2);
        let (from, owner, to) = &moves[0];
        assert_eq!(from, "s3://docs/in/a b.pdf");
        assert_eq!(owner.as_deref(), Some("111122223333"));
        assert!(
            to.starts_with("s3://run/input/job-1/m-") && to.ends_with("-a_b.pdf"),
            "{to}"
        );
        let content = &body["messages"][0]["content"];
        assert_eq!(
            content[1]["document"]["source"],
            json!({"s3Location": {"uri": to}})
        );
        // Already in the folder: untouched; in a folder below it: moved up.
        assert_eq!(
            content[2]["image"]["source"]["s3Location"]["uri"],
            "s3://run/input/job-1/here.png"
        );
        assert_eq!(moves[1].0, "s3://run/input/job-1/below/x.png");
        // One object, one name; two objects, two names.
        assert_eq!(copy_name("s3://a/x.pdf"), copy_name("s3://a/x.pdf"));
        assert_ne!(copy_name("s3://a/x.pdf"), copy_name("s3://b/x.pdf"));
    }

    #[test]
    fn a_line_as_uploaded_reads_back_as_its_folder_free_form() -> Result<(), Error> {
        let line = json!({"recordId": "r1", "modelInput": {"messages": [{"role": "user", "content": [
            {"text": "see s3://run/input/job-1/ in the text"},
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://docs/a.png", "bucketOwner": "111122223333"}}}},
            {"document": {"format": "pdf", "name": "b", "source": {"s3Location": {"uri": "s3://docs/b.pdf"}}}},
        ]}]}});
        let mut line = serde_json::to_vec(&line).map_err(|e| Error::Internal {
            what: "test",
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        let folder = "s3://run/input/job-1/";
        let uploaded =
            relocated_line(&line, folder)?
                .ok_or("moved")
                .map_err(|e| Error::Internal {
                    what: "test",
                    reason: e.into(),
                })?;
        let hashed = relocated_line(&line, ANY_FOLDER)?
            .ok_or("moved")
            .map_err(|e| Error::Internal {
                what: "test",
                reason: e.into(),
            })?;
        assert_ne!(uploaded.line, hashed.line);
        assert_eq!(
            folder_free(&uploaded.line, folder).as_ref(),
            hashed.line.as_slice()
        );
        // A line without S3 media is itself.
        assert!(matches!(
            folder_free(b"{\"recordId\":\"x\"}\n", folder),
            std::borrow::Cow::Borrowed(_)
        ));
        Ok(())
    }
}
