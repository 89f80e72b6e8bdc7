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

/// Most tokens (tags, values, `loop_`, `data_`) one data block may hold: 2²², a
/// structure of thousands of sites with dozens of tags each. A token and its copy in
/// the block take over 100 bytes, so a block of one-letter values would otherwise take
/// 50 times its own size; at the limit they take well under 1 GiB. Blocks are parsed
/// one at a time, so a text of many blocks holds one block's tokens at once.
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
    /// The next token, left to be taken.
    fn peek(&mut self) -> Result<Option<&(usize, Token)>, ParseError> {
        if self.pending.is_none() {
            self.pending = self.tokens.next_token()?;
        }
        Ok(self.pending.as_ref())
    }

    /// The next token, counted against [`MAX_TOKENS`] for data block `block`.
    fn take(&mut self, block: &str) -> Result<Option<(usize, Token)>, ParseError> {
        self.peek()?;
        let next = self.pending.take();
        if let Some((line, _)) = &next {
            self.taken += 1;
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

    /// The next token of data block `block`: `None` at the next `data_` (left to
    /// be taken) or at the end of the text.
    fn take_in_block(&mut self, block: &str) -> Result<Option<(usize, Token)>, ParseError> {
        if matches!(self.peek()?, None | Some((_, Token::Data(_)))) {
            return Ok(None);
        }
        self.take(block)
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
        while let Some((line, token)) = self.take_in_block(&block.name)? {
            match token {
                Token::Tag(tag) => match self.take_in_block(&block.name)? {
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
                // take_in_block leaves the next block's data_ to be taken
                Token::Data(_) => break,
            }
        }
        Ok(Some(block))
    }

    /// The tags and columns of a loop opened by `loop_` on `line` in data block
    /// `block`, up to the token after its last value, which is left to be taken.
    fn looped(
        &mut self,
        line: usize,
        block: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), ParseError> {
        let mut tags = Vec::new();
        let mut values = Vec::new();
        loop {
            let part_of_loop = match self.peek()? {
                Some((_, Token::Tag(_))) => values.is_empty(),
                Some((_, Token::Value(_))) => !tags.is_empty(),
                _ => false,
            };
            if !part_of_loop {
                break;
            }
            match self.take(block)? {
                Some((_, Token::Tag(tag))) => tags.push(tag),
                Some((_, Token::Value(value))) => values.push(value),
                _ => break,
            }
        }
        if tags.is_empty() {
            return Err(ParseError::at(line, "loop_ without tags"));
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
        let mut columns = vec![Vec::with_capacity(values.len() / tags.len()); tags.len()];
        for (k, value) in values.into_iter().enumerate() {
            columns[k % tags.len()].push(value);
        }
        Ok((tags, columns))
    }
}
