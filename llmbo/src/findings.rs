//! What a check of request bodies found: each broken rule with where, grouped by rule and
//! message over every record (the preflight's record checks write these; a refused run's
//! error carries them). A leaf, below the error type that holds it.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

/// How bad a finding is: an error refuses the run, a warning is reported (and refuses it in
/// strict mode, [`InfererBuilder::strict`](crate::builder::InfererBuilder::strict)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported; the run goes ahead.
    Warning,
    /// The record would fail (or the job would): the run is refused.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One request rule: its stable id (`sampling-combination`), how bad breaking it is, and what
/// it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Rule {
    /// The rule's id, stable across versions.
    pub id: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What the rule checks, in a sentence.
    pub about: &'static str,
}

/// One rule broken by one record's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Where in the record, as a JSON path from the line (`modelInput.messages[0].role`).
    pub path: String,
    /// What is wrong, without the record's text.
    pub message: String,
}

/// Where one finding was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingAt {
    /// The record's id.
    pub record_id: String,
    /// The JSON path in that record.
    pub path: String,
    /// The record's row in its input table, numbered from 0, once named
    /// ([`Findings::name_rows`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
}

/// The findings of one rule with one message, over every record: a count and the first ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingGroup {
    /// The rule's id.
    pub rule: &'static str,
    /// Error or warning (a warning in strict mode counts as an error).
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How many records break it.
    pub count: usize,
    /// The first records that do (at most [`Findings::EXAMPLES`]).
    pub first: Vec<FindingAt>,
}

/// Every finding of a set of records, grouped by rule and message, in the order first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// The groups, errors first, then by how many records they hold.
    pub groups: Vec<FindingGroup>,
    /// Whether warnings count as errors.
    pub strict: bool,
    #[serde(skip)]
    index: HashMap<(&'static str, String), usize>,
}

impl Findings {
    /// How many record ids each group keeps.
    pub const EXAMPLES: usize = 5;

    /// The record ids the groups show, each once: what to look up to name their rows.
    pub fn shown_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for at in self.groups.iter().flat_map(|group| &group.first) {
            if !ids.contains(&at.record_id.as_str()) {
                ids.push(&at.record_id);
            }
        }
        ids
    }

    /// Names the row of each record shown, from `rows` (a record id's row in its table).
    pub fn name_rows(&mut self, rows: &HashMap<String, usize>) {
        for at in self.groups.iter_mut().flat_map(|group| &mut group.first) {
            at.row = rows.get(&at.record_id).copied();
        }
    }

    /// No findings yet; with `strict`, warnings count as errors.
    pub fn new(strict: bool) -> Self {
        Findings {
            strict,
            ..Findings::default()
        }
    }

    /// Adds one record's findings.
    pub fn add(&mut self, record_id: &str, found: impl IntoIterator<Item = Finding>) {
        for finding in found {
            let key = (finding.rule.id, finding.message);
            let at = FindingAt {
                row: None,
                record_id: record_id.to_owned(),
                path: finding.path,
            };
            match self.index.get(&key) {
                Some(&i) => {
                    let group = &mut self.groups[i];
                    group.count += 1;
                    if group.first.len() < Self::EXAMPLES {
                        group.first.push(at);
                    }
                }
                None => {
                    let severity = if self.strict {
                        Severity::Error
                    } else {
                        finding.rule.severity
                    };
                    self.index.insert(key.clone(), self.groups.len());
                    self.groups.push(FindingGroup {
                        rule: finding.rule.id,
                        severity,
                        message: key.1,
                        count: 1,
                        first: vec![at],
                    });
                }
            }
        }
    }

    /// Sorts the groups: errors first, then the most frequent.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn sort(&mut self) {
        self.groups
            .sort_by(|a, b| b.severity.cmp(&a.severity).then(b.count.cmp(&a.count)));
        self.index.clear();
        for (i, group) in self.groups.iter().enumerate() {
            self.index.insert((group.rule, group.message.clone()), i);
        }
    }

    /// Whether any finding refuses the run.
    pub fn has_errors(&self) -> bool {
        self.groups.iter().any(|g| g.severity == Severity::Error)
    }

    /// How many findings there are of `severity`, over every record.
    pub fn count(&self, severity: Severity) -> usize {
        self.groups
            .iter()
            .filter(|g| g.severity == severity)
            .map(|g| g.count)
            .sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}[{}] {} record{}: {} (",
                group.severity,
                group.rule,
                group.count,
                if group.count == 1 { "" } else { "s" },
                group.message
            )?;
            for (j, at) in group.first.iter().enumerate() {
                if j > 0 {
                    f.write_str(", ")?;
                }
                match at.row {
                    Some(row) => write!(f, "{} (row {row}) at {}", at.record_id, at.path)?,
                    None => write!(f, "{} at {}", at.record_id, at.path)?,
                }
            }
            if group.count > group.first.len() {
                write!(f, ", and {} more", group.count - group.first.len())?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}
