//! Prompt templates over a table's columns: `"Extract the parties from: {body}\nDated {date}"`.
//! `{name}` is the row's value in column `name`; `{{` and `}}` are literal braces.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Column(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; a brace that opens no `{name}` and is not doubled is an error naming
    /// where it is.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        match c {
                            '}' => {
                                closed = true;
                                break;
                            }
                            '{' => break,
                            c => name.push(c),
                        }
                    }
                    if !closed || name.trim().is_empty() {
                        return Err(format!(
                            "the template has a `{{` at byte {at} that names no column; write `{{{{` for a literal brace"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Column(name));
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                        "the template has a `}}` at byte {at} that closes nothing; write `}}}}` for a literal brace"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// A template of one column: the column's value as it is.
    pub(crate) fn column(name: &str) -> Template {
        Template {
            pieces: vec![Piece::Column(name.to_owned())],
        }
    }

    /// The columns it reads, each once, in order.
    pub(crate) fn columns(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for piece in &self.pieces {
            if let Piece::Column(name) = piece
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        }
        names
    }

    /// The text for one row; `value` gives a column's text (`None` for a null, which is
    /// written as nothing).
    pub(crate) fn render<'a>(&self, mut value: impl FnMut(&str) -> Option<&'a str>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Column(name) => out.push_str(value(name).unwrap_or("")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_braces_and_mistakes() -> Result<(), String> {
        let template =
            Template::parse("Extract from: {body}\nDated {date} {{not a column}} {body}")?;
        assert_eq!(template.columns(), ["body", "date"]);
        let text = template.render(|name| match name {
            "body" => Some("B"),
            _ => None,
        });
        assert_eq!(text, "Extract from: B\nDated  {not a column} B");
        for bad in ["{", "a {b", "a }", "{}", "{ }", "x {a{b}"] {
            let err = Template::parse(bad)
                .err()
                .ok_or(format!("`{bad}` parses"))?;
            assert!(err.contains("brace"), "{bad}: {err}");
        }
        assert_eq!(Template::parse("plain")?.columns(), Vec::<&str>::new());
        Ok(())
    }
}
