//! `llmbo download` of an embedding run: one vector per input record, in input order, as JSON
//! lines or as one `.npy` matrix (`float32`, one row per record, `NaN` for a record without a
//! vector) with an ids file beside it (`<out>.ids`, one record id per row). Results stream
//! in one job at a time and go to a private temp file, renamed over `--out` once complete.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbo::embedding::Embedding;
use llmbo::mode::Embeddings;
use llmbo::{BatchRun, RecordResult};
use serde_json::json;

use crate::args::OutputFormat;
use crate::context::Failure;
use crate::partial::Partial;
use crate::report::Summary;

/// The `.npy` header's fixed size: room for any row and column count.
const NPY_HEADER: usize = 128;

/// The `.npy` v1.0 header of an `rows × columns` little-endian `float32` matrix, padded to
/// [`NPY_HEADER`] bytes.
fn npy_header(rows: u64, columns: u64) -> Vec<u8> {
    let dict =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    let mut header = Vec::with_capacity(NPY_HEADER);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    let len = (NPY_HEADER - 10) as u16;
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.resize(NPY_HEADER - 1, b' ');
    header.push(b'\n');
    header
}

/// Writes one row per record into a `.npy` matrix and its ids file.
struct NpyWriter {
    matrix: Partial,
    ids: Partial,
    /// The row length, from the first vector.
    columns: Option<usize>,
    rows: u64,
    /// Rows without a vector seen before the row length was known.
    pending_nan: u64,
}

impl NpyWriter {
    fn create(path: &Path) -> Result<Self, Failure> {
        let mut matrix = Partial::create(path)?;
        let header = npy_header(0, 0);
        matrix.file.write_all(&header).map_err(|e| matrix.io(e))?;
        let ids_path = PathBuf::from(format!("{}.ids", path.display()));
        Ok(NpyWriter {
            matrix,
            ids: Partial::create(&ids_path)?,
            columns: None,
            rows: 0,
            pending_nan: 0,
        })
    }

    fn nan_rows(&mut self, count: u64, columns: usize) -> Result<(), Failure> {
        let row: Vec<u8> = f32::NAN.to_le_bytes().repeat(columns);
        for _ in 0..count {
            self.matrix
                .file
                .write_all(&row)
                .map_err(|e| self.matrix.io(e))?;
        }
        Ok(())
    }

    fn write(&mut self, record: &RecordResult<Embedding>) -> Result<bool, Failure> {
        writeln!(self.ids.file, "{}", record.record_id).map_err(|e| self.ids.io(e))?;
        self.rows += 1;
        let vector = record.outcome.as_ref().ok().map(|e| &e.vector);
        match (vector, self.columns) {
            (Some(v), None) => {
                self.columns = Some(v.len());
                self.nan_rows(self.pending_nan, v.len())?;
                self.pending_nan = 0;
                self.row(v)?;
                Ok(true)
            }
            (Some(v), Some(columns)) if v.len() == columns => {
                self.row(v)?;
                Ok(true)
            }
            // A vector of another length cannot be a row of this matrix.
            (Some(_), Some(columns)) | (None, Some(columns)) => {
                self.nan_rows(1, columns)?;
                Ok(vector.is_none())
            }
            (None, None) => {
                self.pending_nan += 1;
                Ok(true)
            }
        }
    }

    fn row(&mut self, v: &[f32]) -> Result<(), Failure> {
        let mut bytes = Vec::with_capacity(v.len() * 4);
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        self.matrix
            .file
            .write_all(&bytes)
            .map_err(|e| self.matrix.io(e))
    }

    fn finish(mut self) -> Result<(), Failure> {
        let columns = self.columns.unwrap_or(0);
        self.nan_rows(self.pending_nan, columns)?;
        let header = npy_header(self.rows, columns as u64);
        let file = &mut self.matrix.file;
        let fixed = file
            .flush()
            .and_then(|()| file.get_mut().seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.get_mut().write_all(&header));
        fixed.map_err(|e| self.matrix.io(e))?;
        self.matrix.commit()?;
        self.ids.commit()
    }
}

/// Streams an embedding run to `out` in `format`; the summary of what was written.
pub async fn download(
    run: BatchRun<Embeddings>,
    out: &Path,
    format: OutputFormat,
) -> Result<(Summary, Vec<String>), Failure> {
    let mut summary = Summary::default();
    let mut stream = run.stream(Duration::from_millis(200));
    match (format, format.table()) {
        (OutputFormat::Jsonl, _) => {
            let mut file = Partial::create(out)?;
            while let Some(record) = stream.next().await {
                let record = record?;
                summary.add_record(&record);
                let line = match &record.outcome {
                    Ok(e) => json!({"recordId": record.record_id, "embedding": e.vector,
                                     "inputTokens": e.input_tokens}),
                    Err(err) => {
                        let mut error = serde_json::to_value(err).unwrap_or_else(|_| json!({}));
                        error["message"] = json!(err.to_string());
                        json!({"recordId": record.record_id, "error": error})
                    }
                };
                let written = serde_json::to_writer(&mut file.file, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| file.file.write_all(b"\n"));
                written.map_err(|e| file.io(e))?;
            }
            file.commit()?;
        }
        (_, Some(table_format)) => {
            let mut table = llmbo::table::ResultTable::create(
                out,
                table_format,
                llmbo::table::TableColumns::embedding(),
            )?;
            while let Some(next) = stream.next_detailed().await {
                let (record, info) = next?;
                summary.add_record(&record);
                table.write(&record, &info)?;
            }
            crate::download::warn_misfits(&table.finish()?);
        }
        // npy: the one format left that is not a table.
        (_, None) => {
            let mut writer = NpyWriter::create(out)?;
            while let Some(record) = stream.next().await {
                let mut record = record?;
                if !writer.write(&record)? {
                    record.outcome = Err(llmbo::RecordError::MalformedOutput {
                        message: "the vector's length differs from the first one's".into(),
                    });
                }
                summary.add_record(&record);
            }
            writer.finish()?;
        }
    }
    let run_summary = stream.summary().unwrap_or_default();
    summary.add_manifest(&run_summary.manifest);
    let failed_jobs = run_summary
        .failed_jobs
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((summary, failed_jobs))
}

#[cfg(test)]
mod tests {
    use super::npy_header;

    #[test]
    fn the_npy_header_is_aligned_and_names_the_shape() {
        let header = npy_header(200_000, 1024);
        assert_eq!(header.len(), 128);
        assert_eq!(&header[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(u16::from_le_bytes([header[8], header[9]]), 118);
        let text = String::from_utf8_lossy(&header[10..]);
        assert!(
            text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (200000, 1024), }")
        );
        assert!(text.ends_with('\n'));
    }
}
