//! Records from a table: each row's id, prompt, system text and media from its columns, read a
//! batch at a time (8,192 Parquet rows, 32 when they carry media; an Arrow record batch as it
//! was written; 8,192 CSV rows), so a table of any size goes through in flat memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::TableFormat;
use super::template::Template;
use crate::error::{Error, InputProblem, RowProblems, TableProblems};
use crate::media::{MediaFormat, MediaKind, Part};
use crate::model_input::ModelInput;

/// Rows read at a time from a CSV file, and asked of the Parquet reader.
const BATCH_ROWS: usize = 8_192;

/// Rows asked of the Parquet reader at a time when the input reads media columns: a batch
/// holds its rows' documents and images whole (a few MB each), so it is kept small.
const MEDIA_BATCH_ROWS: usize = 32;

/// How many rows each problem names.
const FIRST_ROWS: usize = 5;

/// Which columns make a record: where its id, prompt, system text and media come from.
///
/// ```
/// use llmbo::table::TableInput;
///
/// let input = TableInput::template("Extract the parties from: {body}\nDated {date}")?
///     .id_column("doc_id")
///     .system("You read contracts.");
/// assert_eq!(input.columns(), ["doc_id", "body", "date"]);
/// assert!(TableInput::template("Return {a").is_err(), "a literal brace is written twice: {{");
/// # Ok::<(), llmbo::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TableInput {
    id_column: Option<String>,
    prompt: Template,
    system: Option<System>,
    media: Vec<(String, MediaKind)>,
}

#[derive(Debug, Clone)]
enum System {
    Text(String),
    Column(String),
}

impl TableInput {
    /// Each row's prompt is the text of `column`.
    pub fn prompt_column(column: impl Into<String>) -> TableInput {
        TableInput {
            id_column: None,
            prompt: Template::column(&column.into()),
            system: None,
            media: Vec::new(),
        }
    }

    /// Each row's prompt is `template` with `{column}` replaced by the row's value in that
    /// column (`{{` and `}}` are literal braces). A brace that names no column is an error.
    pub fn template(template: &str) -> Result<TableInput, Error> {
        let prompt = Template::parse(template).map_err(|reason| Error::InvalidConfig {
            field: "template",
            reason,
        })?;
        Ok(TableInput {
            id_column: None,
            prompt,
            system: None,
            media: Vec::new(),
        })
    }

    /// Each record's id is the row's value in `column` (any type, as text). Without one, the
    /// id is the row's number, from 0 as a DataFrame's index is.
    pub fn id_column(mut self, column: impl Into<String>) -> TableInput {
        self.id_column = Some(column.into());
        self
    }

    /// The same system text for every row.
    pub fn system(mut self, text: impl Into<String>) -> TableInput {
        self.system = Some(System::Text(text.into()));
        self
    }

    /// Each row's system text from `column` (a null is no system text).
    pub fn system_column(mut self, column: impl Into<String>) -> TableInput {
        self.system = Some(System::Column(column.into()));
        self
    }

    /// A medium of each row from `column`, after the prompt: bytes from a binary column, or
    /// an `s3://` URI or a local path from a text column. Each medium is an image, a document
    /// or a video as its bytes (or its name) say, so one column may hold PDFs and scans;
    /// `kind` is for media that do not say (a text document).
    pub fn media_column(mut self, column: impl Into<String>, kind: MediaKind) -> TableInput {
        self.media.push((column.into(), kind));
        self
    }

    /// Every column it reads, each once: the id's, the prompt's, the system's, the media's.
    pub fn columns(&self) -> Vec<&str> {
        let mut all: Vec<&str> = Vec::new();
        all.extend(self.id_column.as_deref());
        all.extend(self.prompt.columns());
        if let Some(System::Column(name)) = &self.system {
            all.push(name);
        }
        all.extend(self.media.iter().map(|(name, _)| name.as_str()));
        let mut names: Vec<&str> = Vec::new();
        for name in all {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// The rows that share one problem, as they are counted.
#[derive(Default)]
struct Groups {
    groups: Vec<RowProblems>,
    index: HashMap<String, usize>,
}

impl Groups {
    fn add(&mut self, row: usize, message: String) {
        let at = *self.index.entry(message.clone()).or_insert_with(|| {
            self.groups.push(RowProblems {
                message,
                rows: 0,
                first: Vec::new(),
            });
            self.groups.len() - 1
        });
        if let Some(group) = self.groups.get_mut(at) {
            group.rows += 1;
            if group.first.len() < FIRST_ROWS {
                group.first.push(row);
            }
        }
    }
}

/// A table of input records, checked whole: every row's problems are counted by kind before
/// anything is sent, and the records are read again, a batch at a time, as they are prepared.
///
/// ```
/// use llmbo::table::{InputTable, TableInput};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("docs.csv");
/// std::fs::write(&path, "doc_id,body\nd1,First text\nd2,Second text\n")?;
/// let table = InputTable::open(&path, TableInput::template("Read: {body}")?.id_column("doc_id"))?;
/// assert_eq!(table.rows(), 2);
/// let records: Vec<_> = table.records()?.collect();
/// assert_eq!(records[1].0, "d2");
/// assert_eq!(records[1].1.messages[0].content, "Read: Second text");
///
/// let err = InputTable::open(&path, TableInput::prompt_column("text")).unwrap_err();
/// assert!(err.to_string().contains("no column `text` (its columns: doc_id, body)"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InputTable {
    path: PathBuf,
    format: TableFormat,
    input: TableInput,
    rows: usize,
    warnings: Vec<RowProblems>,
    /// The downloaded copy of a table read from S3, removed with the table.
    _download: Option<tempfile::TempPath>,
}

impl InputTable {
    /// Opens a Parquet, Arrow IPC (file or stream) or CSV table (the format from its first
    /// bytes, CSV by its `.csv` name) and checks every row: a column the input names that is
    /// not there, a null id, an empty prompt, a medium that cannot be sent. Problems that
    /// would refuse records are one error, grouped by kind with their first rows; the others
    /// are [`warnings`](Self::warnings).
    pub fn open(path: impl AsRef<Path>, input: TableInput) -> Result<InputTable, Error> {
        let path = path.as_ref();
        let format = TableFormat::detect(path, &path.to_string_lossy())?;
        InputTable::checked(path.to_owned(), format, input, None)
    }

    /// As [`open`](Self::open), for a table in S3 (`s3://bucket/key`): it is downloaded to a
    /// temporary file first (streamed to disk, never held in memory) and removed when the
    /// table is dropped.
    pub async fn open_s3(
        sdk_config: &aws_config::SdkConfig,
        uri: &str,
        input: TableInput,
    ) -> Result<InputTable, Error> {
        let download = crate::aws::download_to_temp(sdk_config, uri).await?;
        let format = TableFormat::detect(&download, uri)?;
        let path = download.to_path_buf();
        InputTable::checked(path, format, input, Some(download))
    }

    fn checked(
        path: PathBuf,
        format: TableFormat,
        input: TableInput,
        download: Option<tempfile::TempPath>,
    ) -> Result<InputTable, Error> {
        let mut table = InputTable {
            path,
            format,
            input,
            rows: 0,
            warnings: Vec::new(),
            _download: download,
        };
        let mut errors = Groups::default();
        let mut warnings = Groups::default();
        let mut row = 0;
        for batch in table.batches()? {
            let batch = batch.map_err(|message| table.error(message))?;
            let view = View::of(&table.input, &batch).map_err(|message| table.error(message))?;
            for i in 0..batch.num_rows() {
                let record = view.record(&table.input, i, row);
                for warning in record.warnings {
                    warnings.add(row, warning);
                }
                if let Err(problem) = record.input {
                    errors.add(row, problem);
                }
                row += 1;
            }
        }
        table.rows = row;
        table.warnings = warnings.groups;
        if !errors.groups.is_empty() {
            return Err(Error::InvalidInput {
                record_id: None,
                problem: InputProblem::Table(TableProblems {
                    file: table.path.display().to_string(),
                    groups: errors.groups,
                }),
            });
        }
        Ok(table)
    }

    /// How many rows (records) the table holds.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The table's format.
    pub fn format(&self) -> TableFormat {
        self.format
    }

    /// Problems that refuse no record, grouped: a null in a column the prompt reads, a null
    /// medium.
    pub fn warnings(&self) -> &[RowProblems] {
        &self.warnings
    }

    /// The records, read again from the table a batch at a time. A batch that no longer reads
    /// (the file changed since it was checked) ends the records with one that preparing
    /// refuses by the row it was at: nothing is dropped silently.
    pub fn records(&self) -> Result<impl Iterator<Item = (String, ModelInput)> + use<>, Error> {
        let mut batches = self.batches()?;
        let input = self.input.clone();
        let checked = self.rows;
        let mut pending: std::vec::IntoIter<(String, ModelInput)> = Vec::new().into_iter();
        let mut row = 0usize;
        let mut done = false;
        Ok(std::iter::from_fn(move || {
            loop {
                if let Some(record) = pending.next() {
                    return Some(record);
                }
                if done {
                    return None;
                }
                // Under an id no row has, so that it is refused for what it is.
                let changed = |row: usize, why: String| {
                    (
                        format!("llmbo-table-changed-at-row-{row}"),
                        ModelInput::raw(serde_json::Value::String(format!(
                            "the table changed while it was read: {why}"
                        ))),
                    )
                };
                let batch = match batches.next() {
                    // Fewer rows than were checked: the rest is not dropped silently.
                    None if row < checked => {
                        done = true;
                        return Some(changed(
                            row,
                            format!("it has {row} rows, {checked} when it was checked"),
                        ));
                    }
                    None => return None,
                    Some(Ok(batch)) => batch,
                    Some(Err(why)) => {
                        done = true;
                        return Some(changed(row, why));
                    }
                };
                let view = match View::of(&input, &batch) {
                    Ok(view) => view,
                    Err(why) => {
                        done = true;
                        return Some(changed(row, why));
                    }
                };
                let mut records = Vec::with_capacity(batch.num_rows());
                for i in 0..batch.num_rows() {
                    let record = view.record(&input, i, row);
                    let body = record.input.unwrap_or_else(|problem| {
                        ModelInput::raw(serde_json::Value::String(format!("row {row}: {problem}")))
                    });
                    records.push((record.id, body));
                    row += 1;
                }
                pending = records.into_iter();
            }
        }))
    }

    /// The row of each of `ids` (one pass over the id column): to name the rows of a
    /// preflight's findings. Ids not in the table are left out.
    pub fn rows_of(&self, ids: &[&str]) -> Result<HashMap<String, usize>, Error> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut row = 0;
        for batch in self.batches()? {
            let batch = batch.map_err(|message| self.error(message))?;
            let view = View::of(&self.input, &batch).map_err(|message| self.error(message))?;
            for i in 0..batch.num_rows() {
                let id = view.id(i, row);
                if let Some(id) = id
                    && ids.contains(&id.as_str())
                {
                    found.entry(id).or_insert(row);
                }
                row += 1;
            }
        }
        Ok(found)
    }

    fn error(&self, message: String) -> Error {
        Error::Table {
            path: self.path.clone(),
            message,
        }
    }

    /// The table's batches with the columns the input reads.
    fn batches(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, String>> + Send>, Error> {
        let wanted: Vec<String> = self
            .input
            .columns()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let table_error = |message: String| self.error(message);
        let missing = |names: &[String]| -> Result<Vec<usize>, Error> {
            wanted
                .iter()
                .map(|name| {
                    names.iter().position(|n| n == name).ok_or_else(|| {
                        let braces = if self.input.prompt.columns().contains(&name.as_str()) {
                            "; a template writes a literal brace twice: {{ and }}"
                        } else {
                            ""
                        };
                        table_error(format!(
                            "no column `{name}` (its columns: {}){braces}",
                            names.join(", ")
                        ))
                    })
                })
                .collect()
        };
        let names_of = |schema: &Schema| -> Vec<String> {
            schema.fields().iter().map(|f| f.name().clone()).collect()
        };
        match self.format {
            TableFormat::Parquet => {
                use parquet::arrow::ProjectionMask;
                use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
                let file = File::open(&self.path).map_err(io)?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|err| table_error(format!("not a readable Parquet file: {err}")))?;
                let mut indices = missing(&names_of(builder.schema()))?;
                indices.sort_unstable();
                let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
                let reader = builder
                    .with_projection(mask)
                    .with_batch_size(if self.input.media.is_empty() {
                        BATCH_ROWS
                    } else {
                        MEDIA_BATCH_ROWS
                    })
                    .build()
                    .map_err(|err| table_error(err.to_string()))?;
                Ok(Box::new(
                    reader.map(|batch| batch.map_err(|err| err.to_string())),
                ))
            }
            TableFormat::Arrow => {
                let mut file = BufReader::new(File::open(&self.path).map_err(io)?);
                let mut magic = [0u8; 6];
                let is_file =
                    std::io::Read::read_exact(&mut file, &mut magic).is_ok() && &magic == b"ARROW1";
                let file = BufReader::new(File::open(&self.path).map_err(io)?);
                if is_file {
                    let probe = arrow_ipc::reader::FileReader::try_new(
                        BufReader::new(File::open(&self.path).map_err(io)?),
                        None,
                    )
                    .map_err(|err| table_error(format!("not a readable Arrow file: {err}")))?;
                    let indices = missing(&names_of(&probe.schema()))?;
                    let reader = arrow_ipc::reader::FileReader::try_new(file, Some(indices))
                        .map_err(|err| table_error(err.to_string()))?;
                    Ok(Box::new(
                        reader.map(|batch| batch.map_err(|err| err.to_string())),
                    ))
                } else {
                    let probe = arrow_ipc::reader::StreamReader::try_new(
                        BufReader::new(File::open(&self.path).map_err(io)?),
                        None,
                    )
                    .map_err(|err| {
                        table_error(format!("not a readable Arrow IPC file or stream: {err}"))
                    })?;
                    let indices = missing(&names_of(&probe.schema()))?;
                    let reader = arrow_ipc::reader::StreamReader::try_new(file, Some(indices))
                        .map_err(|err| table_error(err.to_string()))?;
                    Ok(Box::new(
                        reader.map(|batch| batch.map_err(|err| err.to_string())),
                    ))
                }
            }
            TableFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .from_reader(BufReader::new(File::open(&self.path).map_err(io)?));
                let headers: Vec<String> = reader
                    .headers()
                    .map_err(|err| table_error(format!("the header row cannot be read: {err}")))?
                    .iter()
                    .map(|name| name.trim_start_matches('\u{feff}').to_owned())
                    .collect();
                let indices = missing(&headers)?;
                let schema = Arc::new(Schema::new(
                    wanted
                        .iter()
                        .map(|name| Field::new(name, DataType::Utf8, true))
                        .collect::<Vec<_>>(),
                ));
                Ok(Box::new(CsvBatches {
                    records: reader.into_records(),
                    indices,
                    schema,
                    row: 0,
                    done: false,
                }))
            }
        }
    }
}

/// A CSV file's rows as batches of the wanted columns, all text.
struct CsvBatches {
    records: csv::StringRecordsIntoIter<BufReader<File>>,
    indices: Vec<usize>,
    schema: Arc<Schema>,
    row: usize,
    done: bool,
}

impl Iterator for CsvBatches {
    type Item = Result<RecordBatch, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // An empty cell is a null, as pandas, Polars and DuckDB read it.
        let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); self.indices.len()];
        let mut count = 0;
        while count < BATCH_ROWS {
            match self.records.next() {
                None => {
                    self.done = true;
                    break;
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(format!("row {}: {err}", self.row)));
                }
                Some(Ok(record)) => {
                    for (column, index) in columns.iter_mut().zip(&self.indices) {
                        column.push(
                            record
                                .get(*index)
                                .filter(|cell| !cell.is_empty())
                                .map(str::to_owned),
                        );
                    }
                    count += 1;
                    self.row += 1;
                }
            }
        }
        if count == 0 {
            return None;
        }
        let arrays: Vec<ArrayRef> = columns
            .into_iter()
            .map(|values| Arc::new(StringArray::from(values)) as ArrayRef)
            .collect();
        Some(RecordBatch::try_new(self.schema.clone(), arrays).map_err(|err| err.to_string()))
    }
}

/// A medium column of one batch.
enum MediaColumn {
    Bytes(ArrayRef),
    Text(StringArray),
}

impl MediaColumn {
    fn bytes(&self, i: usize) -> Option<&[u8]> {
        let MediaColumn::Bytes(array) = self else {
            return None;
        };
        if array.is_null(i) {
            return None;
        }
        match array.data_type() {
            DataType::Binary => Some(array.as_binary::<i32>().value(i)),
            DataType::LargeBinary => Some(array.as_binary::<i64>().value(i)),
            DataType::BinaryView => Some(array.as_binary_view().value(i)),
            DataType::FixedSizeBinary(_) => Some(array.as_fixed_size_binary().value(i)),
            _ => None,
        }
    }
}

/// The format a local file's first bytes say (`None` when it cannot be read: preparing the
/// record says why, by its id).
fn sniff_file(path: &str) -> Option<MediaFormat> {
    let mut head = Vec::with_capacity(64);
    let file = File::open(path).ok()?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 64), &mut head).ok()?;
    MediaFormat::sniff(&head)
}

/// A medium's kind: what its bytes (or its name) say it is, else its column's.
fn kind_of(column: MediaKind, format: Option<MediaFormat>) -> MediaKind {
    match format {
        Some(format) if !format.is_text() => format.kind(),
        _ => column,
    }
}

/// One batch's columns as the input reads them: text (any type cast to text), media bytes.
struct View {
    text: HashMap<String, StringArray>,
    media: Vec<(String, MediaKind, MediaColumn)>,
    id_column: Option<String>,
}

/// One row's record, or what is wrong with it, and the problems that refuse nothing.
struct Record {
    id: String,
    input: Result<ModelInput, String>,
    warnings: Vec<String>,
}

impl View {
    fn of(input: &TableInput, batch: &RecordBatch) -> Result<View, String> {
        let as_text = |name: &str| -> Result<StringArray, String> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column `{name}`"))?;
            let text = arrow_cast::cast(column, &DataType::Utf8).map_err(|err| {
                format!(
                    "column `{name}` ({}) cannot be read as text: {err}",
                    column.data_type()
                )
            })?;
            Ok(text.as_string::<i32>().clone())
        };
        let mut text = HashMap::new();
        let mut wanted: Vec<&str> = input.prompt.columns();
        if let Some(id) = &input.id_column {
            wanted.push(id);
        }
        if let Some(System::Column(name)) = &input.system {
            wanted.push(name);
        }
        for name in wanted {
            if !text.contains_key(name) {
                text.insert(name.to_owned(), as_text(name)?);
            }
        }
        let mut media = Vec::new();
        for (name, kind) in &input.media {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column `{name}`"))?;
            let column = match column.data_type() {
                DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_) => MediaColumn::Bytes(column.clone()),
                _ => MediaColumn::Text(as_text(name)?),
            };
            media.push((name.clone(), *kind, column));
        }
        Ok(View {
            text,
            media,
            id_column: input.id_column.clone(),
        })
    }

    fn value(&self, column: &str, i: usize) -> Option<&str> {
        let array = self.text.get(column)?;
        (!array.is_null(i)).then(|| array.value(i))
    }

    /// The row's id: its id column's text (`None` for a null), or its number.
    fn id(&self, i: usize, row: usize) -> Option<String> {
        match &self.id_column {
            Some(column) => self.value(column, i).map(str::to_owned),
            None => Some(row.to_string()),
        }
    }

    fn record(&self, input: &TableInput, i: usize, row: usize) -> Record {
        let mut warnings = Vec::new();
        let id = match self.id(i, row) {
            Some(id) => id,
            None => {
                return Record {
                    id: row.to_string(),
                    input: Err(format!(
                        "the id column `{}` is null",
                        self.id_column.as_deref().unwrap_or_default()
                    )),
                    warnings,
                };
            }
        };
        let prompt = input.prompt.render(|column| {
            let value = self.value(column, i);
            if value.is_none() {
                warnings.push(format!(
                    "column `{column}` is null: the prompt has nothing in its place"
                ));
            }
            value
        });
        if prompt.trim().is_empty() && self.media.is_empty() {
            return Record {
                id,
                input: Err("the prompt is empty".into()),
                warnings,
            };
        }
        let mut model_input = ModelInput::new();
        match &input.system {
            Some(System::Text(text)) => model_input = model_input.system(text.clone()),
            Some(System::Column(column)) => match self.value(column, i) {
                Some(text) if !text.trim().is_empty() => {
                    model_input = model_input.system(text.to_owned());
                }
                _ => warnings.push(format!("column `{column}` is null: no system text")),
            },
            None => {}
        }
        if self.media.is_empty() {
            return Record {
                id,
                input: Ok(model_input.user(prompt)),
                warnings,
            };
        }
        let mut parts = Vec::with_capacity(1 + self.media.len());
        if !prompt.trim().is_empty() {
            parts.push(Part::text(prompt));
        }
        for (column, kind, media) in &self.media {
            let part = match (media, media.bytes(i)) {
                (MediaColumn::Bytes(_), Some(bytes)) => {
                    match kind_of(*kind, MediaFormat::sniff(bytes)) {
                        MediaKind::Image => Part::image(bytes.to_vec()),
                        MediaKind::Document => Part::document(bytes.to_vec()),
                        _ => {
                            return Record {
                                id,
                                input: Err(format!(
                                    "column `{column}`: a {kind} comes as an s3:// URI or a file path, not bytes"
                                )),
                                warnings,
                            };
                        }
                    }
                }
                (MediaColumn::Text(array), _) if array.is_valid(i) => {
                    let place = array.value(i);
                    let named = MediaFormat::from_name(place).filter(|f| !f.is_text());
                    // A local file whose name does not say is read for its first bytes.
                    let format = match named {
                        None if !place.starts_with("s3://") => sniff_file(place),
                        named => named,
                    };
                    let kind = kind_of(*kind, format);
                    match (place.starts_with("s3://"), kind) {
                        (true, MediaKind::Image) => Part::image_s3(place),
                        (true, MediaKind::Document) => Part::document_s3(place),
                        (true, _) => Part::video_s3(place),
                        (false, MediaKind::Image) => Part::image_file(place),
                        (false, MediaKind::Document) => Part::document_file(place),
                        (false, _) => Part::video_file(place),
                    }
                }
                _ => {
                    warnings.push(format!("column `{column}` is null: no {kind} for the row"));
                    continue;
                }
            };
            parts.push(part);
        }
        if parts.is_empty() {
            return Record {
                id,
                input: Err("the prompt is empty and the row has no media".into()),
                warnings,
            };
        }
        Record {
            id,
            input: Ok(model_input.user_parts(parts)),
            warnings,
        }
    }
}
