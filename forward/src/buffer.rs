//! The points waiting for a target: a queue bounded in bytes. When a new point would
//! pass the bound the oldest go first (the newest history is worth more to a
//! dashboard than the oldest), and the caller counts what went.

use std::collections::VecDeque;

use crate::points::Point;

/// A FIFO of points holding at most `max_bytes` (as [`Point::bytes`] counts them).
#[derive(Debug)]
pub struct Buffer {
    points: VecDeque<Point>,
    bytes: usize,
    max_bytes: usize,
}

impl Buffer {
    /// An empty buffer.
    pub fn new(max_bytes: usize) -> Buffer {
        Buffer {
            points: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Appends `p`, dropping the oldest points first while it would not fit; returns
    /// how many were dropped (a point larger than the whole bound drops itself).
    pub fn push(&mut self, p: Point) -> u64 {
        let need = p.bytes();
        if need > self.max_bytes {
            return 1;
        }
        let mut dropped = 0;
        while self.bytes + need > self.max_bytes {
            let Some(old) = self.points.pop_front() else {
                break;
            };
            self.bytes -= old.bytes();
            dropped += 1;
        }
        self.bytes += need;
        self.points.push_back(p);
        dropped
    }

    /// The oldest `n` points (fewer if there are not that many), still held.
    pub fn front(&self, n: usize) -> impl Iterator<Item = &Point> {
        self.points.iter().take(n)
    }

    /// Removes the oldest `n` points (those just sent).
    pub fn consume(&mut self, n: usize) {
        for p in self.points.drain(..n.min(self.points.len())) {
            self.bytes -= p.bytes();
        }
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Bytes held, as counted against the bound.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str, ts: i64) -> Point {
        Point {
            path: path.into(),
            stat: None,
            value: 1.0,
            ts,
        }
    }

    #[test]
    fn drops_the_oldest_past_the_bound_and_keeps_order() {
        let one = p("a,b", 0).bytes();
        let mut b = Buffer::new(one * 3);
        for ts in 0..3 {
            assert_eq!(b.push(p("a,b", ts)), 0);
        }
        assert_eq!(b.push(p("a,b", 3)), 1);
        assert_eq!(b.push(p("a,b", 4)), 1);
        assert_eq!(b.bytes(), one * 3);
        let ts: Vec<i64> = b.front(10).map(|p| p.ts).collect();
        assert_eq!(ts, [2, 3, 4]);
        b.consume(2);
        assert_eq!(b.front(10).map(|p| p.ts).collect::<Vec<_>>(), [4]);
        assert_eq!(b.bytes(), one);
        b.consume(5);
        assert!(b.is_empty() && b.bytes() == 0);
        // A point larger than the bound drops itself, not the others.
        b.push(p("a", 1));
        assert_eq!(b.push(p(&"x".repeat(one * 3), 9)), 1);
        assert_eq!(b.len(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Consume(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (0usize..200).prop_map(Op::Push),
            1 => (0usize..20).prop_map(Op::Consume),
        ]
    }

    proptest::proptest! {
        /// Against a model: a queue of (sequence number, bytes) that drops from the
        /// front while over the bound. Order, bytes, the bound and the drop count agree.
        #[test]
        fn matches_a_model(max in 100usize..2000, ops in proptest::collection::vec(op(), 0..300)) {
            let mut b = Buffer::new(max);
            let mut model: std::collections::VecDeque<(i64, usize)> = Default::default();
            let (mut dropped, mut model_dropped) = (0u64, 0u64);
            for (seq, o) in ops.into_iter().enumerate() {
                let seq = i64::try_from(seq).unwrap();
                match o {
                    Op::Push(len) => {
                        let pt = p(&"k".repeat(len), seq);
                        let need = pt.bytes();
                        dropped += b.push(pt);
                        if need > max {
                            model_dropped += 1;
                        } else {
                            model.push_back((seq, need));
                            while model.iter().map(|m| m.1).sum::<usize>() > max {
                                model.pop_front();
                                model_dropped += 1;
                            }
                        }
                    }
                    Op::Consume(n) => {
                        b.consume(n);
                        for _ in 0..n.min(model.len()) {
                            model.pop_front();
                        }
                    }
                }
                proptest::prop_assert!(b.bytes() <= max);
                proptest::prop_assert_eq!(b.bytes(), model.iter().map(|m| m.1).sum::<usize>());
                proptest::prop_assert_eq!(dropped, model_dropped);
                let got: Vec<i64> = b.front(usize::MAX).map(|p| p.ts).collect();
                let want: Vec<i64> = model.iter().map(|m| m.0).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
