//! The fuzz targets on stable, in every `cargo test`: each target's check (the same
//! `treestat_fuzz_checks::<target>::run` the libFuzzer binaries in `fuzz/` call, model
//! checks included) over every seed in `fuzz/corpus/<target>/`, then over a fixed number
//! of mutations of them (`TREESTAT_FUZZ_SMOKE` per target, default 3000), drawn from a
//! generator seeded by the target's name, so a run is the same every time. Not
//! coverage-guided (that is `fuzz/run.sh`, on nightly): it catches a parser that
//! regresses on an input someone already found or seeded.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Tokens that parsers care about, spliced into mutations.
const TOKENS: &[&[u8]] = &[
    b"1e308",
    b"-1e308",
    b"NaN",
    b"inf",
    b"-0",
    b"0.5",
    b"99999999999",
    b",",
    b".",
    b"|",
    b"||",
    b":",
    b";",
    b"=",
    b"@",
    b"#",
    b"**",
    b"*",
    b"?",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\n",
    b"\r\n",
    b" ",
    b"\t",
    b"\0",
    b"\xff",
    "\u{20ac}".as_bytes(),
    b"now-1d",
    b"-5m",
    b"|c",
    b"|ms",
    b"|g",
    b"|s",
    b"|h",
    b"|@0.1",
    b"$request",
    b"%",
];

const MAX_LEN: usize = 4096;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = if seeds.is_empty() {
        Vec::new()
    } else {
        seeds[rng.below(seeds.len())].clone()
    };
    for _ in 0..=rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(7) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = u8::try_from(rng.below(256)).unwrap_or(0);
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(d.len());
                d.drain(at.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                d.splice(at..at, t.iter().copied());
            }
            4 if !d.is_empty() => {
                let a = rng.below(d.len());
                let b = (a + 1 + rng.below(32)).min(d.len());
                let piece = d[a..b].to_vec();
                d.splice(at..at, piece);
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let a = rng.below(other.len() + 1);
                d.truncate(at);
                d.extend_from_slice(&other[a..]);
            }
            _ => d.insert(at, u8::try_from(rng.below(256)).unwrap_or(0)),
        }
    }
    d.truncate(MAX_LEN);
    d
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

fn smoke(target: &str) {
    let (_, run) = treestat_fuzz_checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz check named {target}"));
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has no seeds");
    let n: usize = std::env::var("TREESTAT_FUZZ_SMOKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut rng = Rng(target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    let inputs = seeds
        .iter()
        .cloned()
        .chain((0..n).map(|_| mutate(&mut rng, &seeds)));
    for (i, input) in inputs.enumerate() {
        if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
            panic!(
                "fuzz check {target} failed on input {i} ({} bytes): {:?}\n\
                 save it as a file and replay it with `fuzz/run.sh --repro FILE` or add it \
                 to fuzz/corpus/{target}/",
                input.len(),
                String::from_utf8_lossy(&input)
            );
        }
    }
}

macro_rules! smoke_tests {
    ($($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                smoke(stringify!($name));
            }
        )*

        #[test]
        fn every_check_has_a_smoke_test() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in treestat_fuzz_checks::TARGETS {
                assert!(tested.contains(name), "add {name} to smoke_tests! in tests/fuzz_smoke.rs");
            }
        }
    };
}

smoke_tests! {
    amqp_message graph_options graphite log_format_compile log_formats mmstats pattern
    psistats push_json simplestats statsd tcp_lines time trend_chunk wal_records
}
