//! Tables in and out (the `tables` feature): input records from Parquet, Arrow IPC and CSV,
//! local or in S3, and typed results written to them, a batch at a time.
//!
//! - [`InputTable`] reads `(id, ModelInput)` records from a table: the id from a column or
//!   the row number, the prompt from a column or a template over several
//!   (`"Extract the parties from: {body}\nDated {date}"`), system text, media columns. Every
//!   row is checked before anything is sent; the records are then read again a batch at a
//!   time, so a 10 GB file never sits in memory.
//! - [`ResultTable`] writes one row per record as the results come: the id, each field of
//!   the output type as a typed column ([`TableColumns`]; the mapping is in the table
//!   below), the outcome (`ok` or the [`RecordError::reason`](crate::RecordError::reason)),
//!   the error, the tokens, the attempts and whether the answer came on demand. Embeddings are
//!   a `FixedSizeList<Float32>` column.
//!
//! How a value's JSON schema becomes a column:
//!
//! | JSON schema (as schemars writes a Rust type) | Arrow |
//! |---|---|
//! | `boolean` | `Boolean` |
//! | `integer` with `format` `int8` … `uint64` | `Int8` … `UInt64` (`Int64` without a format) |
//! | `number` (`f32` / `f64`) | `Float32` / `Float64` |
//! | `string`; an enum of unit variants (a string `enum`) | `Utf8` |
//! | `array` of one item schema (`Vec<T>`) | `List` of the item's type |
//! | `object` with `properties` (a struct) | `Struct` of the fields' types |
//! | a map, a tuple, an enum with data, a value of several types, a type that contains itself | `Utf8`: the value's JSON text |
//!
//! `Option<T>` is `T`; every column but `id`, `outcome`, `attempts` and `on_demand` is
//! nullable, and a record that failed has nulls in the answer's columns. CSV has no nested
//! types: lists, structs and JSON are written as JSON text there, and nulls as empty cells.

mod columns;
mod inputs;
mod results;
mod template;

use std::path::Path;

use crate::error::Error;
use crate::job::{RecordInfo, RecordStream, RunResults};
use crate::output::{BatchOutput, BatchResults};

pub use inputs::{InputTable, TableInput};
pub use results::{RECORD_COLUMNS, ResultTable, TableColumns, TableSummary, TableValue};

/// A table's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableFormat {
    /// Apache Parquet (read: snappy, zstd, lz4 and gzip columns; written: zstd).
    Parquet,
    /// Arrow IPC: the file format (`.arrow`, `.feather` v2) written, file or stream read.
    Arrow,
    /// Comma-separated values with a header row.
    Csv,
}

impl TableFormat {
    /// The format a file's name says: `.parquet`/`.pq`, `.arrow`/`.feather`/`.ipc`/`.arrows`,
    /// `.csv`.
    pub fn from_name(name: &str) -> Option<TableFormat> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "parquet" | "pq" => Some(TableFormat::Parquet),
            "arrow" | "feather" | "ipc" | "arrows" => Some(TableFormat::Arrow),
            "csv" => Some(TableFormat::Csv),
            _ => None,
        }
    }

    /// The format of the file at `path`: from its first bytes (Parquet's `PAR1`, Arrow's
    /// `ARROW1` or a stream's first message), else from `name`'s extension.
    pub(crate) fn detect(path: &Path, name: &str) -> Result<TableFormat, Error> {
        let mut head = [0u8; 8];
        let read = std::fs::File::open(path)
            .and_then(|mut file| {
                let mut filled = 0;
                loop {
                    let n = std::io::Read::read(&mut file, &mut head[filled..])?;
                    if n == 0 || filled + n == head.len() {
                        return Ok(filled + n);
                    }
                    filled += n;
                }
            })
            .map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
        let head = &head[..read];
        if head.starts_with(b"PAR1") {
            return Ok(TableFormat::Parquet);
        }
        if head.starts_with(b"ARROW1") || head.starts_with(&[0xFF, 0xFF, 0xFF, 0xFF]) {
            return Ok(TableFormat::Arrow);
        }
        match TableFormat::from_name(name) {
            Some(TableFormat::Csv) => Ok(TableFormat::Csv),
            Some(format) => Err(Error::Table {
                path: path.to_owned(),
                message: format!(
                    "the name says {}, but the file does not start as one",
                    format.name()
                ),
            }),
            None => Err(Error::Table {
                path: path.to_owned(),
                message: "not a Parquet or Arrow file, and not named .csv".into(),
            }),
        }
    }

    /// The format's name: `parquet`, `arrow`, `csv`.
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Parquet => "parquet",
            TableFormat::Arrow => "arrow",
            TableFormat::Csv => "csv",
        }
    }
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl<T: BatchOutput + serde::Serialize> BatchResults<T> {
    /// Writes the results to a table at `path`, one row per record in order, with `T`'s
    /// fields as typed columns ([`TableColumns::of`]). Without [`RecordInfo`]s, tokens are
    /// null and attempts 1; [`RunResults::write_table`] has them.
    pub fn write_table(
        &self,
        path: impl AsRef<Path>,
        format: TableFormat,
    ) -> Result<TableSummary, Error> {
        let mut table = ResultTable::create(path, format, TableColumns::of::<T>())?;
        let info = RecordInfo {
            attempts: 1,
            ..RecordInfo::default()
        };
        for record in &self.records {
            table.write(record, &info)?;
        }
        table.finish()
    }
}

impl<V: TableValue> RunResults<V> {
    /// Writes the results to a table at `path` with `columns`, one row per record in order,
    /// with each record's tokens and attempts.
    pub fn write_table(
        &self,
        path: impl AsRef<Path>,
        format: TableFormat,
        columns: TableColumns,
    ) -> Result<TableSummary, Error> {
        let mut table = ResultTable::create(path, format, columns)?;
        for (record, info) in self.results.records.iter().zip(&self.info) {
            table.write(record, info)?;
        }
        table.finish()
    }
}

impl<V: TableValue + Send + 'static> RecordStream<V> {
    /// Writes every record of the stream to a table at `path` as it comes (one job's
    /// results in memory at a time, a batch of rows on its way to the file), then renames
    /// it into place. A stream that ends in an error leaves no file.
    pub async fn write_table(
        mut self,
        path: impl AsRef<Path>,
        format: TableFormat,
        columns: TableColumns,
    ) -> Result<TableSummary, Error> {
        let mut table = ResultTable::create(path, format, columns)?;
        while let Some(next) = self.next_detailed().await {
            let (record, info) = next?;
            table.write(&record, &info)?;
        }
        table.finish()
    }
}
