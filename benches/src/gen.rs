//! Deterministic generators: the random number source, keys and values, and YCSB's request
//! distributions (uniform, scrambled zipfian, skewed latest).
//!
//! Everything here is seeded explicitly and implemented locally (no `rand` algorithms whose
//! streams could change between crate versions), so a given `--seed` always produces the same
//! operation sequence for each thread.

/// SplitMix64: tiny, fast, and good enough to pick benchmark keys. Its stream is fixed forever.
#[derive(Clone, Debug)]
pub struct Rng64 {
    state: u64,
}

impl Rng64 {
    /// A generator whose stream depends only on `seed`.
    pub fn new(seed: u64) -> Rng64 {
        Rng64 { state: seed }
    }

    /// A generator for one (workload, thread) pair: the streams of different pairs are
    /// unrelated, and each is reproducible from the run's seed.
    pub fn for_stream(seed: u64, workload: &str, thread: usize) -> Rng64 {
        let mut h = fnv64(seed);
        for b in workload.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME_64);
        }
        h ^= (thread as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng64::new(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32 for our ranges).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A seeded Fisher-Yates permutation of `0..n`: the insertion order of `fillrandom`.
pub fn permutation(n: u64, seed: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut rng = Rng64::new(seed ^ 0x005E_ED0F_F111);
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

/// Keys in db_bench's style: the decimal index, zero-padded to the key size, so byte order is
/// index order (`fillseq` writes in key order).
#[derive(Clone, Copy, Debug)]
pub struct KeyFormat {
    /// Bytes per key.
    pub size: usize,
}

impl KeyFormat {
    /// Decimal digits needed for indices below `n`.
    pub fn digits_for(n: u64) -> usize {
        n.max(1).ilog10() as usize + 1
    }

    /// Writes the key of index `i` into `buf` (resized to the key size).
    pub fn write(&self, i: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.resize(self.size, b'0');
        let mut x = i;
        for b in buf.iter_mut().rev() {
            *b = b'0' + (x % 10) as u8;
            x /= 10;
            if x == 0 {
                break;
            }
        }
    }

    /// A key that is never written but falls between written keys (so neither key-range
    /// checks nor the end of the key space can answer for it; only filters or a real lookup).
    pub fn write_missing(&self, i: u64, buf: &mut Vec<u8>) {
        self.write(i, buf);
        if let Some(last) = buf.last_mut() {
            *last = b'x';
        }
    }
}

/// A pool of random bytes that values are sliced from (random, so incompressible; every engine
/// is configured without compression anyway).
pub struct ValuePool {
    bytes: Vec<u8>,
    size: usize,
}

impl ValuePool {
    /// A 1 MiB pool (or more for huge values) for values of `size` bytes.
    pub fn new(size: usize, seed: u64) -> ValuePool {
        let len = (1 << 20).max(size * 4);
        let mut rng = Rng64::new(seed ^ 0x7A1E);
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        ValuePool { bytes, size }
    }

    /// A value: `size` bytes at a random offset of the pool.
    pub fn value(&self, rng: &mut Rng64) -> &[u8] {
        let start = rng.below((self.bytes.len() - self.size) as u64 + 1) as usize;
        &self.bytes[start..start + self.size]
    }
}

const FNV_OFFSET_BASIS_64: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME_64: u64 = 1_099_511_628_211;

/// YCSB's `Utils.fnvhash64`: FNV-1a over the eight little-endian bytes, sign dropped.
pub fn fnv64(mut val: u64) -> u64 {
    let mut h = FNV_OFFSET_BASIS_64;
    for _ in 0..8 {
        h ^= val & 0xff;
        h = h.wrapping_mul(FNV_PRIME_64);
        val >>= 8;
    }
    (h as i64).wrapping_abs() as u64
}

/// YCSB's default skew.
pub const ZIPFIAN_CONSTANT: f64 = 0.99;
/// YCSB's `ScrambledZipfianGenerator` draws from this many items, then hashes into the key
/// space, so the popular items are spread over the keys.
const SCRAMBLED_ITEM_COUNT: u64 = 10_000_000_000;
/// zeta(10^10, 0.99), the constant YCSB precomputes for [`SCRAMBLED_ITEM_COUNT`].
const SCRAMBLED_ZETAN: f64 = 26.469_028_201_783_02;

/// `sum_{i=from+1}^{to} 1/i^theta`, added to `initial` (YCSB's incremental `zeta`).
fn zeta(from: u64, to: u64, theta: f64, initial: f64) -> f64 {
    let mut sum = initial;
    for i in from..to {
        sum += 1.0 / ((i + 1) as f64).powf(theta);
    }
    sum
}

/// YCSB's `ZipfianGenerator` (Gray et al., "Quickly generating billion-record synthetic
/// databases"): item `0` is the most popular. The item count may grow between draws (used by
/// the "latest" distribution); zeta is then extended incrementally as YCSB does.
#[derive(Clone, Debug)]
pub struct Zipfian {
    theta: f64,
    alpha: f64,
    zeta2theta: f64,
    zetan: f64,
    count_for_zeta: u64,
    eta: f64,
}

impl Zipfian {
    /// A generator over `items` items with skew `theta` (computes zeta in O(items)).
    pub fn new(items: u64, theta: f64) -> Zipfian {
        let zetan = zeta(0, items, theta, 0.0);
        Zipfian::with_zetan(items, theta, zetan)
    }

    fn with_zetan(items: u64, theta: f64, zetan: f64) -> Zipfian {
        let zeta2theta = zeta(0, 2, theta, 0.0);
        let mut z = Zipfian {
            theta,
            alpha: 1.0 / (1.0 - theta),
            zeta2theta,
            zetan,
            count_for_zeta: items,
            eta: 0.0,
        };
        z.eta = z.eta_for(items);
        z
    }

    fn eta_for(&self, items: u64) -> f64 {
        (1.0 - (2.0 / items as f64).powf(1.0 - self.theta)) / (1.0 - self.zeta2theta / self.zetan)
    }

    /// A draw in `0..items`.
    pub fn next(&mut self, rng: &mut Rng64, items: u64) -> u64 {
        let items = items.max(1);
        if items != self.count_for_zeta {
            self.zetan = if items > self.count_for_zeta {
                zeta(self.count_for_zeta, items, self.theta, self.zetan)
            } else {
                zeta(0, items, self.theta, 0.0)
            };
            self.count_for_zeta = items;
            self.eta = self.eta_for(items);
        }
        let u = rng.next_f64();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(items - 1);
        }
        let v = (items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        v.min(items - 1)
    }
}

/// How a YCSB workload picks the key of a read or update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Every existing key equally likely.
    Uniform,
    /// YCSB's scrambled zipfian (theta 0.99): a few keys are hot, spread over the key space.
    Zipfian,
    /// YCSB's skewed-latest: the most recently inserted keys are the hottest (workload D).
    Latest,
}

impl Distribution {
    /// Short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Zipfian => "zipfian",
            Distribution::Latest => "latest",
        }
    }
}

/// Picks key indices for one thread.
pub struct KeyChooser {
    dist: Distribution,
    /// Keys the scrambled zipfian maps onto: the loaded keys plus YCSB's allowance for keys
    /// inserted during the run (`expectednewkeys`); draws not inserted yet are redrawn.
    space: u64,
    zipf: Zipfian,
}

impl KeyChooser {
    /// A chooser over the `loaded` keys, expecting up to `expected_new` inserts.
    pub fn new(dist: Distribution, loaded: u64, expected_new: u64) -> KeyChooser {
        let zipf = match dist {
            Distribution::Zipfian => {
                Zipfian::with_zetan(SCRAMBLED_ITEM_COUNT, ZIPFIAN_CONSTANT, SCRAMBLED_ZETAN)
            }
            // The latest distribution's item count grows with inserts; start at the load.
            _ => Zipfian::new(loaded.max(2), ZIPFIAN_CONSTANT),
        };
        KeyChooser {
            dist,
            space: loaded + expected_new,
            zipf,
        }
    }

    /// The next key index; `existing` is how many keys exist now (indices `0..existing`).
    pub fn next(&mut self, rng: &mut Rng64, existing: u64) -> u64 {
        let existing = existing.max(1);
        match self.dist {
            Distribution::Uniform => rng.below(existing),
            Distribution::Zipfian => {
                // Bounded redraws, then fall back into range: a sparse tail must not spin.
                for _ in 0..64 {
                    let v = self.zipf.next(rng, SCRAMBLED_ITEM_COUNT);
                    let k = fnv64(v) % self.space.max(1);
                    if k < existing {
                        return k;
                    }
                }
                rng.below(existing)
            }
            Distribution::Latest => {
                let newest = existing - 1;
                newest - self.zipf.next(rng, existing).min(newest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng64::for_stream(7, "readrandom", 0);
        let mut b = Rng64::for_stream(7, "readrandom", 0);
        let mut c = Rng64::for_stream(7, "readrandom", 1);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            counts[a.below(10) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn permutation_covers_every_index_once() {
        let p = permutation(1000, 3);
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..1000).collect::<Vec<_>>());
        assert_ne!(p, s);
        assert_eq!(p, permutation(1000, 3));
    }

    #[test]
    fn keys_sort_by_index_and_missing_keys_interleave() {
        let f = KeyFormat { size: 16 };
        let (mut a, mut b, mut m) = (Vec::new(), Vec::new(), Vec::new());
        f.write(41, &mut a);
        f.write(42, &mut b);
        f.write_missing(41, &mut m);
        assert_eq!(a, b"0000000000000041");
        assert!(a < b);
        // "…004x" sorts between the written keys "…0049" and "…0050".
        let (mut k49, mut k50) = (Vec::new(), Vec::new());
        f.write(49, &mut k49);
        f.write(50, &mut k50);
        assert!(k49 < m && m < k50);
        assert_eq!(KeyFormat::digits_for(1_000_000), 7);
        assert_eq!(KeyFormat::digits_for(999_999), 6);
    }

    #[test]
    fn zipfian_is_skewed_toward_small_items() {
        let mut z = Zipfian::new(1000, ZIPFIAN_CONSTANT);
        let mut rng = Rng64::new(1);
        let mut hot = 0;
        for _ in 0..10_000 {
            let v = z.next(&mut rng, 1000);
            assert!(v < 1000);
            if v < 10 {
                hot += 1;
            }
        }
        // Under theta 0.99 the first 1% of items draw roughly 40% of requests.
        assert!(hot > 3000, "hot draws: {hot}");
        // Growing the item count extends zeta incrementally to the same value as from scratch.
        z.next(&mut rng, 2000);
        let fresh = Zipfian::new(2000, ZIPFIAN_CONSTANT);
        assert!((z.zetan - fresh.zetan).abs() < 1e-9);
    }

    #[test]
    fn choosers_stay_in_range() {
        let mut rng = Rng64::new(9);
        for dist in [
            Distribution::Uniform,
            Distribution::Zipfian,
            Distribution::Latest,
        ] {
            let mut c = KeyChooser::new(dist, 500, 100);
            for existing in [1u64, 2, 500, 550] {
                for _ in 0..200 {
                    assert!(c.next(&mut rng, existing) < existing);
                }
            }
        }
        // Latest favours the newest keys.
        let mut c = KeyChooser::new(Distribution::Latest, 1000, 0);
        let recent = (0..1000).filter(|_| c.next(&mut rng, 1000) >= 990).count();
        assert!(recent > 300, "recent draws: {recent}");
    }
}
