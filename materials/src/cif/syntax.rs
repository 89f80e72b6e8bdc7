//! CIF 1.1 syntax: data blocks of tag–value pairs and loops.

use crate::ParseError;

/// A value as written: its text (quotes removed) and whether it was quoted.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    text: String,
    quoted: bool,
}

impl Value {
    /// The text, without quotes or text-field semicolons.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `?` (unknown) or `.` (inapplicable), unquoted.
    pub fn is_missing(&self) -> bool {
        !self.quoted && (self.text == "?" || self.text == ".")
    }

    /// The number, dropping a standard uncertainty: `5.431(2)` → 5.431.
    pub fn number(&self) -> Option<f64> {
        if self.is_missing() {
            return None;
        }
        let text = self.text.split('(').next()?;
        text.trim().parse().ok()
    }
}

/// One `data_` block: tags with single values, and loops of columns.
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub name: String,
    /// `(tag, value)`, tags in lower case.
    pub items: Vec<(String, Value)>,
    /// Each loop: tags (lower case) and one column of values per tag.
    pub loops: Vec<(Vec<String>, Vec<Vec<Value>>)>,
}

impl Block {
    /// A single-valued tag (case-insensitive), or the first value of a looped one.
    pub fn get(&self, tag: &str) -> Option<&Value> {
        let tag = tag.to_ascii_lowercase();
        self.items
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v)
            .or_else(|| self.column(&tag).and_then(|c| c.first()))
    }

    /// The column of a looped tag (case-insensitive).
    pub fn column(&self, tag: &str) -> Option<&[Value]> {
        let tag = tag.to_ascii_lowercase();
        self.loops.iter().find_map(|(tags, columns)| {
            tags.iter()
                .position(|t| *t == tag)
                .map(|i| columns[i].as_slice())
        })
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Data(String),
    Loop,
    Tag(String),
    Value(Value),
}

/// Most tokens (tags, values, `loop_`, `data_`) one CIF text may hold: 2²², some
/// thousands of structures of 100 sites in one file. A token and its copy in a block
/// take over 100 bytes, so a file of one-letter values would otherwise take 50 times
/// its own size; at the limit they take well under 1 GiB.
const MAX_TOKENS: usize = 1 << 22;

/// Splits CIF text into tokens with their line numbers, refusing more than
/// [`MAX_TOKENS`].
fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let mut tokens = Tokens::default();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let number = i + 1;
        if let Some(first) = line.strip_prefix(';') {
            // Text field: until a line starting with ';'.
            let mut field = first.to_string();
            let mut closed = false;
            for (_, next) in lines.by_ref() {
                if next.starts_with(';') {
                    closed = true;
                    break;
                }
                field.push('\n');
                field.push_str(next);
            }
            if !closed {
                return Err(ParseError::at(number, "unterminated ';' text field"));
            }
            tokens.push(
                number,
                Token::Value(Value {
                    text: field.trim().to_string(),
                    quoted: true,
                }),
            )?;
            continue;
        }
        // Delimiters are ASCII, so byte offsets found here are char boundaries.
        let bytes = line.as_bytes();
        let mut k = 0;
        while k < bytes.len() {
            let c = bytes[k];
            if c.is_ascii_whitespace() {
                k += 1;
            } else if c == b'#' {
                break;
            } else if c == b'\'' || c == b'"' {
                // A quote closes only when followed by whitespace or the line end.
                let start = k + 1;
                let mut end = start;
                while end < bytes.len()
                    && !(bytes[end] == c
                        && bytes.get(end + 1).is_none_or(|n| n.is_ascii_whitespace()))
                {
                    end += 1;
                }
                if end >= bytes.len() {
                    let q = c as char;
                    return Err(ParseError::at(
                        number,
                        format!("unterminated {q}quoted{q} value"),
                    ));
                }
                tokens.push(
                    number,
                    Token::Value(Value {
                        text: line[start..end].to_string(),
                        quoted: true,
                    }),
                )?;
                k = end + 1;
            } else {
                let start = k;
                while k < bytes.len() && !bytes[k].is_ascii_whitespace() {
                    k += 1;
                }
                let word = &line[start..k];
                // `get`: the fifth byte may fall inside a multi-byte character.
                let data_block = word
                    .get(..5)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("data_"));
                let token = if data_block {
                    Token::Data(word[5..].to_string())
                } else if word.eq_ignore_ascii_case("loop_") {
                    Token::Loop
                } else if word.starts_with('_') {
                    Token::Tag(word.to_ascii_lowercase())
                } else {
                    Token::Value(Value {
                        text: word.to_string(),
                        quoted: false,
                    })
                };
                tokens.push(number, token)?;
            }
        }
    }
    Ok(tokens.0)
}

/// Tokens with their line numbers, at most [`MAX_TOKENS`].
#[derive(Default)]
struct Tokens(Vec<(usize, Token)>);

impl Tokens {
    fn push(&mut self, line: usize, token: Token) -> Result<(), ParseError> {
        if self.0.len() == MAX_TOKENS {
            return Err(ParseError::at(
                line,
                format!("more than {MAX_TOKENS} tags and values, mmhost's limit for one CIF text"),
            ));
        }
        self.0.push((line, token));
        Ok(())
    }
}

/// Parses CIF text into its data blocks.
pub fn parse_blocks(text: &str) -> Result<Vec<Block>, ParseError> {
    let tokens = tokenize(text)?;
    let mut blocks: Vec<Block> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (line, token) = &tokens[i];
        match token {
            Token::Data(name) => {
                blocks.push(Block {
                    name: name.clone(),
                    ..Block::default()
                });
                i += 1;
            }
            _ if blocks.is_empty() => {
                return Err(ParseError::at(
                    *line,
                    "content before the first data_ block",
                ));
            }
            Token::Tag(tag) => {
                let Some((_, Token::Value(value))) = tokens.get(i + 1) else {
                    return Err(ParseError::at(*line, format!("{tag} has no value")));
                };
                if let Some(block) = blocks.last_mut() {
                    block.items.push((tag.clone(), value.clone()));
                }
                i += 2;
            }
            Token::Loop => {
                let mut tags = Vec::new();
                i += 1;
                while let Some((_, Token::Tag(tag))) = tokens.get(i) {
                    tags.push(tag.clone());
                    i += 1;
                }
                if tags.is_empty() {
                    return Err(ParseError::at(*line, "loop_ without tags"));
                }
                let mut values = Vec::new();
                while let Some((_, Token::Value(value))) = tokens.get(i) {
                    values.push(value.clone());
                    i += 1;
                }
                if values.len() % tags.len() != 0 {
                    return Err(ParseError::at(
                        *line,
                        format!(
                            "loop of {} tags holds {} values, not a multiple",
                            tags.len(),
                            values.len()
                        ),
                    ));
                }
                let mut columns = vec![Vec::with_capacity(values.len() / tags.len()); tags.len()];
                for (k, value) in values.into_iter().enumerate() {
                    columns[k % tags.len()].push(value);
                }
                if let Some(block) = blocks.last_mut() {
                    block.loops.push((tags, columns));
                }
            }
            Token::Value(value) => {
                return Err(ParseError::at(
                    *line,
                    format!("value '{}' without a tag", value.text()),
                ));
            }
        }
    }
    Ok(blocks)
}
