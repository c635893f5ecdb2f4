//! A parsed log line: named fields borrowed from the line, with no allocation per field.
//!
//! A log format is compiled once into a [`Schema`] (the ordered field names) and a
//! splitter; each line then only fills a reusable list of byte spans. A [`Record`] pairs
//! the line with those spans, so reading a field is a slice of the line. Pipes resolve
//! the fields they need to indices once, at bind time ([`Schema::index`]), and read them
//! by index on the hot path.

use std::fmt;

/// The ordered field names a log format produces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    names: Vec<String>,
}

impl Schema {
    /// A schema with these field names, in this order. Duplicate names keep the first.
    pub fn new<I, S>(names: I) -> Schema
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            let n = n.into();
            if !out.contains(&n) {
                out.push(n);
            }
        }
        Schema { names: out }
    }

    /// The position of a field, if the format has it.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The field names in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many fields a record of this schema has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the schema has no fields.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Where a field's value lies in the line, as byte offsets. An absent field (a derived
/// field of a `-` request, say) is [`Span::ABSENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// No value at all.
    pub const ABSENT: Span = Span {
        start: u32::MAX,
        end: u32::MAX,
    };

    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        // Lines are capped far below 4 GiB by the readers; saturate rather than wrap.
        let s = u32::try_from(start).unwrap_or(u32::MAX - 1);
        let e = u32::try_from(end).unwrap_or(u32::MAX - 1);
        Span { start: s, end: e }
    }
}

/// One parsed line: field values are slices of the line.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    schema: &'a Schema,
    line: &'a str,
    spans: &'a [Span],
}

impl<'a> Record<'a> {
    /// Pairs a line with the spans a splitter found. `spans` has one entry per schema
    /// field; spans outside the line read as absent.
    pub fn new(schema: &'a Schema, line: &'a str, spans: &'a [Span]) -> Record<'a> {
        Record {
            schema,
            line,
            spans,
        }
    }

    /// The schema this record follows.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// The whole line.
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// The spans, one per schema field (what native pipes receive).
    pub fn spans(&self) -> &'a [Span] {
        self.spans
    }

    /// The raw text of field `i`, `-` placeholders included; `None` if absent.
    pub fn raw(&self, i: usize) -> Option<&'a str> {
        let sp = self.spans.get(i)?;
        if *sp == Span::ABSENT {
            return None;
        }
        self.line.get(sp.start as usize..sp.end as usize)
    }

    /// The value of field `i`, `None` when absent, empty, or the `-` placeholder.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self.raw(i) {
            None | Some("" | "-") => None,
            v => v,
        }
    }

    /// The value of a field by name (a linear search: resolve indices once instead on
    /// hot paths).
    pub fn by_name(&self, name: &str) -> Option<&'a str> {
        self.get(self.schema.index(name)?)
    }

    /// `(name, value)` for every field that has a value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let rec = *self;
        self.schema
            .names()
            .iter()
            .enumerate()
            .filter_map(move |(i, n)| rec.get(i).map(|v| (n.as_str(), v)))
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_slices_and_dashes_are_absent() {
        let schema = Schema::new(["a", "b", "c", "a"]);
        assert_eq!(schema.len(), 3);
        let line = "x - yz";
        let spans = [Span::new(0, 1), Span::new(2, 3), Span::new(4, 6)];
        let r = Record::new(&schema, line, &spans);
        assert_eq!(r.get(0), Some("x"));
        assert_eq!(r.raw(1), Some("-"));
        assert_eq!(r.get(1), None);
        assert_eq!(r.by_name("c"), Some("yz"));
        assert_eq!(r.get(7), None);
        let all: Vec<_> = r.iter().collect();
        assert_eq!(all, vec![("a", "x"), ("c", "yz")]);
    }

    #[test]
    fn absent_and_out_of_range_spans_read_as_none() {
        let schema = Schema::new(["a", "b"]);
        let spans = [Span::ABSENT, Span::new(3, 99)];
        let r = Record::new(&schema, "abc", &spans);
        assert_eq!(r.raw(0), None);
        assert_eq!(r.raw(1), None);
    }
}
