//! The CSV files of the research commands: `labels.csv` (read by `eval`), `scores.csv`
//! (written by `eval`, read by `simulate`) and the per-exam scores of `bench --scores-out`.
//!
//! The `csv` crate does the parsing (quoted fields, embedded commas, a UTF-8 byte-order mark,
//! CRLF line ends); serde row structs name the documented columns. Readers and writers take any
//! [`std::io::Read`] or [`std::io::Write`] and the path only to name it in errors: the crate
//! itself opens no files.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

use crate::ScoredExam;

/// Why a CSV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The bytes are not CSV the reader can parse (I/O failure, invalid UTF-8, a broken quote).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the CSV reader reported, with its position.
        source: csv::Error,
    },
    /// The rows could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the CSV writer reported.
        source: csv::Error,
    },
    /// The header row lacks a required column (or, for scores.csv, is not the exact header).
    #[error("{}: expected the header of {expected}, found {found:?}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// Which file and columns were expected.
        expected: &'static str,
        /// The header row as found (fields joined by commas).
        found: String,
    },
    /// A row has fewer fields than the column it needs.
    #[error("{} line {line}: expected {expected} columns, found {found}", path.display())]
    Columns {
        /// The file.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: u64,
        /// Columns in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A field holds a value its column does not allow.
    #[error("{} line {line}, column {column} ({name}): expected {expected}, found {found:?}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: u64,
        /// 1-based column.
        column: usize,
        /// The column's header name.
        name: String,
        /// What the column allows.
        expected: &'static str,
        /// The field as found (trimmed).
        found: String,
    },
}

/// The header of `scores.csv`, in order.
pub const SCORES_HEADER: [&str; 5] = ["study_uid", "exam_score", "category", "extra_high", "label"];

/// A CSV reader that trims fields (as researchers' spreadsheets pad them) and tolerates rows with
/// extra fields; the header row is required.
fn reader<R: io::Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(input)
}

/// Reads the header and every row of `input`, turning each into `T`; `check` validates the
/// header first. Errors name `path`, the line and, for a bad field, the column.
fn read_rows<R, T, F>(
    input: R,
    path: &Path,
    check: impl Fn(&csv::StringRecord) -> bool,
    header_expected: &'static str,
    mut each: F,
) -> Result<Vec<T>, TableError>
where
    R: io::Read,
    F: FnMut(&csv::StringRecord, &csv::StringRecord, u64) -> Result<T, TableError>,
{
    let read_err = |source| TableError::Read { path: path.to_path_buf(), source };
    let mut r = reader(input);
    let headers = r.headers().map_err(read_err)?.clone();
    if !check(&headers) {
        return Err(TableError::Header {
            path: path.to_path_buf(),
            expected: header_expected,
            found: headers.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while r.read_record(&mut record).map_err(read_err)? {
        // A line of only spaces or commas is a blank line, as it always was.
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() < headers.len() {
            return Err(TableError::Columns {
                path: path.to_path_buf(),
                line,
                expected: headers.len(),
                found: record.len(),
            });
        }
        rows.push(each(&headers, &record, line)?);
    }
    Ok(rows)
}

/// One row of a labels file; other columns are ignored.
#[derive(Debug, Deserialize)]
struct LabelRow {
    study_uid: String,
    cancer: String,
}

/// Reads a labels file: a header holding `study_uid` and `cancer` columns (in any order, among
/// others), and per row a UID and `0`/`1` (`true`/`false` and `True`/`False` also accepted).
/// Blank lines are skipped; a later row for the same UID wins.
pub fn read_labels<R: io::Read>(input: R, path: &Path) -> Result<HashMap<String, bool>, TableError> {
    let has = |h: &csv::StringRecord, name: &str| h.iter().any(|c| c == name);
    let rows = read_rows(
        input,
        path,
        |h| has(h, "study_uid") && has(h, "cancer"),
        "a labels file (study_uid and cancer columns)",
        |headers, record, line| {
            let row: LabelRow =
                record.deserialize(Some(headers)).map_err(|e| field_error(path, headers, record, line, e))?;
            let cancer = match row.cancer.as_str() {
                "1" | "true" | "True" => true,
                "0" | "false" | "False" => false,
                _ => return Err(bad_field(path, headers, line, "cancer", row.cancer.clone())),
            };
            Ok((row.study_uid, cancer))
        },
    )?;
    Ok(rows.into_iter().collect())
}

/// One row of `scores.csv` as written: flags as `0`/`1`, unknowns as empty fields.
#[derive(Debug, Serialize, Deserialize)]
struct ScoreRow {
    study_uid: String,
    /// Written with 17 decimals, as `eval` always has, so the text round-trips the `f64`.
    #[serde(serialize_with = "seventeen_decimals")]
    exam_score: Option<f64>,
    category: Option<u8>,
    extra_high: u8,
    label: Option<u8>,
}

fn seventeen_decimals<S: Serializer>(score: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match score {
        Some(x) => s.serialize_str(&format!("{x:.17}")),
        None => s.serialize_none(),
    }
}

/// What each scores.csv column allows, for error messages.
fn allowed(column: &str) -> &'static str {
    match column {
        "exam_score" => "a number or an empty field",
        "category" => "a category 1–10 or an empty field",
        "extra_high" => "0 or 1",
        "label" => "0, 1 or an empty field",
        "cancer" => "0 or 1 (or true/false)",
        _ => "text",
    }
}

fn bad_field(path: &Path, headers: &csv::StringRecord, line: u64, name: &str, found: String) -> TableError {
    TableError::Field {
        path: path.to_path_buf(),
        line,
        column: headers.iter().position(|h| h == name).map_or(0, |i| i + 1),
        name: name.to_owned(),
        expected: allowed(name),
        found,
    }
}

/// A serde error of a row, located: csv reports the failing field's index.
fn field_error(
    path: &Path,
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
    line: u64,
    e: csv::Error,
) -> TableError {
    let index = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.field(),
        _ => None,
    };
    match index.and_then(|i| usize::try_from(i).ok()) {
        Some(i) => {
            let name = headers.get(i).unwrap_or_default();
            bad_field(path, headers, line, name, record.get(i).unwrap_or_default().to_owned())
        }
        None => TableError::Read { path: path.to_path_buf(), source: e },
    }
}

/// Reads a `scores.csv` written by `granska eval`: exactly the header [`SCORES_HEADER`], then
/// one exam per row. Blank lines are skipped.
pub fn read_scores<R: io::Read>(input: R, path: &Path) -> Result<Vec<ScoredExam>, TableError> {
    read_rows(
        input,
        path,
        |h| h.iter().eq(SCORES_HEADER),
        "`granska eval`'s scores.csv (study_uid,exam_score,category,extra_high,label)",
        |headers, record, line| {
            let row: ScoreRow =
                record.deserialize(Some(headers)).map_err(|e| field_error(path, headers, record, line, e))?;
            let bad = |name: &str, value: String| bad_field(path, headers, line, name, value);
            if let Some(c) = row.category.filter(|c| !(1..=10).contains(c)) {
                return Err(bad("category", c.to_string()));
            }
            let flag = |name: &str, v: u8| match v {
                0 => Ok(false),
                1 => Ok(true),
                other => Err(bad(name, other.to_string())),
            };
            Ok(ScoredExam {
                extra_high: flag("extra_high", row.extra_high)?,
                label: row.label.map(|l| flag("label", l)).transpose()?,
                study_uid: row.study_uid,
                exam_score: row.exam_score,
                category: row.category,
            })
        },
    )
}

/// Writes `rows` as `scores.csv`: the header [`SCORES_HEADER`], then one row per exam.
pub fn write_scores<W: io::Write>(out: W, rows: &[ScoredExam], path: &Path) -> Result<(), TableError> {
    write_rows(
        out,
        rows.iter().map(|r| ScoreRow {
            study_uid: r.study_uid.clone(),
            exam_score: r.exam_score,
            category: r.category,
            extra_high: u8::from(r.extra_high),
            label: r.label.map(u8::from),
        }),
        &SCORES_HEADER,
        path,
    )
}

/// One exam's score as `granska bench --scores-out` writes it, for comparisons with other
/// pipelines (`study_uid,exam_score,category`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchScore {
    /// Study Instance UID.
    pub study_uid: String,
    /// Exam score 0–1 with 17 decimals; empty when unscorable.
    #[serde(serialize_with = "seventeen_decimals")]
    pub exam_score: Option<f64>,
    /// Category 1–10; empty when unscorable.
    pub category: Option<u8>,
}

/// Writes the `bench --scores-out` file: a header, then one row per exam.
pub fn write_bench_scores<W: io::Write>(out: W, rows: &[BenchScore], path: &Path) -> Result<(), TableError> {
    write_rows(out, rows.iter(), &["study_uid", "exam_score", "category"], path)
}

/// Writes `header`, then `rows`. The header is written by hand because csv's serde writer
/// writes none when there are no rows, and an empty result is still a valid file.
fn write_rows<W: io::Write, T: Serialize>(
    out: W,
    rows: impl Iterator<Item = T>,
    header: &[&str],
    path: &Path,
) -> Result<(), TableError> {
    let write_err = |source| TableError::Write { path: path.to_path_buf(), source };
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(out);
    w.write_record(header).map_err(write_err)?;
    for row in rows {
        w.serialize(row).map_err(write_err)?;
    }
    w.flush().map_err(|e| write_err(e.into()))
}
