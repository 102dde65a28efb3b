//! The workloads: names, groups, and what each one does.
//!
//! db_bench-style: `fillseq`, `fillrandom` (each on a fresh database), `overwrite`,
//! `readrandom`, `readmissing`, `readseq`, `readreverse`, `seekrandom` (seek + 10 nexts),
//! `deleterandom`, `readwhilewriting` (the client threads read, one extra thread overwrites).
//!
//! YCSB core workloads (records are single values; inserts take new, ascending key indices,
//! i.e. YCSB's `insertorder=ordered`):
//!
//! | workload | mix | key choice |
//! | --- | --- | --- |
//! | A | 50% read, 50% update | zipfian |
//! | B | 95% read, 5% update | zipfian |
//! | C | 100% read | zipfian |
//! | D | 95% read, 5% insert | latest |
//! | E | 95% scan (1..=100 entries, uniform), 5% insert | zipfian |
//! | F | 50% read, 50% read-modify-write | zipfian |
//!
//! `ycsb-x-uniform` runs the same mix with uniform key choice.

use crate::gen::Distribution;

/// A YCSB core workload letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ycsb {
    /// Update heavy.
    A,
    /// Read mostly.
    B,
    /// Read only.
    C,
    /// Read latest.
    D,
    /// Short ranges.
    E,
    /// Read-modify-write.
    F,
}

impl Ycsb {
    /// `(read, update, insert, scan, rmw)` proportions.
    pub fn mix(self) -> [f64; 5] {
        match self {
            Ycsb::A => [0.5, 0.5, 0.0, 0.0, 0.0],
            Ycsb::B => [0.95, 0.05, 0.0, 0.0, 0.0],
            Ycsb::C => [1.0, 0.0, 0.0, 0.0, 0.0],
            Ycsb::D => [0.95, 0.0, 0.05, 0.0, 0.0],
            Ycsb::E => [0.0, 0.0, 0.05, 0.95, 0.0],
            Ycsb::F => [0.5, 0.0, 0.0, 0.0, 0.5],
        }
    }

    fn letter(self) -> char {
        match self {
            Ycsb::A => 'a',
            Ycsb::B => 'b',
            Ycsb::C => 'c',
            Ycsb::D => 'd',
            Ycsb::E => 'e',
            Ycsb::F => 'f',
        }
    }

    const ALL: [Ycsb; 6] = [Ycsb::A, Ycsb::B, Ycsb::C, Ycsb::D, Ycsb::E, Ycsb::F];
}

/// One workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Sequential inserts into a fresh database.
    FillSeq,
    /// Inserts in a random permutation into a fresh database.
    FillRandom,
    /// Random updates of existing keys.
    Overwrite,
    /// Random point reads of existing keys.
    ReadRandom,
    /// Random point reads of keys that were never written.
    ReadMissing,
    /// A full forward scan per thread.
    ReadSeq,
    /// A full backward scan per thread.
    ReadReverse,
    /// Seek to a random key, then 10 nexts.
    SeekRandom,
    /// Random deletes.
    DeleteRandom,
    /// Random reads while one extra thread overwrites.
    ReadWhileWriting,
    /// A YCSB core workload.
    Ycsb(Ycsb, Distribution),
}

impl Workload {
    /// The workload's name (as accepted by `--workloads`).
    pub fn name(self) -> String {
        match self {
            Workload::FillSeq => "fillseq".into(),
            Workload::FillRandom => "fillrandom".into(),
            Workload::Overwrite => "overwrite".into(),
            Workload::ReadRandom => "readrandom".into(),
            Workload::ReadMissing => "readmissing".into(),
            Workload::ReadSeq => "readseq".into(),
            Workload::ReadReverse => "readreverse".into(),
            Workload::SeekRandom => "seekrandom".into(),
            Workload::DeleteRandom => "deleterandom".into(),
            Workload::ReadWhileWriting => "readwhilewriting".into(),
            Workload::Ycsb(y, Distribution::Uniform) => format!("ycsb-{}-uniform", y.letter()),
            Workload::Ycsb(y, _) => format!("ycsb-{}", y.letter()),
        }
    }

    /// Starts from an empty database.
    pub fn is_fill(self) -> bool {
        matches!(self, Workload::FillSeq | Workload::FillRandom)
    }

    /// Writes anything (its device bytes and write amplification are reported, and background
    /// work is allowed to settle after it).
    pub fn writes(self) -> bool {
        match self {
            Workload::FillSeq
            | Workload::FillRandom
            | Workload::Overwrite
            | Workload::DeleteRandom
            | Workload::ReadWhileWriting => true,
            Workload::Ycsb(y, _) => y != Ycsb::C,
            _ => false,
        }
    }

    fn ycsb_default_dist(y: Ycsb) -> Distribution {
        if y == Ycsb::D {
            Distribution::Latest
        } else {
            Distribution::Zipfian
        }
    }

    /// Every single workload name.
    pub fn all() -> Vec<Workload> {
        let mut v = Self::dbbench();
        v.extend(Ycsb::ALL.map(|y| Workload::Ycsb(y, Self::ycsb_default_dist(y))));
        v.extend(Ycsb::ALL.map(|y| Workload::Ycsb(y, Distribution::Uniform)));
        v
    }

    fn dbbench() -> Vec<Workload> {
        vec![
            Workload::FillSeq,
            Workload::FillRandom,
            Workload::Overwrite,
            Workload::ReadRandom,
            Workload::ReadMissing,
            Workload::ReadSeq,
            Workload::ReadReverse,
            Workload::SeekRandom,
            Workload::ReadWhileWriting,
            Workload::DeleteRandom,
        ]
    }

    /// Expands names and groups, in order. Groups: `dbbench`; `ycsb` (zipfian/latest);
    /// `ycsb-uniform`; `default` = the db_bench set with the zipfian YCSB set before the
    /// destructive `deleterandom`; `all` = default plus the uniform YCSB set.
    pub fn parse_list(names: &[String]) -> Result<Vec<Workload>, String> {
        let mut out = Vec::new();
        let ycsb = || Ycsb::ALL.map(|y| Workload::Ycsb(y, Self::ycsb_default_dist(y)));
        let ycsb_uniform = || Ycsb::ALL.map(|y| Workload::Ycsb(y, Distribution::Uniform));
        for raw in names {
            let name = raw.trim();
            match name {
                "" => {}
                "dbbench" => out.extend(Self::dbbench()),
                "ycsb" => out.extend(ycsb()),
                "ycsb-uniform" => out.extend(ycsb_uniform()),
                "default" | "all" => {
                    let mut v = Self::dbbench();
                    let del = v.pop();
                    v.extend(ycsb());
                    if name == "all" {
                        v.extend(ycsb_uniform());
                    }
                    v.extend(del);
                    out.extend(v);
                }
                _ => match Self::all().into_iter().find(|w| w.name() == name) {
                    Some(w) => out.push(w),
                    None => {
                        let known: Vec<String> = Self::all().iter().map(|w| w.name()).collect();
                        return Err(format!(
                            "unknown workload {name:?}; known: {}, or a group: default, all, dbbench, ycsb, ycsb-uniform",
                            known.join(", ")
                        ));
                    }
                },
            }
        }
        if out.is_empty() {
            return Err("no workloads given".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_groups_expand() {
        for w in Workload::all() {
            let parsed = Workload::parse_list(&[w.name()]).expect("parse");
            assert_eq!(parsed, vec![w]);
        }
        let d = Workload::parse_list(&["default".into()]).expect("default");
        assert_eq!(d.first(), Some(&Workload::FillSeq));
        assert_eq!(d.last(), Some(&Workload::DeleteRandom));
        assert_eq!(d.len(), 16);
        assert_eq!(
            Workload::parse_list(&["all".into()]).expect("all").len(),
            22
        );
        assert!(Workload::parse_list(&["nope".into()]).is_err());
        assert!(Workload::parse_list(&[]).is_err());
        for y in Ycsb::ALL {
            assert!((y.mix().iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
