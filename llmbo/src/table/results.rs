//! Results written to a table as they come: one row per input record, in the order written,
//! a batch of rows at a time, through a temporary file renamed into place at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::Serialize;
use serde_json::Value;

use super::TableFormat;
use super::columns::{Kind, Misfits, array};
use crate::embedding::Embedding;
use crate::error::{Error, RecordError};
use crate::job::RecordInfo;
use crate::output::{BatchOutput, RecordResult};

/// Rows held before they are written as one batch.
const BATCH_ROWS: usize = 8_192;

/// Rows of a Parquet row group: a few batches, so a reader can skip and a writer stays flat.
const ROW_GROUP_ROWS: usize = 65_536;

/// The columns llmbo writes beside the answer's, after them, in this order.
pub const RECORD_COLUMNS: [&str; 6] = [
    "outcome",
    "error",
    "input_tokens",
    "output_tokens",
    "attempts",
    "on_demand",
];

/// What the answers of a run become in a table: its fields as columns (a derived type, a
/// JSON schema), the answer whole as JSON text, or an embedding's vector.
///
/// ```
/// use llmbo::table::TableColumns;
///
/// /// A person.
/// #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// struct Person { name: String, age: Option<u32>, tags: Vec<String> }
///
/// let columns = TableColumns::of::<Person>();
/// assert_eq!(columns.names(), ["id", "name", "age", "tags", "outcome", "error",
///     "input_tokens", "output_tokens", "attempts", "on_demand"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumns {
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// An object: each property a column.
    Fields(Vec<(String, Kind)>),
    /// The whole value in one column.
    One(String, Kind),
}

impl TableColumns {
    /// The columns of a derived output type: each field of `T` a typed column (see
    /// [`from_schema`](Self::from_schema)). A type answered through one tool per variant is
    /// one `value` column of JSON text.
    pub fn of<T: BatchOutput>() -> TableColumns {
        let tools = T::tool_definitions();
        match tools.as_slice() {
            [tool] => TableColumns::from_schema(&tool.input_schema),
            _ => TableColumns {
                shape: Shape::One("value".into(), Kind::Json),
            },
        }
    }

    /// The columns of answers to a JSON schema (a tool's input schema, a `--schema` file): an
    /// object's properties each a column, typed as the [module](super) says; any other
    /// schema, one `value` column.
    pub fn from_schema(schema: &Value) -> TableColumns {
        let shape = match Kind::of(schema) {
            Kind::Struct(fields) => Shape::Fields(fields),
            kind => Shape::One("value".into(), kind),
        };
        TableColumns { shape }
    }

    /// Untyped answers (the model's whole output): one `output` column of JSON text.
    pub fn output() -> TableColumns {
        TableColumns {
            shape: Shape::One("output".into(), Kind::Json),
        }
    }

    /// Embeddings: one `embedding` column, a `FixedSizeList<Float32>` as long as the first
    /// vector (rows are held until one comes); a vector of another length is a null.
    pub fn embedding() -> TableColumns {
        TableColumns {
            shape: Shape::One("embedding".into(), Kind::Vector(0)),
        }
    }

    fn vector_length_unknown(&self) -> bool {
        matches!(&self.shape, Shape::One(_, Kind::Vector(0)))
    }

    fn set_vector_length(&mut self, length: usize) {
        if let Shape::One(_, kind @ Kind::Vector(_)) = &mut self.shape {
            *kind = Kind::Vector(i32::try_from(length.max(1)).unwrap_or(i32::MAX));
        }
    }

    /// The answer's columns named `prefix` + the field's name, for an output type whose
    /// fields share names with llmbo's own columns (`id`, `outcome`, `error`, …).
    pub fn with_prefix(mut self, prefix: &str) -> TableColumns {
        match &mut self.shape {
            Shape::Fields(fields) => {
                for (name, _) in fields {
                    name.insert_str(0, prefix);
                }
            }
            Shape::One(name, _) => name.insert_str(0, prefix),
        }
        self
    }

    /// Every column's name, in order: `id`, the answer's, then [`RECORD_COLUMNS`].
    pub fn names(&self) -> Vec<String> {
        let mut names = vec!["id".to_owned()];
        names.extend(self.value_columns().map(|(name, _)| name.to_owned()));
        names.extend(RECORD_COLUMNS.iter().map(|name| (*name).to_owned()));
        names
    }

    fn value_columns(&self) -> Box<dyn Iterator<Item = (&str, &Kind)> + '_> {
        match &self.shape {
            Shape::Fields(fields) => Box::new(fields.iter().map(|(n, k)| (n.as_str(), k))),
            Shape::One(name, kind) => Box::new(std::iter::once((name.as_str(), kind))),
        }
    }

    /// The Arrow schema of the table.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new("id", DataType::Utf8, false)];
        fields.extend(
            self.value_columns()
                .map(|(name, kind)| Field::new(name, kind.data_type(), true)),
        );
        fields.extend([
            Field::new("outcome", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
            Field::new("input_tokens", DataType::UInt64, true),
            Field::new("output_tokens", DataType::UInt64, true),
            Field::new("attempts", DataType::UInt32, false),
            Field::new("on_demand", DataType::Boolean, false),
        ]);
        Arc::new(Schema::new(fields))
    }

    /// A name used twice (an answer's field called `error`, say), if any.
    fn clash(&self) -> Option<String> {
        let names = self.names();
        let mut seen = std::collections::HashSet::new();
        names.into_iter().find(|name| !seen.insert(name.clone()))
    }
}

/// What a value of a run becomes in a row: the JSON of a serde type, an embedding's vector.
pub trait TableValue {
    /// The value as JSON, in the shape its [`TableColumns`] read.
    fn table_value(&self) -> Result<Value, String>;
}

impl<T: Serialize> TableValue for T {
    fn table_value(&self) -> Result<Value, String> {
        serde_json::to_value(self).map_err(|err| err.to_string())
    }
}

impl TableValue for Embedding {
    fn table_value(&self) -> Result<Value, String> {
        Ok(Value::Array(
            self.vector
                .iter()
                .map(|x| Value::from(f64::from(*x)))
                .collect(),
        ))
    }
}

/// One row, held until its batch is written.
struct Row {
    id: String,
    value: Option<Value>,
    outcome: &'static str,
    error: Option<String>,
    info: RecordInfo,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableSummary {
    /// Rows written, one per record.
    pub rows: usize,
    /// Rows with a value.
    pub ok: usize,
    /// Values of another type than their column (written as nulls): a model's answer that
    /// was not checked against the schema, say. The typed results of a derived type have none.
    pub misfits: usize,
    /// The first such value, by column.
    pub first_misfit: Option<String>,
}

enum Sink {
    Parquet(Box<parquet::arrow::ArrowWriter<File>>),
    Arrow(Box<arrow_ipc::writer::FileWriter<BufWriter<File>>>),
    Csv(Box<csv::Writer<BufWriter<File>>>),
}

/// Results written to a Parquet, Arrow IPC or CSV file as they come, a batch of 8,192 rows at
/// a time (Parquet row groups of 65,536): one row per record, with the columns of its
/// [`TableColumns`]. The file appears at its path only when [`finish`](Self::finish) has
/// written all of it (through a private temporary file beside it, mode 0600 as every results
/// file); a table dropped unfinished leaves nothing.
///
/// ```
/// use llmbo::table::{ResultTable, TableColumns, TableFormat};
/// use llmbo::{RecordError, RecordResult};
///
/// #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// struct City { name: String }
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cities.parquet");
/// let mut table = ResultTable::create(&path, TableFormat::Parquet, TableColumns::of::<City>())?;
/// let info = llmbo::run::RecordInfo::default();
/// table.write(&RecordResult { record_id: "a".into(), outcome: Ok(City { name: "Oslo".into() }) }, &info)?;
/// table.write(&RecordResult::<City> { record_id: "b".into(), outcome: Err(RecordError::Missing) }, &info)?;
/// let summary = table.finish()?;
/// assert_eq!((summary.rows, summary.ok), (2, 1));
/// assert!(path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ResultTable {
    path: PathBuf,
    temp: PathBuf,
    format: TableFormat,
    columns: TableColumns,
    /// The temporary file, until the first batch makes the writer.
    file: Option<File>,
    sink: Option<(SchemaRef, Sink)>,
    rows: Vec<Row>,
    summary: TableSummary,
    misfits: Misfits,
    finished: bool,
}

impl std::fmt::Debug for ResultTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultTable")
            .field("path", &self.path)
            .field("rows", &self.summary.rows)
            .finish_non_exhaustive()
    }
}

/// A new file readable by its owner only, as every file of results is.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl ResultTable {
    /// A table at `path` in `format`; nothing is at `path` until [`finish`](Self::finish),
    /// which replaces a file already there.
    pub fn create(
        path: impl AsRef<Path>,
        format: TableFormat,
        columns: TableColumns,
    ) -> Result<ResultTable, Error> {
        let path = path.as_ref().to_owned();
        if let Some(name) = columns.clash() {
            return Err(Error::Table {
                path,
                message: format!(
                    "the column `{name}` would be written twice: an answer's field has the name of one of llmbo's columns; name the fields apart with TableColumns::with_prefix (`--field-prefix` in the CLI)"
                ),
            });
        }
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut attempt = 0u32;
        let (temp, file) = loop {
            let temp =
                path.with_file_name(format!(".{name}.{}-{attempt}.partial", std::process::id()));
            match create_private(&temp) {
                Ok(file) => break (temp, file),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(source) => return Err(Error::Io { path: temp, source }),
            }
        };
        Ok(ResultTable {
            path,
            temp,
            format,
            columns,
            file: Some(file),
            sink: None,
            rows: Vec::with_capacity(BATCH_ROWS),
            summary: TableSummary::default(),
            misfits: Misfits::default(),
            finished: false,
        })
    }

    /// Adds a record's row: its id, its value's columns (nulls when it failed), its outcome
    /// (`ok` or the [`RecordError::reason`]), the error's message, its tokens and attempts.
    pub fn write<V: TableValue>(
        &mut self,
        record: &RecordResult<V>,
        info: &RecordInfo,
    ) -> Result<(), Error> {
        let (value, outcome, error) = match &record.outcome {
            Ok(value) => match value.table_value() {
                Ok(json) => (Some(json), "ok", None),
                Err(why) => {
                    return Err(self.error(format!(
                        "record `{}`: the value cannot be written as JSON: {why}",
                        record.record_id
                    )));
                }
            },
            Err(err) => (None, err.reason(), Some(err.to_string())),
        };
        self.push(Row {
            id: record.record_id.clone(),
            value,
            outcome,
            error,
            info: *info,
        })
    }

    /// As [`write`](Self::write), for a record whose value is already JSON.
    pub fn write_json(
        &mut self,
        record_id: &str,
        outcome: Result<&Value, &RecordError>,
        info: &RecordInfo,
    ) -> Result<(), Error> {
        let (value, outcome, error) = match outcome {
            Ok(value) => (Some(value.clone()), "ok", None),
            Err(err) => (None, err.reason(), Some(err.to_string())),
        };
        self.push(Row {
            id: record_id.to_owned(),
            value,
            outcome,
            error,
            info: *info,
        })
    }

    fn push(&mut self, row: Row) -> Result<(), Error> {
        self.summary.rows += 1;
        if row.value.is_some() {
            self.summary.ok += 1;
        }
        self.rows.push(row);
        if self.rows.len() >= BATCH_ROWS {
            self.flush(false)?;
        }
        Ok(())
    }

    fn error(&self, message: String) -> Error {
        Error::Table {
            path: self.path.clone(),
            message,
        }
    }

    /// The writer, made at the first batch: an embedding's length is the first vector's, so
    /// rows are held until one comes (or the table ends).
    fn sink(&mut self, last: bool) -> Result<bool, Error> {
        if self.sink.is_some() {
            return Ok(true);
        }
        if self.columns.vector_length_unknown() {
            let first = self.rows.iter().find_map(|row| match &row.value {
                Some(Value::Array(vector)) => Some(vector.len()),
                _ => None,
            });
            match first {
                Some(length) => self.columns.set_vector_length(length),
                None if last => self.columns.set_vector_length(1),
                None => return Ok(false),
            }
        }
        let Some(file) = self.file.take() else {
            return Err(self.error("the table is already finished".into()));
        };
        let schema = self.columns.arrow_schema();
        let made = match self.format {
            TableFormat::Parquet => {
                let properties = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(properties))
                    .map(|writer| Sink::Parquet(Box::new(writer)))
                    .map_err(|err| err.to_string())
            }
            TableFormat::Arrow => {
                arrow_ipc::writer::FileWriter::try_new(BufWriter::new(file), &schema)
                    .map(|writer| Sink::Arrow(Box::new(writer)))
                    .map_err(|err| err.to_string())
            }
            TableFormat::Csv => {
                let mut writer = csv::Writer::from_writer(BufWriter::new(file));
                writer
                    .write_record(self.columns.names())
                    .map(|()| Sink::Csv(Box::new(writer)))
                    .map_err(|err| err.to_string())
            }
        };
        let sink = made.map_err(|message| self.error(message))?;
        self.sink = Some((schema, sink));
        Ok(true)
    }

    /// Writes the rows held as one batch (`last`: the table ends, whatever is held).
    fn flush(&mut self, last: bool) -> Result<(), Error> {
        if !self.sink(last)? || self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let result = match self.sink.as_mut() {
            Some((_, Sink::Csv(writer))) => write_csv(writer, &self.columns, &rows),
            Some((schema, Sink::Parquet(writer))) => {
                let batch = batch(schema, &self.columns, &rows, &mut self.misfits)?;
                writer.write(&batch).map_err(|err| err.to_string())
            }
            Some((schema, Sink::Arrow(writer))) => {
                let batch = batch(schema, &self.columns, &rows, &mut self.misfits)?;
                writer.write(&batch).map_err(|err| err.to_string())
            }
            None => Err("the table is already finished".to_owned()),
        };
        self.rows = rows;
        self.rows.clear();
        result.map_err(|message| self.error(message))
    }

    /// Writes what is held, closes the file and renames it into place.
    pub fn finish(mut self) -> Result<TableSummary, Error> {
        self.flush(true)?;
        let closed = match self.sink.take() {
            Some((_, Sink::Parquet(writer))) => writer.close().map(drop).map_err(|e| e.to_string()),
            Some((_, Sink::Arrow(mut writer))) => writer
                .finish()
                .map_err(|e| e.to_string())
                .and_then(|()| writer.get_mut().flush().map_err(|e| e.to_string())),
            Some((_, Sink::Csv(mut writer))) => writer.flush().map_err(|e| e.to_string()),
            None => Ok(()),
        };
        closed.map_err(|message| self.error(message))?;
        std::fs::rename(&self.temp, &self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        self.finished = true;
        let mut summary = std::mem::take(&mut self.summary);
        summary.misfits = self.misfits.count;
        summary.first_misfit = self.misfits.first.take();
        Ok(summary)
    }
}

impl Drop for ResultTable {
    fn drop(&mut self) {
        // Unfinished (an error, a panic, a dropped future): nothing half-written is left.
        if !self.finished {
            self.sink = None;
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The rows as one Arrow batch of `schema`.
fn batch(
    schema: &SchemaRef,
    columns: &TableColumns,
    rows: &[Row],
    misfits: &mut Misfits,
) -> Result<RecordBatch, Error> {
    let internal = |err: arrow_schema::ArrowError| Error::Internal {
        what: "writing a table",
        reason: err.to_string(),
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| Some(r.id.as_str()))
            .collect::<StringArray>(),
    ));
    match &columns.shape {
        Shape::Fields(fields) => {
            for row in rows {
                if let Some(value) = &row.value
                    && !value.is_object()
                {
                    misfits.note_whole(value);
                }
            }
            for (name, kind) in fields {
                let values: Vec<Option<&Value>> = rows
                    .iter()
                    .map(|r| r.value.as_ref().and_then(|v| v.get(name)))
                    .collect();
                arrays.push(array(kind, &values, name, misfits).map_err(internal)?);
            }
        }
        Shape::One(name, kind) => {
            let values: Vec<Option<&Value>> = rows.iter().map(|r| r.value.as_ref()).collect();
            arrays.push(array(kind, &values, name, misfits).map_err(internal)?);
        }
    }
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| Some(r.outcome))
            .collect::<StringArray>(),
    ));
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| r.error.as_deref())
            .collect::<StringArray>(),
    ));
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| r.info.usage.map(|u| u.input_tokens))
            .collect::<UInt64Array>(),
    ));
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| r.info.usage.map(|u| u.output_tokens))
            .collect::<UInt64Array>(),
    ));
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| Some(r.info.attempts))
            .collect::<UInt32Array>(),
    ));
    arrays.push(Arc::new(
        rows.iter()
            .map(|r| Some(r.info.on_demand))
            .collect::<BooleanArray>(),
    ));
    RecordBatch::try_new(schema.clone(), arrays).map_err(internal)
}

/// The rows as CSV records: flat values as they are, lists, structs and JSON as JSON text,
/// nulls as empty cells.
fn write_csv(
    writer: &mut csv::Writer<BufWriter<File>>,
    columns: &TableColumns,
    rows: &[Row],
) -> Result<(), String> {
    let cell = |value: Option<&Value>, kind: &Kind| -> String {
        match value {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) if kind.is_flat() && *kind != Kind::Json => text.clone(),
            Some(other) => other.to_string(),
        }
    };
    let mut record: Vec<String> = Vec::new();
    for row in rows {
        record.clear();
        record.push(row.id.clone());
        match &columns.shape {
            Shape::Fields(fields) => {
                for (name, kind) in fields {
                    record.push(cell(row.value.as_ref().and_then(|v| v.get(name)), kind));
                }
            }
            Shape::One(_, kind) => record.push(cell(row.value.as_ref(), kind)),
        }
        record.push(row.outcome.to_owned());
        record.push(row.error.clone().unwrap_or_default());
        let tokens = |f: fn(&crate::adapter::Usage) -> u64| {
            row.info
                .usage
                .as_ref()
                .map(|u| f(u).to_string())
                .unwrap_or_default()
        };
        record.push(tokens(|u| u.input_tokens));
        record.push(tokens(|u| u.output_tokens));
        record.push(row.info.attempts.to_string());
        record.push(row.info.on_demand.to_string());
        writer
            .write_record(&record)
            .map_err(|err| err.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn record(id: &str, n: i64) -> RecordResult<Value> {
        RecordResult {
            record_id: id.to_owned(),
            outcome: Ok(serde_json::json!({"n": n})),
        }
    }

    fn columns() -> TableColumns {
        TableColumns::from_schema(&serde_json::json!({
            "type": "object", "properties": {"n": {"type": "integer"}}
        }))
    }

    #[test]
    fn a_table_dropped_unfinished_leaves_the_previous_file_and_no_partial() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "previous\n")?;
        let info = RecordInfo::default();
        {
            let mut table = ResultTable::create(&path, TableFormat::Csv, columns())?;
            for i in 0..(BATCH_ROWS as i64 + 10) {
                table.write(&record(&format!("r{i}"), i), &info)?;
            }
        }
        assert_eq!(std::fs::read_to_string(&path)?, "previous\n");
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            1,
            "no partial file left"
        );
        // Two writers of one path at once (two downloads of a run): each its own temp file,
        // and the file is one of them whole.
        let mut first = ResultTable::create(&path, TableFormat::Csv, columns())?;
        let mut second = ResultTable::create(&path, TableFormat::Csv, columns())?;
        first.write(&record("a", 1), &info)?;
        second.write(&record("b", 2), &info)?;
        second.finish()?;
        first.finish()?;
        let text = std::fs::read_to_string(&path)?;
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("a,1,ok,")),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn a_field_named_like_a_record_column_is_refused_until_prefixed() -> TestResult {
        let schema = serde_json::json!({
            "type": "object", "properties": {"error": {"type": "string"}, "id": {"type": "string"}}
        });
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.parquet");
        let err = ResultTable::create(
            &path,
            TableFormat::Parquet,
            TableColumns::from_schema(&schema),
        )
        .err()
        .ok_or("the clash is refused")?;
        assert!(
            err.to_string()
                .contains("the column `id` would be written twice"),
            "{err}"
        );
        let columns = TableColumns::from_schema(&schema).with_prefix("answer_");
        assert_eq!(columns.names()[..3], ["id", "answer_error", "answer_id"]);
        ResultTable::create(&path, TableFormat::Parquet, columns)?.finish()?;
        assert!(path.exists(), "an empty table is still a table");
        Ok(())
    }
}
