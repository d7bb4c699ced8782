//! SQL-like predicates (`n_genes > 2000 AND cluster IN (3, 5)`, `bulk_labels = 'CD19+ B'`,
//! `anomaly_knn > 3 OR NOT "HLA-DRA" <= 1`) parsed into polars expressions, which polars
//! evaluates over the points frame. The grammar is the WHERE clause most users know:
//! `AND OR NOT`, comparisons (`= == != <> < <= > >=`), `+ - * /`, `[NOT] IN (…)`,
//! `[NOT] BETWEEN a AND b`, `IS [NOT] NULL`, `[NOT] LIKE 'pattern'` (`%` and `_`),
//! numbers, 'strings', TRUE/FALSE, bare or "double-quoted" column names. Names are resolved
//! while parsing through a caller's function, so an unknown name is reported with the
//! position it was typed at.

use polars::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident { name: String, quoted: bool },
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<(Tok, usize)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '\'' | '"' => {
                // '' inside a string and "" inside a name stand for the quote itself.
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!("unclosed {c} starting at character {}", at + 1));
                        }
                        Some(&d) if d == c && chars.get(i + 1) == Some(&c) => {
                            text.push(c);
                            i += 2;
                        }
                        Some(&d) if d == c => {
                            i += 1;
                            break;
                        }
                        Some(&d) => {
                            text.push(d);
                            i += 1;
                        }
                    }
                }
                if c == '\'' {
                    Tok::Str(text)
                } else {
                    Tok::Ident {
                        name: text,
                        quoted: true,
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let mut j = i;
                while j < chars.len()
                    && (chars[j].is_ascii_digit()
                        || chars[j] == '.'
                        || ((chars[j] == 'e' || chars[j] == 'E')
                            && chars
                                .get(j + 1)
                                .is_some_and(|d| d.is_ascii_digit() || *d == '-' || *d == '+'))
                        || ((chars[j] == '-' || chars[j] == '+')
                            && j > i
                            && (chars[j - 1] == 'e' || chars[j - 1] == 'E')))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                i = j;
                Tok::Num(
                    text.parse()
                        .map_err(|_| format!("'{text}' at character {} is not a number", at + 1))?,
                )
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '.')
                {
                    j += 1;
                }
                let name: String = chars[i..j].iter().collect();
                i = j;
                Tok::Ident {
                    name,
                    quoted: false,
                }
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = ["<=", ">=", "!=", "<>", "=="]
                    .into_iter()
                    .find(|o| *o == two)
                    .or_else(|| {
                        ["<", ">", "=", "+", "-", "*", "/"]
                            .into_iter()
                            .find(|o| o.starts_with(c))
                    })
                    .ok_or_else(|| format!("unexpected '{c}' at character {}", at + 1))?;
                i += op.chars().count();
                Tok::Op(op)
            }
        };
        out.push((tok, at));
    }
    Ok(out)
}

/// What the parser asks of the frame: a typed name's column (None: unknown), and a text
/// column's distinct values (for LIKE, matched here and handed to polars as an IN list).
pub trait Columns {
    fn resolve(&mut self, name: &str) -> Option<String>;
    fn distinct(&self, column: &str) -> Vec<String>;
}

struct Parser<'a, 'r> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    columns: &'r mut dyn Columns,
    text: &'a str,
}

/// Parses `text` into a polars boolean expression.
pub fn parse(text: &str, columns: &mut dyn Columns) -> Result<Expr, String> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err("empty predicate".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        columns,
        text,
    };
    let e = p.or()?;
    if let Some((t, at)) = p.toks.get(p.pos) {
        return Err(format!(
            "unexpected {} at character {} of '{}'",
            describe(t),
            at + 1,
            p.text
        ));
    }
    Ok(e)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(x) => format!("number {x}"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Ident { name, .. } => format!("'{name}'"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident { name, quoted: false }) if name.eq_ignore_ascii_case(k))
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        let yes = self.keyword(k);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), String> {
        if self.peek() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn error(&self, expected: &str) -> String {
        match self.toks.get(self.pos) {
            Some((t, at)) => format!(
                "expected {expected} at character {} of '{}', found {}",
                at + 1,
                self.text,
                describe(t)
            ),
            None => format!("'{}' ends where {expected} was expected", self.text),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat_keyword("or") {
            e = e.or(self.and()?);
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.eat_keyword("and") {
            e = e.and(self.not()?);
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_keyword("not") {
            return Ok(self.not()?.not());
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        let left = self.sum()?;
        // LIKE reads a column's values: the left side must be a bare column name.
        let column = match (&self.toks[start].0, self.pos - start) {
            (Tok::Ident { name, .. }, 1) => self.columns.resolve(name),
            _ => None,
        };
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            if !self.eat_keyword("null") {
                return Err(self.error("NULL after IS"));
            }
            return Ok(if negated {
                left.is_not_null()
            } else {
                left.is_null()
            });
        }
        let negated = self.eat_keyword("not");
        if self.eat_keyword("in") {
            let e = self.in_list(left)?;
            return Ok(if negated { e.not() } else { e });
        }
        if self.eat_keyword("between") {
            let lo = self.sum()?;
            if !self.eat_keyword("and") {
                return Err(self.error("AND in BETWEEN … AND …"));
            }
            let hi = self.sum()?;
            let e = left.clone().gt_eq(lo).and(left.lt_eq(hi));
            return Ok(if negated { e.not() } else { e });
        }
        if self.eat_keyword("like") {
            let Some(column) = column else {
                return Err(format!(
                    "LIKE needs a column name on its left in '{}'",
                    self.text
                ));
            };
            let e = self.like(&column)?;
            return Ok(if negated { e.not() } else { e });
        }
        if negated {
            return Err(self.error("IN, BETWEEN or LIKE after NOT"));
        }
        let op = match self.peek() {
            Some(Tok::Op(o)) if ["=", "==", "!=", "<>", "<", "<=", ">", ">="].contains(o) => *o,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.sum()?;
        Ok(match op {
            "=" | "==" => left.eq(right),
            "!=" | "<>" => left.neq(right),
            "<" => left.lt(right),
            "<=" => left.lt_eq(right),
            ">" => left.gt(right),
            _ => left.gt_eq(right),
        })
    }

    fn in_list(&mut self, left: Expr) -> Result<Expr, String> {
        self.expect(&Tok::LParen, "'(' after IN")?;
        let (mut nums, mut strs) = (Vec::new(), Vec::new());
        loop {
            match self.toks.get(self.pos).map(|t| t.0.clone()) {
                Some(Tok::Num(x)) => nums.push(x),
                Some(Tok::Op("-")) => {
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::Num(x)) => nums.push(-x),
                        _ => return Err(self.error("a number after '-'")),
                    }
                }
                Some(Tok::Str(s)) => strs.push(s),
                _ => return Err(self.error("a number or 'text' in the IN list")),
            }
            self.pos += 1;
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                continue;
            }
            self.expect(&Tok::RParen, "',' or ')' in the IN list")?;
            break;
        }
        if !nums.is_empty() && !strs.is_empty() {
            return Err("an IN list mixes numbers and text".into());
        }
        Ok(if strs.is_empty() {
            let s = Series::new("in".into(), nums);
            left.cast(DataType::Float64)
                .is_in(lit(s).implode(false), false)
        } else {
            let s = Series::new("in".into(), strs);
            left.cast(DataType::String)
                .is_in(lit(s).implode(false), false)
        })
    }

    fn like(&mut self, column: &str) -> Result<Expr, String> {
        let Some(Tok::Str(p)) = self.peek().cloned() else {
            return Err(self.error("a 'pattern' after LIKE"));
        };
        self.pos += 1;
        let pattern: Vec<char> = p.chars().collect();
        let hits: Vec<String> = self
            .columns
            .distinct(column)
            .into_iter()
            .filter(|v| like(&pattern, &v.chars().collect::<Vec<_>>()))
            .collect();
        let s = Series::new("like".into(), hits);
        Ok(col(column)
            .cast(DataType::String)
            .is_in(lit(s).implode(false), false))
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut e = self.product()?;
        while let Some(Tok::Op(o @ ("+" | "-"))) = self.peek() {
            let o = *o;
            self.pos += 1;
            let r = self.product()?;
            e = if o == "+" { e + r } else { e - r };
        }
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while let Some(Tok::Op(o @ ("*" | "/"))) = self.peek() {
            let o = *o;
            self.pos += 1;
            let r = self.unary()?;
            e = if o == "*" {
                e * r
            } else {
                e.cast(DataType::Float64) / r.cast(DataType::Float64)
            };
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::Op("-")) {
            self.pos += 1;
            return Ok(lit(0.0) - self.unary()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some((t, at)) = self.toks.get(self.pos).cloned() else {
            return Err(self.error("a value or a column name"));
        };
        self.pos += 1;
        Ok(match t {
            Tok::Num(x) => lit(x),
            Tok::Str(s) => lit(s),
            Tok::LParen => {
                let e = self.or()?;
                self.expect(&Tok::RParen, "')'")?;
                e
            }
            Tok::Ident { name, quoted } => {
                if !quoted && name.eq_ignore_ascii_case("true") {
                    return Ok(lit(true));
                }
                if !quoted && name.eq_ignore_ascii_case("false") {
                    return Ok(lit(false));
                }
                match self.columns.resolve(&name) {
                    Some(c) => col(c.as_str()),
                    None => {
                        return Err(format!(
                            "no column or gene '{name}' (character {} of '{}')",
                            at + 1,
                            self.text
                        ));
                    }
                }
            }
            other => {
                self.pos -= 1;
                return Err(self.error(&format!(
                    "a value or a column name, not {}",
                    describe(&other)
                )));
            }
        })
    }
}

/// SQL LIKE: `%` any run of characters, `_` any one; case-sensitive.
fn like(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('%') => (0..=s.len()).any(|k| like(&p[1..], &s[k..])),
        Some('_') => !s.is_empty() && like(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && like(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        let n: Vec<Option<f64>> = vec![Some(1500.0), Some(2500.0), None, Some(3000.0)];
        DataFrame::new(
            4,
            vec![
                Column::new("row".into(), vec![0u32, 1, 2, 3]),
                Column::new("n_genes".into(), n),
                Column::new("cluster".into(), vec![3u32, 5, 3, 1]),
                Column::new("label".into(), vec!["CD19+ B", "CD4 T", "CD19+ B", "NK"]),
                Column::new("HLA-DRA".into(), vec![0.0f32, 2.0, 1.5, 0.0]),
            ],
        )
        .unwrap()
    }

    struct Frame(DataFrame);

    impl Columns for Frame {
        fn resolve(&mut self, n: &str) -> Option<String> {
            self.0
                .get_column_names()
                .iter()
                .find(|c| c.eq_ignore_ascii_case(n))
                .map(|c| c.to_string())
        }
        fn distinct(&self, column: &str) -> Vec<String> {
            let c = self.0.column(column).unwrap().str().unwrap();
            let mut v: Vec<String> = (0..c.len())
                .filter_map(|i| c.get(i))
                .map(String::from)
                .collect();
            v.sort();
            v.dedup();
            v
        }
    }

    fn rows(text: &str) -> Result<Vec<u32>, String> {
        let df = frame();
        let e = parse(text, &mut Frame(df.clone()))?;
        let out = df
            .lazy()
            .filter(e)
            .select([col("row")])
            .collect()
            .map_err(|e| e.to_string())?;
        Ok(out
            .column("row")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect())
    }

    #[test]
    fn predicates_pick_what_a_direct_filter_picks() {
        assert_eq!(
            rows("n_genes > 2000 AND cluster IN (3, 5)").unwrap(),
            vec![1]
        );
        assert_eq!(rows("label = 'CD19+ B'").unwrap(), vec![0, 2]);
        // A missing value satisfies neither a comparison nor its negation (SQL).
        assert_eq!(rows("NOT n_genes > 2000").unwrap(), vec![0]);
        assert_eq!(rows("n_genes IS NULL").unwrap(), vec![2]);
        assert_eq!(rows("n_genes BETWEEN 2500 AND 3000").unwrap(), vec![1, 3]);
        assert_eq!(rows("cluster NOT IN (3)").unwrap(), vec![1, 3]);
        assert_eq!(rows("label LIKE 'CD%'").unwrap(), vec![0, 1, 2]);
        assert_eq!(rows("label LIKE '%T'").unwrap(), vec![1]);
        assert_eq!(
            rows("\"HLA-DRA\" >= 1.5 OR label = 'NK'").unwrap(),
            vec![1, 2, 3]
        );
        assert_eq!(rows("n_genes / 1000 + 1 > 3.5").unwrap(), vec![3]);
        assert_eq!(
            rows("label IN ('NK', 'CD4 T') and -cluster < -2").unwrap(),
            vec![1]
        );
    }

    #[test]
    fn bad_predicates_say_where() {
        let e = rows("n_gens > 2000").unwrap_err();
        assert!(
            e.contains("no column or gene 'n_gens'") && e.contains("character 1"),
            "{e}"
        );
        let e = rows("n_genes > ").unwrap_err();
        assert!(e.contains("ends where"), "{e}");
        let e = rows("cluster IN (3, 'a')").unwrap_err();
        assert!(e.contains("mixes"), "{e}");
        let e = rows("label = 'open").unwrap_err();
        assert!(e.contains("unclosed"), "{e}");
        let e = rows("n_genes > 1 cluster").unwrap_err();
        assert!(e.contains("unexpected 'cluster'"), "{e}");
        assert_eq!(rows("label LIKE 'C_4 _'").unwrap(), vec![1]);
        assert!(rows("cluster + 1 LIKE 'a'").is_err());
        assert!(like(&['a', '%', 'c'], &['a', 'b', 'b', 'c']));
        assert!(!like(&['a', '_'], &['a']));
    }
}
