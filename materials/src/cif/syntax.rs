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

/// Most tokens (tags, values, `loop_`) one data block may hold: 2²², far more than a
/// structure of [`crate::MAX_SITES`] sites needs. A value kept in the block takes
/// over 50 bytes, so a block of one-letter values would otherwise take 25 times its
/// own size; at the limit it takes well under 1 GiB. Blocks are parsed one at a
/// time, so a text of many blocks holds one block's values at once.
const MAX_TOKENS: usize = 1 << 22;

/// Splits CIF text into tokens with their line numbers, one at a time.
struct Tokenizer<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    /// The line being split: its number, its text and the byte offset reached.
    line: Option<(usize, &'a str, usize)>,
}

impl<'a> Tokenizer<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            lines: text.lines().enumerate(),
            line: None,
        }
    }

    /// The next token and its line number; `None` at the end of the text.
    fn next_token(&mut self) -> Result<Option<(usize, Token)>, ParseError> {
        loop {
            let (number, line, offset) = match self.line {
                Some(current) => current,
                None => {
                    let Some((i, line)) = self.lines.next() else {
                        return Ok(None);
                    };
                    let number = i + 1;
                    if let Some(first) = line.strip_prefix(';') {
                        return self.text_field(number, first).map(Some);
                    }
                    (number, line, 0)
                }
            };
            match token_in_line(number, line, offset)? {
                Some((token, end)) => {
                    self.line = Some((number, line, end));
                    return Ok(Some((number, token)));
                }
                None => self.line = None,
            }
        }
    }

    /// A `;` text field opened on line `number` with `first` after the `;`: the
    /// lines up to the next one starting with `;`.
    fn text_field(&mut self, number: usize, first: &str) -> Result<(usize, Token), ParseError> {
        let mut field = first.to_string();
        for (_, next) in self.lines.by_ref() {
            if next.starts_with(';') {
                let value = Value {
                    text: field.trim().to_string(),
                    quoted: true,
                };
                return Ok((number, Token::Value(value)));
            }
            field.push('\n');
            field.push_str(next);
        }
        Err(ParseError::at(number, "unterminated ';' text field"))
    }
}

/// The first token of `line` (line `number`) at or after byte `offset`, and the byte
/// after it; `None` where only whitespace or a comment is left.
fn token_in_line(
    number: usize,
    line: &str,
    offset: usize,
) -> Result<Option<(Token, usize)>, ParseError> {
    // Delimiters are ASCII, so byte offsets found here are char boundaries.
    let bytes = line.as_bytes();
    let mut k = offset;
    while k < bytes.len() && bytes[k].is_ascii_whitespace() {
        k += 1;
    }
    let Some(&c) = bytes.get(k) else {
        return Ok(None);
    };
    if c == b'#' {
        return Ok(None);
    }
    if c == b'\'' || c == b'"' {
        // A quote closes only when followed by whitespace or the line end.
        let start = k + 1;
        let mut end = start;
        while end < bytes.len()
            && !(bytes[end] == c && bytes.get(end + 1).is_none_or(|n| n.is_ascii_whitespace()))
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
        let value = Value {
            text: line[start..end].to_string(),
            quoted: true,
        };
        return Ok(Some((Token::Value(value), end + 1)));
    }
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
    Ok(Some((token, k)))
}

/// The data blocks of CIF text, parsed one at a time (see [`blocks`]).
pub struct Blocks<'a> {
    tokens: Tokenizer<'a>,
    /// A token read past the end of a loop or block, to be taken next.
    pending: Option<(usize, Token)>,
    /// Tokens taken for the block being parsed, at most [`MAX_TOKENS`].
    taken: usize,
    /// Set after the last block or the first error.
    finished: bool,
}

/// The data blocks of CIF text in order, each parsed when asked for, so only one
/// block's tokens are held at once; iteration ends after the first error.
pub fn blocks(text: &str) -> Blocks<'_> {
    Blocks {
        tokens: Tokenizer::new(text),
        pending: None,
        taken: 0,
        finished: false,
    }
}

impl Iterator for Blocks<'_> {
    type Item = Result<Block, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let block = self.block().transpose();
        if !matches!(block, Some(Ok(_))) {
            self.finished = true;
        }
        block
    }
}

impl Blocks<'_> {
    /// The next token, counted against [`MAX_TOKENS`] for data block `block` unless
    /// it opens the next block.
    fn take(&mut self, block: &str) -> Result<Option<(usize, Token)>, ParseError> {
        let next = match self.pending.take() {
            Some(token) => Some(token),
            None => self.tokens.next_token()?,
        };
        if let Some((line, token)) = &next {
            if !matches!(token, Token::Data(_)) {
                self.taken += 1;
            }
            if self.taken > MAX_TOKENS {
                return Err(ParseError::at(
                    *line,
                    format!(
                        "more than {MAX_TOKENS} tags and values in data_{block}, mmhost's \
                         limit for one data block"
                    ),
                ));
            }
        }
        Ok(next)
    }

    /// The next token if `wanted` accepts it; otherwise `None`, the token left to be
    /// taken next.
    fn take_if(
        &mut self,
        block: &str,
        wanted: impl Fn(&Token) -> bool,
    ) -> Result<Option<(usize, Token)>, ParseError> {
        if self.pending.is_none() {
            self.pending = self.tokens.next_token()?;
        }
        match &self.pending {
            Some((_, token)) if wanted(token) => self.take(block),
            _ => Ok(None),
        }
    }

    /// The next block, `None` at the end of the text.
    fn block(&mut self) -> Result<Option<Block>, ParseError> {
        self.taken = 0;
        let Some((line, token)) = self.take("")? else {
            return Ok(None);
        };
        let Token::Data(name) = token else {
            return Err(ParseError::at(line, "content before the first data_ block"));
        };
        let mut block = Block {
            name,
            ..Block::default()
        };
        while let Some((line, token)) = self.take(&block.name)? {
            match token {
                Token::Data(_) => {
                    self.pending = Some((line, token));
                    break;
                }
                Token::Tag(tag) => match self.take(&block.name)? {
                    Some((_, Token::Value(value))) => block.items.push((tag, value)),
                    _ => return Err(ParseError::at(line, format!("{tag} has no value"))),
                },
                Token::Loop => {
                    let looped = self.looped(line, &block.name)?;
                    block.loops.push(looped);
                }
                Token::Value(value) => {
                    return Err(ParseError::at(
                        line,
                        format!("value '{}' without a tag", value.text()),
                    ));
                }
            }
        }
        Ok(Some(block))
    }

    /// The tags and columns of a loop opened by `loop_` on `line` in data block
    /// `block`; the token after its last value is left to be taken.
    fn looped(
        &mut self,
        line: usize,
        block: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), ParseError> {
        let mut tags = Vec::new();
        while let Some((_, Token::Tag(tag))) =
            self.take_if(block, |t| matches!(t, Token::Tag(_)))?
        {
            tags.push(tag);
        }
        if tags.is_empty() {
            return Err(ParseError::at(line, "loop_ without tags"));
        }
        let mut values = Vec::new();
        while let Some((_, Token::Value(value))) =
            self.take_if(block, |t| matches!(t, Token::Value(_)))?
        {
            values.push(value);
        }
        if values.len() % tags.len() != 0 {
            return Err(ParseError::at(
                line,
                format!(
                    "loop of {} tags holds {} values, not a multiple",
                    tags.len(),
                    values.len()
                ),
            ));
        }
        let rows = values.len() / tags.len();
        let mut columns: Vec<Vec<Value>> =
            (0..tags.len()).map(|_| Vec::with_capacity(rows)).collect();
        for (k, value) in values.into_iter().enumerate() {
            columns[k % tags.len()].push(value);
        }
        Ok((tags, columns))
    }
}

impl std::iter::FusedIterator for Blocks<'_> {}

#[cfg(test)]
mod tests {
    use super::{blocks, MAX_TOKENS};

    /// A block of one loop holding `values` values, then a second block.
    fn loop_then_block(values: usize) -> String {
        format!("data_a\nloop_\n_x\n{}data_b\n_y 1\n", "1\n".repeat(values))
    }

    #[test]
    fn a_block_holds_up_to_the_token_limit() {
        // `loop_` and `_x` are two of the block's tokens; `data_` lines are not counted.
        let text = loop_then_block(MAX_TOKENS - 2);
        let parsed: Vec<_> = blocks(&text).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].loops[0].1[0].len(), MAX_TOKENS - 2);
        assert_eq!(parsed[1].get("_y").map(|v| v.text()), Some("1"));

        let text = loop_then_block(MAX_TOKENS - 1);
        let mut parsed = blocks(&text);
        let error = parsed.next().unwrap().unwrap_err().to_string();
        assert!(
            error.contains("more than 4194304 tags and values in data_a"),
            "{error}"
        );
        assert!(parsed.next().is_none(), "iteration ends after an error");
    }
}
