//! Generator stage: the pattern languages ApplicationSet generators use:
//!
//! * [`path_match`]: Go's `path.Match`, for the git directories generator;
//! * [`pathspec_match`]: what `git ls-files -- <pattern>` selects, for the git files generator
//!   (Argo CD's default);
//! * [`Doublestar`] and [`clean_glob`]: `github.com/bmatcuk/doublestar/v4` globs relative to the
//!   repository root, for the git files generator under Argo CD's
//!   `--enable-new-git-file-globbing`;
//! * [`branch_match`]: `path.Match` plus `**` segments, for branch globs.
//!
//! Everything here is pure: no I/O, no global state, and no panics on any input.

/// A malformed pattern; the message is that of Go's `path.ErrBadPattern`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `path.Match`: whether `name` matches the shell pattern `pattern`.
///
/// `*` matches any run of non-`/` characters, `?` one non-`/` character, `[...]` a character
/// class (ranges, `^` negation) and `\` escapes the next character. As in Go 1.16+, a malformed
/// pattern is an error whatever `name` is.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    validate(pattern.as_bytes())?;
    let (mut pattern, mut name) = (pattern.as_bytes(), name.as_bytes());
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it holds a `/`.
            return Ok(!name.contains(&b'/'));
        }
        // Go takes the first match of each chunk and never backtracks into earlier chunks.
        if let Some(t) = match_chunk(chunk, name)?
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        if star {
            for i in 0..name.iter().position(|&b| b == b'/').unwrap_or(name.len()) {
                if let Some(t) = match_chunk(chunk, name.get(i + 1..).unwrap_or_default())?
                    && (t.is_empty() || !pattern.is_empty())
                {
                    name = t;
                    continue 'chunks;
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Checks every chunk of a `path.Match` pattern the way Go does after a mismatch.
fn validate(mut pattern: &[u8]) -> Result<(), BadPattern> {
    while !pattern.is_empty() {
        let (_, chunk, rest) = scan_chunk(pattern);
        match_chunk(chunk, b"")?;
        pattern = rest;
    }
    Ok(())
}

/// Go's `scanChunk`: leading stars, then the chunk up to the next unbracketed `*`, then the rest.
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|&&b| b == b'*').count();
    let p = pattern.get(stars..).unwrap_or_default();
    let (mut i, mut in_range) = (0, false);
    while let Some(&b) = p.get(i) {
        match b {
            b'\\' if i + 1 < p.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    let (chunk, rest) = p.split_at(i.min(p.len()));
    (stars > 0, chunk, rest)
}

/// Go's `matchChunk`: the rest of `s` after `chunk` matched a prefix of it, `None` on mismatch.
/// The whole chunk is always parsed, so a malformed one is an error even after a mismatch.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, BadPattern> {
    let mut failed = false;
    while let Some((&c, after)) = chunk.split_first() {
        failed |= s.is_empty();
        chunk = after;
        match c {
            b'[' => {
                let mut r = '\0';
                if !failed {
                    let (ch, n) = decode(s);
                    (r, s) = (ch, s.get(n..).unwrap_or_default());
                }
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = chunk.get(1..).unwrap_or_default();
                }
                let (mut matched, mut ranges) = (false, 0);
                loop {
                    if let Some((b']', after)) = chunk.split_first()
                        && ranges > 0
                    {
                        chunk = after;
                        break;
                    }
                    let (lo, after) = get_esc(chunk)?;
                    let (hi, after) = match after.split_first() {
                        Some((b'-', after)) => get_esc(after)?,
                        _ => (lo, after),
                    };
                    chunk = after;
                    matched |= lo <= r && r <= hi;
                    ranges += 1;
                }
                failed |= matched == negated;
            }
            b'?' => {
                if !failed {
                    failed = s.first() == Some(&b'/');
                    s = s.get(decode(s).1..).unwrap_or_default();
                }
            }
            _ => {
                let lit = if c == b'\\' {
                    let (&lit, after) = chunk.split_first().ok_or(BadPattern)?;
                    chunk = after;
                    lit
                } else {
                    c
                };
                if !failed {
                    failed = s.first() != Some(&lit);
                    s = s.get(1..).unwrap_or_default();
                }
            }
        }
    }
    Ok((!failed).then_some(s))
}

/// Go's `getEsc`: one possibly escaped character of a class, which must be followed by more.
fn get_esc(chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    let chunk = match chunk.split_first() {
        None | Some((b'-' | b']', _) | (b'\\', [])) => return Err(BadPattern),
        Some((b'\\', after)) => after,
        Some(_) => chunk,
    };
    let (r, n) = decode(chunk);
    let rest = chunk.get(n..).unwrap_or_default();
    if (r == char::REPLACEMENT_CHARACTER && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `utf8.DecodeRune`: the first character and its length, `(U+FFFD, 1)` for invalid UTF-8
/// and `(U+FFFD, 0)` for empty input.
fn decode(b: &[u8]) -> (char, usize) {
    match b.utf8_chunks().next().and_then(|c| c.valid().chars().next()) {
        Some(c) => (c, c.len_utf8()),
        None => (char::REPLACEMENT_CHARACTER, b.len().min(1)),
    }
}

/// Whether `git ls-files --full-name -- <pattern>` run at the repository root lists `path`.
///
/// The pattern is first normalised like git does (empty and `.` components dropped, `..`
/// resolved); what remains empty (`""`, `.`, `./`) selects everything, and an absolute pattern or
/// one leaving the repository (which git refuses) selects nothing. A pattern selects the path
/// equal to it and, as a directory, everything below it. A pattern with glob characters
/// (`*?[\`) also selects paths matched by git's `wildmatch` without `WM_PATHNAME`: `*` and `?`
/// cross `/`, classes take `!` or `^` negation, ranges and `[:alpha:]`-style names. Malformed
/// patterns select nothing beyond the literal rule. Magic pathspecs (`:(glob)…`) are not supported.
pub fn pathspec_match(pattern: &str, path: &str) -> bool {
    let Some(pattern) = clean_pathspec(pattern) else {
        return false;
    };
    if pattern.is_empty() {
        return true;
    }
    if path
        .strip_prefix(pattern.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || pattern.ends_with('/'))
    {
        return true;
    }
    pattern.contains(['*', '?', '[', '\\']) && wildmatch(pattern.as_bytes(), path.as_bytes())
}

/// Git's `normalize_path_copy` of a pathspec: empty and `.` components dropped, `..` resolved and
/// a trailing `/` kept; `None` for an absolute pattern or one leaving the repository.
fn clean_pathspec(pattern: &str) -> Option<String> {
    if pattern.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    let mut cleaned = parts.join("/");
    if !cleaned.is_empty() && matches!(pattern.rsplit('/').next(), Some("" | "." | "..")) {
        cleaned.push('/');
    }
    Some(cleaned)
}

/// Git's `wildmatch` without flags (no `WM_PATHNAME`), byte by byte. There `*` and `**` both match
/// any bytes including `/`, so instead of git's recursion it is enough to backtrack to the last
/// `*`, which keeps the stack flat and the time within O(pattern × text). A malformed class
/// makes git abort, which is a mismatch.
fn wildmatch(p: &[u8], text: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut last_star = None;
    loop {
        if p.get(pi) == Some(&b'*') {
            while p.get(pi) == Some(&b'*') {
                pi += 1;
            }
            last_star = Some((pi, ti));
            continue;
        }
        let matched = match (p.get(pi), text.get(ti)) {
            (None, None) => return true,
            (Some(b'?'), Some(_)) => true,
            (Some(b'['), Some(&tc)) => match wild_class(p, &mut pi, tc) {
                Some(matched) => matched,
                None => return false,
            },
            (Some(b'\\'), Some(tc)) => {
                pi += 1;
                p.get(pi) == Some(tc)
            }
            (Some(pc), Some(tc)) => pc == tc,
            _ => false,
        };
        if matched {
            pi += 1;
            ti += 1;
            continue;
        }
        match last_star {
            Some((star_pi, star_ti)) if star_ti < text.len() => {
                last_star = Some((star_pi, star_ti + 1));
                (pi, ti) = (star_pi, star_ti + 1);
            }
            _ => return false,
        }
    }
}

/// Matches `tc` against the class opening at `p[*pi]`, leaving `*pi` on its closing `]`;
/// `None` for a malformed class.
fn wild_class(p: &[u8], pi: &mut usize, tc: u8) -> Option<bool> {
    let at = |i: usize| p.get(i).copied().unwrap_or(0);
    *pi += 1;
    let negated = matches!(at(*pi), b'!' | b'^');
    if negated {
        *pi += 1;
    }
    let (mut pc, mut prev, mut matched, mut first) = (at(*pi), 0u8, false, true);
    loop {
        if !first {
            prev = pc;
            *pi += 1;
            pc = at(*pi);
            if pc == b']' {
                break;
            }
        }
        first = false;
        if pc == 0 {
            return None;
        }
        if pc == b'\\' {
            *pi += 1;
            pc = at(*pi);
            if pc == 0 {
                return None;
            }
            matched |= tc == pc;
        } else if pc == b'-' && prev != 0 && !matches!(at(*pi + 1), 0 | b']') {
            *pi += 1;
            pc = at(*pi);
            if pc == b'\\' {
                *pi += 1;
                pc = at(*pi);
                if pc == 0 {
                    return None;
                }
            }
            matched |= prev <= tc && tc <= pc;
            pc = 0;
        } else if pc == b'[' && at(*pi + 1) == b':' {
            let start = *pi + 2;
            *pi = start;
            while !matches!(at(*pi), 0 | b']') {
                *pi += 1;
            }
            if at(*pi) == 0 {
                return None;
            }
            if *pi == start || at(*pi - 1) != b':' {
                // No `:]`: the `[` is an ordinary member.
                *pi = start - 2;
                pc = b'[';
                matched |= tc == b'[';
                continue;
            }
            matched |= match p.get(start..*pi - 1)? {
                b"alnum" => tc.is_ascii_alphanumeric(),
                b"alpha" => tc.is_ascii_alphabetic(),
                b"blank" => matches!(tc, b' ' | b'\t'),
                b"cntrl" => tc.is_ascii_control(),
                b"digit" => tc.is_ascii_digit(),
                b"graph" => tc.is_ascii_graphic(),
                b"lower" => tc.is_ascii_lowercase(),
                b"print" => tc.is_ascii_graphic() || tc == b' ',
                b"punct" => tc.is_ascii_punctuation(),
                b"space" => matches!(tc, b' ' | b'\t'..=b'\r'),
                b"upper" => tc.is_ascii_uppercase(),
                b"xdigit" => tc.is_ascii_hexdigit(),
                _ => return None,
            };
            pc = 0;
        } else {
            matched |= tc == pc;
        }
    }
    Some(matched != negated)
}

/// Whether `branch` matches a branch glob.
///
/// The syntax is [`path_match`]'s (`*` and `?` stay within one `/`-separated segment, classes,
/// escapes) plus `**` standing alone as a segment, which matches zero or more whole segments:
/// `release/**` matches `release/1.0` and `release/a/b`, `feature/**/fix-*` matches
/// `feature/fix-1` and `feature/x/y/fix-1`, and `**` matches everything. A segment of more
/// stars (`***`) is the same as `**`; stars inside a segment (`a**b`) are a plain `*`. A malformed pattern is an error whatever `branch` is.
///
/// Without a `**` segment it gives `path_match`'s answer with one exception: Go's `path.Match`
/// takes the first place each star-separated chunk matches and never tries a later one, so a
/// class that matches `/` can make it miss a match: `*[/a]*c` against `xa/c` takes the `a`
/// for the class, and the second `*` cannot cross the `/` that is left, so `path.Match` says no.
/// This matcher tries every place (the class takes the `/`), so it says yes: it finds every
/// match the pattern describes.
pub fn branch_match(pattern: &str, branch: &str) -> Result<bool, BadPattern> {
    validate(pattern.as_bytes())?;
    let tokens = tokenize(pattern.as_bytes())?;
    let text: Vec<char> = branch.chars().collect();
    // `next[j]`: the tokens after the current one match `text[j..]`.
    let mut next = vec![false; text.len() + 1];
    next[text.len()] = true;
    for token in tokens.iter().rev() {
        let mut cur = vec![false; text.len() + 1];
        let mut dirs = false;
        for j in (0..=text.len()).rev() {
            let c = text.get(j).copied();
            cur[j] = match token {
                Token::Star => next[j] || (c.is_some_and(|c| c != '/') && cur[j + 1]),
                Token::Dirs => {
                    dirs |= c == Some('/') && next[j + 1];
                    next[j] || dirs
                }
                Token::Rest => true,
                single => c.is_some_and(|c| single.matches(c)) && next[j + 1],
            };
        }
        next = cur;
    }
    Ok(next[0])
}

/// One element of a branch glob.
#[derive(Debug)]
enum Token {
    /// A character matching itself.
    Lit(char),
    /// `?`: one character other than `/`.
    Any,
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/` at the start of a segment: nothing, or anything ending in `/`.
    Dirs,
    /// `**` as the last segment: anything.
    Rest,
}

impl Token {
    /// Whether a single-character token matches `c`.
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Lit(l) => c == *l,
            Token::Any => c != '/',
            Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
            Token::Star | Token::Dirs | Token::Rest => false,
        }
    }
}

/// Splits a validated branch glob into tokens.
fn tokenize(p: &[u8]) -> Result<Vec<Token>, BadPattern> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = p.get(i) {
        let token = match b {
            b'*' => {
                let run = p[i..].iter().take_while(|&&b| b == b'*').count();
                i += run;
                let segment_start = matches!(tokens.last(), None | Some(Token::Lit('/') | Token::Dirs));
                match p.get(i) {
                    _ if run < 2 || !segment_start => Token::Star,
                    None => Token::Rest,
                    Some(b'/') => {
                        i += 1;
                        Token::Dirs
                    }
                    Some(_) => Token::Star,
                }
            }
            b'?' => {
                i += 1;
                Token::Any
            }
            b'[' => {
                let mut rest = p.get(i + 1..).unwrap_or_default();
                let negated = rest.first() == Some(&b'^');
                if negated {
                    rest = rest.get(1..).unwrap_or_default();
                }
                let mut ranges = Vec::new();
                while rest.first() != Some(&b']') || ranges.is_empty() {
                    let (lo, after) = get_esc(rest)?;
                    let (hi, after) = match after.split_first() {
                        Some((b'-', after)) => get_esc(after)?,
                        _ => (lo, after),
                    };
                    ranges.push((lo, hi));
                    rest = after;
                }
                i = p.len() - rest.len() + 1;
                Token::Class { negated, ranges }
            }
            _ => {
                let escaped = usize::from(b == b'\\');
                let (c, n) = decode(p.get(i + escaped..).unwrap_or_default());
                if n == 0 {
                    return Err(BadPattern);
                }
                i += escaped + n;
                Token::Lit(c)
            }
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// Go's `path.Join(root, pattern)` made relative to `root`: what Argo CD's repo server globs
/// under `--enable-new-git-file-globbing` (it globs `filepath.Join(repoRoot, pattern)`).
///
/// Empty and `.` components are dropped and `..` resolved lexically (also after glob
/// characters: `a/*/../b` is `a/b`), a leading `/` is ignored (the pattern stays under the root)
/// and a trailing `/` dropped. `Some("")` is the repository root itself; `None` a pattern that
/// leaves the repository (Argo CD drops every path it finds there).
pub fn clean_glob(pattern: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// How many alternatives (`{a,b}` branches) one [`Doublestar::is_match`] may try. Each one is
/// a match of the rest of the pattern, and groups multiply (`{a,b}{c,d}…`), so a hostile pattern
/// could otherwise take exponential time.
const MAX_ALTERNATIVES: usize = 10_000;

/// A doublestar pattern tried more alternatives than [`MAX_ALTERNATIVES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern too complex: more than {MAX_ALTERNATIVES} {{a,b}} alternatives to try for one path")]
pub struct TooComplex;

/// A validated glob of `github.com/bmatcuk/doublestar/v4` (the version Argo CD uses), matched
/// against `/`-separated repository paths as its `Glob` does:
///
/// * `*` matches any run of characters other than `/`, `?` one character other than `/`;
/// * `**` standing alone as a segment matches zero or more directories (`**/config.json`
///   matches `config.json` and `a/b/config.json`; `a/**` matches `a` and everything below it);
///   elsewhere (`a**b`) it is a plain `*`;
/// * `[abc]`, `[a-z]`, `[^…]` / `[!…]` match one character other than `/` (a `-` first or last
///   is literal, as in bash);
/// * `{alt1,alt2}` alternatives, which may nest, contain `/` or be empty;
/// * `\\` escapes the next character.
///
/// Hidden files and directories get no special treatment: `*` matches `.github`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doublestar(String);

impl Doublestar {
    /// Validate `pattern` (doublestar's `ValidatePattern`: classes closed and non-empty,
    /// braces balanced, no trailing `\\`).
    pub fn new(pattern: &str) -> Result<Self, BadPattern> {
        if doublestar_valid(pattern.as_bytes()) {
            Ok(Doublestar(pattern.to_string()))
        } else {
            Err(BadPattern)
        }
    }

    /// Whether `name`, a `/`-separated path relative to the repository root, matches.
    pub fn is_match(&self, name: &str) -> Result<bool, TooComplex> {
        let mut budget = MAX_ALTERNATIVES;
        ds_match(&self.0, name, Backtrack::default(), 0, 0, &mut budget)
    }

    /// Whether the pattern selects the repository root itself, as doublestar's `Glob` does for
    /// the root (`""`) and for patterns made only of `**` segments (`**`, `**/**`).
    pub fn selects_root(&self) -> bool {
        self.0.is_empty() || self.0.split('/').all(|s| s == "**")
    }
}

/// doublestar's `doValidatePattern` with `/` as the separator.
fn doublestar_valid(s: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' => {
                i += 1;
                if i >= s.len() {
                    return false;
                }
            }
            b'[' => {
                i += 1;
                if matches!(s.get(i), Some(b'^' | b'!')) {
                    i += 1;
                }
                if matches!(s.get(i), None | Some(b']')) {
                    return false;
                }
                loop {
                    match s.get(i) {
                        None => return false,
                        Some(b'\\') => i += 2,
                        Some(b']') => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'{' => depth += 1,
            b'}' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

/// Where doublestar's matcher goes back to after a mismatch (its four backtrack indices).
#[derive(Debug, Clone, Copy, Default)]
struct Backtrack {
    /// Pattern index after the last `**/`, and the name index it is being tried at.
    doublestar: Option<(usize, usize)>,
    /// Pattern index after the last `*`, and the name index it is being tried at.
    star: Option<(usize, usize)>,
}

/// The first character of `s[i..]` and its length (`(U+FFFD, 0)` past the end).
fn char_at(s: &str, i: usize) -> (char, usize) {
    s.get(i..)
        .and_then(|t| t.chars().next())
        .map_or((char::REPLACEMENT_CHARACTER, 0), |c| (c, c.len_utf8()))
}

/// doublestar's `doMatchWithSeparator` for `/` on a validated pattern, except that a class never
/// matches `/` (its `Glob` matches one path segment at a time, so it cannot).
fn ds_match(
    pat: &str,
    name: &str,
    mut bt: Backtrack,
    mut pi: usize,
    mut ni: usize,
    budget: &mut usize,
) -> Result<bool, TooComplex> {
    let p = pat.as_bytes();
    let mut start_of_segment = true;
    'chars: while ni < name.len() {
        if let Some(&b) = p.get(pi) {
            match b {
                b'*' => {
                    pi += 1;
                    if p.get(pi) == Some(&b'*') {
                        pi += 1;
                        if start_of_segment {
                            match p.get(pi) {
                                // The pattern ends in `/**` (or is `**`): anything below.
                                None => return Ok(true),
                                Some(b'/') => {
                                    pi += 1;
                                    bt.doublestar = Some((pi, ni));
                                    bt.star = None;
                                    continue;
                                }
                                Some(_) => {}
                            }
                        }
                    }
                    start_of_segment = false;
                    bt.star = Some((pi, ni));
                    continue;
                }
                b'?' => {
                    start_of_segment = false;
                    let (c, n) = char_at(name, ni);
                    if c != '/' {
                        pi += 1;
                        ni += n;
                        continue;
                    }
                }
                b'[' => {
                    start_of_segment = false;
                    pi += 1;
                    let (c, n) = char_at(name, ni);
                    let negate = matches!(p.get(pi), Some(b'!' | b'^'));
                    if negate {
                        pi += 1;
                    }
                    let mut matched = false;
                    let mut last: Option<char> = None;
                    while pi < p.len() && p[pi] != b']' {
                        let (mut pc, pn) = char_at(pat, pi);
                        pi += pn;
                        if let Some(lo) = last
                            && pc == '-'
                            && pi < p.len()
                            && p[pi] != b']'
                        {
                            if p[pi] == b'\\' {
                                pi += 1;
                            }
                            let (hi, hn) = char_at(pat, pi);
                            pi += hn;
                            if lo <= c && c <= hi {
                                matched = true;
                                break;
                            }
                            last = None;
                            continue;
                        }
                        if pc == '\\' {
                            let (escaped, en) = char_at(pat, pi);
                            pc = escaped;
                            pi += en;
                        }
                        if pc == c {
                            matched = true;
                            break;
                        }
                        last = Some(pc);
                    }
                    if matched != negate && c != '/' {
                        // Skip to the class's closing `]` (validation guarantees one).
                        let mut j = pi;
                        while j < p.len() && p[j] != b']' {
                            j += if p[j] == b'\\' { 2 } else { 1 };
                        }
                        pi = j + 1;
                        ni += n;
                        continue;
                    }
                }
                b'{' => {
                    // Each alternative is matched afresh from here (a new segment, as in Go).
                    let before = pi;
                    pi += 1;
                    let Some(close) = closing_alt(&p[pi..]).map(|c| c + pi) else {
                        return Ok(false);
                    };
                    loop {
                        *budget = budget.checked_sub(1).ok_or(TooComplex)?;
                        let end = next_alt(&p[pi..close]).map(|c| c + pi);
                        let alt = format!(
                            "{}{}{}",
                            &pat[..before],
                            &pat[pi..end.unwrap_or(close)],
                            &pat[close + 1..]
                        );
                        let matched = ds_match(&alt, name, bt, before, ni, budget)?;
                        match end {
                            Some(comma) if !matched => pi = comma + 1,
                            _ => return Ok(matched),
                        }
                    }
                }
                _ => {
                    let escaped = b == b'\\';
                    let at = pi + usize::from(escaped);
                    let (pc, pn) = char_at(pat, at);
                    let (c, n) = char_at(name, ni);
                    if pc == c && pn > 0 {
                        pi = at + pn;
                        ni += n;
                        start_of_segment = pc == '/';
                        continue;
                    }
                }
            }
        }
        // Mismatch (or the pattern ended first): retry the last `*` one character further,
        // within its segment; else the last `**/` one segment further.
        if let Some((sp, sn)) = bt.star {
            let (c, n) = char_at(name, sn);
            if c != '/' {
                bt.star = Some((sp, sn + n));
                (pi, ni) = (sp, sn + n);
                start_of_segment = false;
                continue;
            }
        }
        if let Some((dp, dn)) = bt.doublestar {
            ni = dn;
            while ni < name.len() {
                let (c, n) = char_at(name, ni);
                ni += n;
                if c == '/' {
                    bt.doublestar = Some((dp, ni));
                    pi = dp;
                    start_of_segment = true;
                    continue 'chars;
                }
            }
        }
        return Ok(false);
    }
    zero_length(pat.get(pi..).unwrap_or_default(), budget)
}

/// doublestar's `isZeroLengthPattern`: whether what is left of the pattern matches an empty
/// rest of the name (`a/**` matches `a`: `a` may be a directory).
fn zero_length(rest: &str, budget: &mut usize) -> Result<bool, TooComplex> {
    if matches!(rest, "" | "*" | "**" | "/**" | "**/" | "/**/") {
        return Ok(true);
    }
    let Some(inner) = rest.strip_prefix('{') else {
        return Ok(false);
    };
    let Some(close) = closing_alt(inner.as_bytes()) else {
        return Ok(false);
    };
    let (alts, after) = (&inner[..close], &inner[close + 1..]);
    let mut start = 0;
    loop {
        *budget = budget.checked_sub(1).ok_or(TooComplex)?;
        let end = next_alt(&alts.as_bytes()[start..]).map(|c| c + start);
        if zero_length(
            &format!("{}{after}", &alts[start..end.unwrap_or(alts.len())]),
            budget,
        )? {
            return Ok(true);
        }
        match end {
            Some(comma) => start = comma + 1,
            None => return Ok(false),
        }
    }
}

/// doublestar's `indexMatchedClosingAlt`: the index of the `}` closing a `{` just before `s`.
fn closing_alt(s: &[u8]) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// doublestar's `indexNextAlt`: the index of the next top-level `,` of an alternative list.
fn next_alt(s: &[u8]) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pattern_displays_go_error_message() {
        assert_eq!(BadPattern.to_string(), "syntax error in pattern");
    }

    #[test]
    fn path_match_agrees_with_go_match_test_table() {
        let ok = |p, n, want| (p, n, Ok(want));
        let bad = |p, n| (p, n, Err(BadPattern));
        let cases = [
            ok("abc", "abc", true),
            ok("*", "abc", true),
            ok("*c", "abc", true),
            ok("a*", "a", true),
            ok("a*", "abc", true),
            ok("a*", "ab/c", false),
            ok("a*/b", "abc/b", true),
            ok("a*/b", "a/c/b", false),
            ok("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ok("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ok("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ok("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ok("a*b?c*x", "abxbbxdbxebxczzx", true),
            ok("a*b?c*x", "abxbbxdbxebxczzy", false),
            ok("ab[c]", "abc", true),
            ok("ab[b-d]", "abc", true),
            ok("ab[e-g]", "abc", false),
            ok("ab[^c]", "abc", false),
            ok("ab[^b-d]", "abc", false),
            ok("ab[^e-g]", "abc", true),
            ok("a\\*b", "a*b", true),
            ok("a\\*b", "ab", false),
            ok("a?b", "a☺b", true),
            ok("a[^a]b", "a☺b", true),
            ok("a???b", "a☺b", false),
            ok("a[^a][^a][^a]b", "a☺b", false),
            ok("[a-ζ]*", "α", true),
            ok("*[a-ζ]", "A", false),
            ok("a?b", "a/b", false),
            ok("a*b", "a/b", false),
            ok("[\\]a]", "]", true),
            ok("[\\-]", "-", true),
            ok("[x\\-]", "x", true),
            ok("[x\\-]", "-", true),
            ok("[x\\-]", "z", false),
            ok("[\\-x]", "x", true),
            ok("[\\-x]", "-", true),
            ok("[\\-x]", "a", false),
            bad("[]a]", "]"),
            bad("[-]", "-"),
            bad("[x-]", "x"),
            bad("[x-]", "-"),
            bad("[x-]", "z"),
            bad("[-x]", "x"),
            bad("[-x]", "-"),
            bad("[-x]", "a"),
            bad("\\", "a"),
            bad("[a-b-c]", "a"),
            bad("[", "a"),
            bad("[^", "a"),
            bad("[^bc", "a"),
            bad("a[", "a"),
            bad("a[", "ab"),
            bad("a[", "x"),
            bad("a/b[", "x"),
            ok("*x", "xxx", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                path_match(pattern, name),
                want,
                "path_match({pattern:?}, {name:?})"
            );
        }
    }

    #[test]
    fn path_match_star_stays_within_one_segment() {
        assert_eq!(path_match("apps/*", "apps/a"), Ok(true));
        assert_eq!(path_match("apps/*", "apps/a/b"), Ok(false));
        assert_eq!(path_match("*", "a"), Ok(true));
        assert_eq!(path_match("*", "a/b"), Ok(false));
        assert_eq!(path_match("*/*", "a/b"), Ok(true));
        assert_eq!(path_match("apps/*", "apps"), Ok(false));
        assert_eq!(path_match("apps/*", "apps/"), Ok(true));
    }

    #[test]
    fn path_match_reports_bad_pattern_even_after_an_early_mismatch() {
        assert_eq!(path_match("x/[", "apps/a"), Err(BadPattern));
        assert_eq!(path_match("zzz*[a-", "apps"), Err(BadPattern));
        assert_eq!(path_match("*\\", "anything"), Err(BadPattern));
    }

    #[test]
    fn path_match_accepts_reversed_ranges_that_match_nothing() {
        assert_eq!(path_match("[z-a]", "m"), Ok(false));
        assert_eq!(path_match("[^z-a]", "m"), Ok(true));
    }

    #[test]
    fn path_match_classes_can_match_a_slash_like_go() {
        assert_eq!(path_match("a[^x]b", "a/b"), Ok(true));
        assert_eq!(path_match("a[/]b", "a/b"), Ok(true));
    }

    #[test]
    fn path_match_does_not_backtrack_into_earlier_chunks_like_go() {
        // A backtracking matcher would let the first `*` take "a"; Go commits to the first match.
        assert_eq!(path_match("*a[^x]*c", "aa/c"), Ok(false));
        assert_eq!(path_match("*a[^x]*c", "a/c"), Ok(true));
    }

    #[test]
    fn path_match_empty_pattern_matches_only_empty_name() {
        assert_eq!(path_match("", ""), Ok(true));
        assert_eq!(path_match("", "a"), Ok(false));
        assert_eq!(path_match("*", ""), Ok(true));
    }

    #[test]
    fn path_match_handles_names_with_invalid_utf8_offsets_without_panicking() {
        // The star loop retries the chunk at every byte, including inside multi-byte chars.
        assert_eq!(path_match("*?b", "☺☺b"), Ok(true));
        assert_eq!(path_match("*[^a]", "é"), Ok(true));
        assert_eq!(path_match("*é", "xé"), Ok(true));
    }

    #[test]
    fn pathspec_empty_or_dot_matches_everything() {
        for pattern in ["", ".", "./"] {
            assert!(pathspec_match(pattern, "a/b/c.json"), "{pattern:?}");
        }
    }

    #[test]
    fn pathspec_is_normalised_like_git_before_matching() {
        assert!(pathspec_match("a//bb", "a/bb"));
        assert!(pathspec_match("a/./bb", "a/bb"));
        assert!(pathspec_match("././a/bb", "a/bb"));
        assert!(pathspec_match("./a/../x.json", "x.json"));
        assert!(!pathspec_match("./a/../x.json", "a/x.json"));
        assert!(pathspec_match("a/b/.", "a/b/c"));
        assert!(!pathspec_match("a/b/.", "a/bc"));
        assert!(pathspec_match("a/..", "anything/at/all"));
    }

    #[test]
    fn pathspec_outside_the_repository_matches_nothing() {
        assert!(!pathspec_match("/a", "a"));
        assert!(!pathspec_match("..", "a"));
        assert!(!pathspec_match("a/../../a", "a"));
    }

    #[test]
    fn pathspec_literal_matches_the_file_or_everything_below_the_directory() {
        assert!(pathspec_match("apps/config.json", "apps/config.json"));
        assert!(pathspec_match("apps", "apps/a/config.json"));
        assert!(pathspec_match("apps", "apps"));
        assert!(!pathspec_match("apps", "apps2/config.json"));
        assert!(!pathspec_match("apps/config.json", "apps/config.json.bak"));
        assert!(pathspec_match("apps/", "apps/a.json"));
        assert!(!pathspec_match("apps/", "apps"));
        assert!(pathspec_match("./apps/config.json", "apps/config.json"));
    }

    #[test]
    fn pathspec_star_crosses_directories() {
        assert!(pathspec_match("apps/*/config.json", "apps/a/config.json"));
        assert!(pathspec_match("apps/*/config.json", "apps/a/b/config.json"));
        assert!(!pathspec_match("apps/*/config.json", "apps/config.json"));
        assert!(pathspec_match("*.json", "x/y.json"));
        assert!(pathspec_match("*.json", "a.json"));
        assert!(!pathspec_match("*.json", "a.yaml"));
        assert!(pathspec_match("apps/*", "apps/a/b.yaml"));
        assert!(!pathspec_match("apps/*", "other/a.yaml"));
    }

    #[test]
    fn pathspec_double_star_is_a_plain_star_without_glob_magic() {
        assert!(pathspec_match("apps/**/config.json", "apps/a/b/config.json"));
        assert!(!pathspec_match("apps/**/config.json", "apps/config.json"));
        assert!(pathspec_match("**/*.yaml", "a/b.yaml"));
    }

    #[test]
    fn pathspec_question_mark_matches_any_single_byte_including_slash() {
        assert!(pathspec_match("a?b", "a/b"));
        assert!(pathspec_match("a?b", "axb"));
        assert!(!pathspec_match("a?b", "ab"));
        assert!(!pathspec_match("h?llo", "héllo"));
        assert!(pathspec_match("h??llo", "héllo"));
    }

    #[test]
    fn pathspec_classes_support_negation_ranges_and_names() {
        assert!(pathspec_match("v[0-9].json", "v7.json"));
        assert!(!pathspec_match("v[0-9].json", "vx.json"));
        assert!(pathspec_match("v[!0-9].json", "vx.json"));
        assert!(pathspec_match("v[^0-9].json", "vx.json"));
        assert!(!pathspec_match("v[^0-9].json", "v1.json"));
        assert!(pathspec_match("[[:alpha:]][[:digit:]][[:upper:]]", "a1B"));
        assert!(!pathspec_match("[[:alpha:]][[:digit:]][[:upper:]]", "a1b"));
        assert!(pathspec_match("[[:digit:][:upper:][:space:]]", " "));
        assert!(pathspec_match("[a-c[:digit:]x-z]", "5"));
        assert!(pathspec_match("[a-c[:digit:]x-z]", "y"));
        assert!(!pathspec_match("[a-c[:digit:]x-z]", "q"));
        assert!(pathspec_match("[]]", "]"));
        assert!(!pathspec_match("[!]]", "]"));
        assert!(pathspec_match("[!]]", "a"));
        assert!(pathspec_match(r"[\\-^]", "]"));
        assert!(!pathspec_match(r"[\-^]", "]"));
        assert!(pathspec_match(r"[\-^]", "-"));
        assert!(pathspec_match("[,-.]", "-"));
        assert!(!pathspec_match("[,-.]", "+"));
        assert!(pathspec_match("[a-]", "-"));
        assert!(pathspec_match("[[:x]", "x"));
    }

    #[test]
    fn pathspec_backslash_escapes_the_next_character() {
        assert!(pathspec_match("a\\*b", "a*b"));
        assert!(!pathspec_match("a\\*b", "axb"));
        assert!(pathspec_match("\\[x]", "[x]"));
    }

    #[test]
    fn pathspec_handles_huge_star_patterns_without_deep_recursion() {
        let pattern = "a*".repeat(100_000);
        let path = "a".repeat(100_000);
        assert!(pathspec_match(&pattern, &path));
        assert!(!pathspec_match(&format!("{pattern}b"), &path));
    }

    #[test]
    fn pathspec_malformed_patterns_match_only_literally() {
        assert!(!pathspec_match("[", "a"));
        assert!(!pathspec_match("a[bc", "ab"));
        assert!(!pathspec_match("[[:nope:]]", "a"));
        assert!(!pathspec_match("a\\", "a"));
        assert!(pathspec_match("a[bc", "a[bc"));
    }

    #[test]
    fn pathspec_glob_also_matches_its_literal_self() {
        assert!(pathspec_match("foo[1]", "foo[1]"));
        assert!(pathspec_match("foo[1]", "foo1"));
        assert!(pathspec_match("dir*", "dir*/x.json"));
    }

    /// doublestar's own `matchTests` (v4), minus the cases about the file system: `None` is
    /// `ErrBadPattern`.
    #[test]
    fn doublestar_agrees_with_doublestars_match_test_table() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("", "", Some(true)),
            ("*", "", Some(true)),
            ("*", "/", Some(false)),
            ("/*", "/", Some(true)),
            ("/*", "/debug/", Some(false)),
            ("/*", "//", Some(false)),
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("*/", "a/", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(false)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*/c/", "a/b", Some(false)),
            ("a*b*c*d*e*", "axbxcxdxe", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a[^a]b", "a☺b", Some(true)),
            ("a[!a]b", "a☺b", Some(true)),
            ("a???b", "a☺b", Some(false)),
            ("a[^a][^a][^a]b", "a☺b", Some(false)),
            ("[a-ζ]*", "α", Some(true)),
            ("*[a-ζ]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", None),
            ("[-]", "-", Some(true)),
            ("[x-]", "x", Some(true)),
            ("[x-]", "-", Some(true)),
            ("[x-]", "z", Some(false)),
            ("[-x]", "x", Some(true)),
            ("[-x]", "-", Some(true)),
            ("[-x]", "a", Some(false)),
            ("[a-b-d]", "a", Some(true)),
            ("[a-b-d]", "b", Some(true)),
            ("[a-b-d]", "-", Some(true)),
            ("[a-b-d]", "c", Some(false)),
            ("[a-b-x]", "x", Some(true)),
            ("\\", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("[^bc", "a", None),
            ("a[", "a", None),
            ("a[", "ab", None),
            ("ad[", "ab", None),
            ("*x", "xxx", Some(true)),
            ("[abc]", "b", Some(true)),
            ("[abc123]", "1", Some(true)),
            ("[a-z0-9]", "1", Some(true)),
            ("**", "", Some(true)),
            ("a/**", "a", Some(true)),
            ("a/**/", "a", Some(true)),
            ("a/**", "a/", Some(true)),
            ("a/**/", "a/", Some(true)),
            ("a/**", "a/b", Some(true)),
            ("a/**", "a/b/c", Some(true)),
            ("**/c", "c", Some(true)),
            ("**/c", "b/c", Some(true)),
            ("**/c", "a/b/c", Some(true)),
            ("**/c", "a/b", Some(false)),
            ("**/c", "abcd", Some(false)),
            ("**/c", "a/abc", Some(false)),
            ("a/**/b", "a/b", Some(true)),
            ("a/**/c", "a/b/c", Some(true)),
            ("a/**/d", "a/b/c/d", Some(true)),
            ("a/\\**", "a/b/c", Some(false)),
            ("a/\\[*\\]", "a/bc", Some(false)),
            ("a/b/c", "a/b//c", Some(false)),
            ("a/", "a", Some(false)),
            ("ab{c,d}", "abc", Some(true)),
            ("ab{c,d,*}", "abcde", Some(true)),
            ("ab{c,d}[", "abcd", None),
            ("a{,bc}", "a", Some(true)),
            ("a{,bc}", "abc", Some(true)),
            ("a/{b/c,c/b}", "a/b/c", Some(true)),
            ("a/{b/c,c/b}", "a/c/b", Some(true)),
            ("a/a*{b,c}", "a/abc", Some(true)),
            ("{a/{b,c},abc}", "a/b", Some(true)),
            ("{a/{b,c},abc}", "a/c", Some(true)),
            ("{a/{b,c},abc}", "abc", Some(true)),
            ("{a/{b,c},abc}", "a/b/c", Some(false)),
            ("{a/ab*}", "a/abc", Some(true)),
            ("{a/*}", "a/b", Some(true)),
            ("{a/abc}", "a/abc", Some(true)),
            ("{a/b,a/c}", "a/c", Some(true)),
            ("abc/**", "abc/b", Some(true)),
            ("**/abc", "abc", Some(true)),
            ("abc**", "abc/b", Some(false)),
            ("**/*.txt", "abc/【test】.txt", Some(true)),
            ("**/【*", "abc/【test】.txt", Some(true)),
            ("**/{a,b}", "a/b", Some(true)),
            ("a/*/*/d", "a/b/c/d", Some(true)),
            ("e/**", "e/**", Some(true)),
            ("e/**", "e/*", Some(true)),
            ("e/**", "e/[", Some(true)),
            ("e/**", "e/{", Some(true)),
            ("e/**", "e/\\", Some(true)),
            ("e/*", "e/*", Some(true)),
            ("e/?", "e/?", Some(true)),
            ("e/?", "e/*", Some(true)),
            ("e/\\[", "e/[", Some(true)),
            ("e/[", "e/[", None),
            ("e/]", "e/]", Some(true)),
            ("e/\\]", "e/]", Some(true)),
            ("e/\\{", "e/{", Some(true)),
            ("e/\\}", "e/}", Some(true)),
            ("e/[\\*\\?]", "e/*", Some(true)),
            ("e/[\\*\\?]", "e/?", Some(true)),
            ("e/[\\*\\?]", "e/**", Some(false)),
            ("e/[\\*\\?]?", "e/**", Some(true)),
            ("e/{\\*,\\?}", "e/*", Some(true)),
            ("e/{\\*,\\?}", "e/?", Some(true)),
            ("e/\\*", "e/*", Some(true)),
            ("e/\\?", "e/?", Some(true)),
            ("e/\\?", "e/**", Some(false)),
            ("*\\}", "}", Some(true)),
            ("case-sensitive/fi*", "case-sensitive/file", Some(true)),
            ("case-sensitive/Fi*", "case-sensitive/file", Some(false)),
        ];
        for &(pattern, name, want) in cases {
            let got = Doublestar::new(pattern).ok().map(|g| g.is_match(name).unwrap());
            assert_eq!(got, want, "Match({pattern:?}, {name:?})");
        }
    }

    #[test]
    fn doublestar_star_and_classes_stay_within_one_segment() {
        let m = |p: &str, n: &str| Doublestar::new(p).unwrap().is_match(n).unwrap();
        assert!(m("*.json", "x.json"));
        assert!(!m("*.json", "a/x.json"));
        assert!(!m("a[^x]b", "a/b"));
        assert!(!m("a[/]b", "a/b"));
        assert!(m("a**b", "axyb"));
        assert!(!m("a**b", "ax/yb"));
        assert!(m("*", ".github"));
        assert!(m("**/config.json", ".github/config.json"));
    }

    #[test]
    fn doublestar_root_is_selected_only_by_empty_and_double_star_patterns() {
        for p in ["", "**", "**/**"] {
            assert!(Doublestar::new(p).unwrap().selects_root(), "{p:?}");
        }
        for p in ["*", "a/**", "**/a", "{**}"] {
            assert!(!Doublestar::new(p).unwrap().selects_root(), "{p:?}");
        }
    }

    #[test]
    fn doublestar_caps_exponential_alternatives() {
        // Both alternatives of every group match, so a mismatch at the end tries 2^20 ways.
        let glob = Doublestar::new(&"{a,?}".repeat(20)).unwrap();
        assert_eq!(glob.is_match(&format!("{}b", "a".repeat(20))), Err(TooComplex));
        assert_eq!(glob.is_match(&"a".repeat(20)), Ok(true));
        let small = Doublestar::new(&"{a,b}".repeat(5)).unwrap();
        assert_eq!(small.is_match("abbab"), Ok(true));
    }

    #[test]
    fn doublestar_handles_huge_star_patterns_without_deep_recursion() {
        let pattern = "a*".repeat(10_000);
        let glob = Doublestar::new(&pattern).unwrap();
        assert_eq!(glob.is_match(&"a".repeat(10_000)), Ok(true));
    }

    #[test]
    fn clean_glob_is_go_path_join_under_the_root() {
        assert_eq!(clean_glob("").as_deref(), Some(""));
        assert_eq!(clean_glob(".").as_deref(), Some(""));
        assert_eq!(clean_glob("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(clean_glob("/a/*.json").as_deref(), Some("a/*.json"));
        assert_eq!(clean_glob("a/*/../b").as_deref(), Some("a/b"));
        assert_eq!(clean_glob("a/.."), Some(String::new()));
        assert_eq!(clean_glob("../a"), None);
        assert_eq!(clean_glob("a/../../a"), None);
    }

    #[test]
    fn branch_match_star_does_not_cross_slashes() {
        assert_eq!(branch_match("release-*", "release-1.0"), Ok(true));
        assert_eq!(branch_match("release-*", "release/1.0"), Ok(false));
        assert_eq!(branch_match("main", "main"), Ok(true));
        assert_eq!(branch_match("main", "main2"), Ok(false));
        assert_eq!(branch_match("feat?", "feat/"), Ok(false));
        assert_eq!(branch_match("feat?", "feat1"), Ok(true));
    }

    #[test]
    fn branch_match_double_star_matches_whole_segments() {
        assert_eq!(branch_match("release/**", "release/1.0"), Ok(true));
        assert_eq!(branch_match("release/**", "release/a/b"), Ok(true));
        assert_eq!(branch_match("release/**", "release"), Ok(false));
        assert_eq!(branch_match("release/**", "releases/1.0"), Ok(false));
        assert_eq!(branch_match("**", "a/b/c"), Ok(true));
        assert_eq!(branch_match("**", "main"), Ok(true));
        assert_eq!(branch_match("***", "a/b"), Ok(true));
        assert_eq!(branch_match("feature/**/fix-*", "feature/x/y/fix-1"), Ok(true));
        assert_eq!(branch_match("feature/**/fix-*", "feature/fix-1"), Ok(true));
        assert_eq!(branch_match("feature/**/fix-*", "feature/x/fix/y"), Ok(false));
        assert_eq!(branch_match("**/hotfix", "hotfix"), Ok(true));
        assert_eq!(branch_match("**/hotfix", "a/b/hotfix"), Ok(true));
        assert_eq!(branch_match("**/hotfix", "a/xhotfix"), Ok(false));
        assert_eq!(branch_match("a/**/**/b", "a/b"), Ok(true));
        assert_eq!(branch_match("a/**/**/b", "a/x/y/b"), Ok(true));
    }

    #[test]
    fn branch_match_double_star_inside_a_segment_is_a_single_star() {
        assert_eq!(branch_match("a**b", "axyb"), Ok(true));
        assert_eq!(branch_match("a**b", "ax/yb"), Ok(false));
        assert_eq!(branch_match("x/**b", "x/a/b"), Ok(false));
        assert_eq!(branch_match("x/**b", "x/ab"), Ok(true));
    }

    #[test]
    fn branch_match_supports_classes_and_escapes() {
        assert_eq!(branch_match("v[0-9].*", "v1.2"), Ok(true));
        assert_eq!(branch_match("v[0-9].*", "vx.2"), Ok(false));
        assert_eq!(branch_match("[^m]*", "dev"), Ok(true));
        assert_eq!(branch_match("[^m]*", "main"), Ok(false));
        assert_eq!(branch_match("[\\]a]x", "]x"), Ok(true));
        assert_eq!(branch_match("\\*", "*"), Ok(true));
        assert_eq!(branch_match("\\*", "a"), Ok(false));
        assert_eq!(branch_match("f?x-[α-ω]", "fix-λ"), Ok(true));
    }

    #[test]
    fn branch_match_backtracks_where_go_would_not() {
        assert_eq!(branch_match("*a[^x]*c", "aa/c"), Ok(true));
        assert_eq!(branch_match("*-*-*", "a-b-c-d"), Ok(true));
        assert_eq!(branch_match("*-*-*", "a-b"), Ok(false));
    }

    #[test]
    fn branch_match_reports_bad_pattern_whatever_the_branch() {
        for pattern in ["[", "release/[a-", "\\", "x[", "**/[", "[]", "[-a]"] {
            assert_eq!(branch_match(pattern, "abc"), Err(BadPattern), "{pattern:?}");
        }
    }

    #[test]
    fn branch_match_empty_pattern_matches_only_empty_branch() {
        assert_eq!(branch_match("", ""), Ok(true));
        assert_eq!(branch_match("", "main"), Ok(false));
    }
}
