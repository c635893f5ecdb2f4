//! A per-key table (URLs, IPs, referrers, ...) in bounded memory.
//!
//! Rows are kept in a hash map until it holds `2 × cap` keys; a new key then evicts the
//! lower half by hits (a batched form of Misra-Gries' frequent-items summary). While
//! nothing was evicted every count is exact. After an eviction, a key that comes back
//! starts again from zero with `error` set to the largest count evicted so far: its true
//! hits lie in `[hits, hits + error]`. Hits, bytes and requests of evicted rows are
//! summed in [`Table::evicted`], so the totals stay exact. The report shows the top
//! `cap` rows.

use std::collections::HashMap;

use super::distinct::Distinct;

/// Exact visitor counts per row up to this many, then a sketch of precision
/// [`ROW_P`].
pub const ROW_EXACT: usize = 64;
/// HyperLogLog precision of per-row visitor counts (1 KiB, 3.25 % standard error).
pub const ROW_P: u8 = 10;

/// One row's sums.
#[derive(Debug, Clone)]
pub struct Row {
    /// Requests.
    pub hits: u64,
    /// Distinct visitors (IP, date, user agent) of the rows' requests.
    pub visitors: Distinct,
    /// Bytes sent.
    pub bytes: u64,
    /// Sum of response times (seconds) over `timed` requests.
    pub time_sum: f64,
    /// Requests with a response time.
    pub timed: u64,
    /// Largest response time (seconds).
    pub time_max: f64,
    /// Upper bound of hits this row may be missing (0 while exact).
    pub error: u64,
}

impl Default for Row {
    fn default() -> Self {
        Row::with_precision(ROW_EXACT, ROW_P)
    }
}

impl Row {
    /// An empty row whose visitors are exact up to `exact`, then a sketch of
    /// precision `p`.
    pub fn with_precision(exact: usize, p: u8) -> Row {
        Row {
            hits: 0,
            visitors: Distinct::new(exact, p),
            bytes: 0,
            time_sum: 0.0,
            timed: 0,
            time_max: 0.0,
            error: 0,
        }
    }
}

/// What one request adds to a row.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    /// The visitor's hash.
    pub visitor: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Response time in seconds, if logged.
    pub time: Option<f64>,
}

impl Row {
    /// Adds one request.
    pub fn add(&mut self, hit: &Hit) {
        self.hits += 1;
        self.visitors.insert(hit.visitor);
        self.bytes += hit.bytes;
        if let Some(t) = hit.time {
            self.time_sum += t;
            self.timed += 1;
            if t > self.time_max {
                self.time_max = t;
            }
        }
    }

    /// Adds another row's sums.
    pub fn merge(&mut self, other: &Row) {
        self.hits += other.hits;
        self.visitors.merge(&other.visitors);
        self.bytes += other.bytes;
        self.time_sum += other.time_sum;
        self.timed += other.timed;
        self.time_max = self.time_max.max(other.time_max);
        self.error += other.error;
    }

    /// Mean response time in seconds, if any request had one.
    pub fn time_mean(&self) -> Option<f64> {
        // Counts stay far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        (self.timed > 0).then(|| self.time_sum / self.timed as f64)
    }
}

/// Rows by key, at most `2 × cap` of them.
#[derive(Debug, Clone)]
pub struct Table {
    rows: HashMap<Box<str>, Row>,
    cap: usize,
    /// The largest hits of a row evicted so far.
    floor: u64,
    /// Sums of every evicted row.
    pub evicted: Row,
    /// Rows evicted.
    pub evicted_rows: u64,
    /// Visitor precision of new rows: exact up to this many, then a sketch of `p`.
    exact: usize,
    p: u8,
}

impl Table {
    /// A table showing `cap` rows and holding at most `2 × cap` (`cap` at least 1).
    pub fn new(cap: usize) -> Table {
        Table::with_precision(cap, ROW_EXACT, ROW_P)
    }

    /// As [`Table::new`], rows counting visitors exactly up to `exact`, then in a
    /// sketch of precision `p`.
    pub fn with_precision(cap: usize, exact: usize, p: u8) -> Table {
        Table {
            rows: HashMap::new(),
            cap: cap.max(1),
            floor: 0,
            evicted: Row::with_precision(exact, p),
            evicted_rows: 0,
            exact,
            p,
        }
    }

    /// The row of `key`, made (evicting the lower half first if the table is full).
    pub fn row(&mut self, key: &str) -> &mut Row {
        if !self.rows.contains_key(key) {
            if self.rows.len() >= 2 * self.cap {
                self.evict();
            }
            let row = Row {
                error: self.floor,
                ..Row::with_precision(self.exact, self.p)
            };
            self.rows.insert(key.into(), row);
        }
        self.rows.get_mut(key).unwrap_or_else(|| unreachable!())
    }

    /// Adds one request to `key`'s row.
    pub fn add(&mut self, key: &str, hit: &Hit) {
        self.row(key).add(hit);
    }

    fn evict(&mut self) {
        let mut hits: Vec<u64> = self.rows.values().map(|r| r.hits).collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        // Keep `cap` rows: those above the cut, and ties at it in no particular order.
        let cut = hits[self.cap - 1];
        let mut keep_ties = self.cap - hits.iter().filter(|&&h| h > cut).count();
        let evicted = &mut self.evicted;
        let (mut floor, mut n) = (self.floor, 0);
        self.rows.retain(|_, r| {
            if r.hits > cut || (r.hits == cut && keep_ties > 0) {
                if r.hits == cut {
                    keep_ties -= 1;
                }
                return true;
            }
            floor = floor.max(r.hits + r.error);
            evicted.merge(r);
            n += 1;
            false
        });
        self.floor = floor;
        self.evicted_rows += n;
    }

    /// True while no row was ever evicted (every count exact).
    pub fn is_exact(&self) -> bool {
        self.evicted_rows == 0
    }

    /// Rows shown: at most `cap`, most hits first (ties by key).
    pub fn top(&self) -> Vec<(&str, &Row)> {
        let mut v: Vec<(&str, &Row)> = self.rows.iter().map(|(k, r)| (&**k, r)).collect();
        v.sort_by(|a, b| b.1.hits.cmp(&a.1.hits).then_with(|| a.0.cmp(b.0)));
        v.truncate(self.cap);
        v
    }

    /// Every row held (up to `2 × cap`), in no order.
    pub fn all(&self) -> impl Iterator<Item = (&str, &Row)> {
        self.rows.iter().map(|(k, r)| (&**k, r))
    }

    /// The largest error any row may carry.
    pub fn max_error(&self) -> u64 {
        self.floor
    }

    /// Adds `other`'s rows (another file's table with the same cap).
    pub fn merge(&mut self, other: &Table) {
        let (mine, theirs) = (self.floor, other.floor);
        for (k, r) in &mut self.rows {
            if !other.rows.contains_key(k) {
                r.error += theirs;
            }
        }
        // A key new here starts with this table's floor as its error (it may have
        // been evicted here) and adds the other's.
        for (k, r) in &other.rows {
            self.row(k).merge(r);
        }
        self.floor = self.floor.max(mine + theirs);
        self.evicted.merge(&other.evicted);
        self.evicted_rows += other.evicted_rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(v: u64) -> Hit {
        Hit {
            visitor: v,
            bytes: 10,
            time: Some(0.5),
        }
    }

    #[test]
    fn exact_below_the_bound_and_bounded_above() {
        let mut t = Table::new(10);
        for i in 0..20u64 {
            for _ in 0..=i {
                t.add(&format!("k{i}"), &hit(i));
            }
        }
        assert!(t.is_exact());
        assert_eq!(t.top()[0].0, "k19");
        assert_eq!(t.top()[0].1.hits, 20);
        assert_eq!(t.top().len(), 10);
        // 1000 keys seen once each, then the heavy ones again: memory stays bounded
        // and the heavy keys keep exact counts plus a stated error.
        for i in 0..1000u64 {
            t.add(&format!("once{i}"), &hit(i));
        }
        assert!(t.rows.len() <= 20);
        assert!(!t.is_exact());
        let total: u64 = t.all().map(|(_, r)| r.hits).sum::<u64>() + t.evicted.hits;
        assert_eq!(total, (1..=20).sum::<u64>() + 1000);
        let k19 = t
            .all()
            .find(|(k, _)| *k == "k19")
            .expect("the heaviest key stays");
        assert_eq!((k19.1.hits, k19.1.error), (20, 0));
        assert!(t.max_error() >= 1);
    }

    #[test]
    fn merge_adds_counts() {
        let (mut a, mut b) = (Table::new(5), Table::new(5));
        a.add("x", &hit(1));
        b.add("x", &hit(2));
        b.add("y", &hit(2));
        a.merge(&b);
        let top = a.top();
        assert_eq!(top[0].0, "x");
        assert_eq!((top[0].1.hits, top[0].1.visitors.count()), (2, 2));
        assert_eq!(top[0].1.time_mean(), Some(0.5));
        assert!(a.is_exact());
    }
}
