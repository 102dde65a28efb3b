//! Unit tests of the B+ tree: page formats here, engine behaviour in `engine.rs`.

mod engine;
mod stress;

use std::path::Path;

use bytes::Bytes;

use super::node::*;
use super::page::*;
use crate::error::Error;

const GEO: Geometry = Geometry { page_size: 512 };

/// Appends a leaf entry at the end of `n`.
fn push(n: &mut Node, key: &[u8], spill: Option<PageRef>, val: ValRef<'_>) {
    let mut cell = Vec::new();
    leaf_cell(&mut cell, key, spill, val);
    n.insert_cell(
        n.keys(),
        &cell,
        spill.map(|r| (r, Bytes::copy_from_slice(key))),
    );
}

fn leaf() -> Node {
    let mut n = Node::new_leaf(7);
    push(&mut n, b"", None, ValRef::Inline(b"empty key"));
    push(&mut n, b"apple", None, ValRef::Inline(b""));
    push(
        &mut n,
        &[b'k'; 300],
        Some(PageRef { page: 40, gen: 3 }),
        ValRef::Spilled {
            at: PageRef { page: 50, gen: 6 },
            len: 100_000,
        },
    );
    n
}

fn branch() -> Node {
    let mut n = Node::new_branch(9, 2, PageRef { page: 2, gen: 1 });
    let mut scratch = Vec::new();
    let m = Sep {
        key: Bytes::from_static(b"m"),
        spill: None,
    };
    let t = Sep {
        key: Bytes::from(vec![b't'; 200]),
        spill: Some(PageRef { page: 77, gen: 8 }),
    };
    n.insert_sep(0, &m, PageRef { page: 3, gen: 2 }, &mut scratch);
    n.insert_sep(1, &t, PageRef { page: 4, gen: 9 }, &mut scratch);
    n
}

/// Serves spilled keys of the sample nodes.
fn spills(r: PageRef, len: u64) -> crate::Result<Bytes> {
    match r.page {
        40 => Ok(Bytes::from(vec![b'k'; len as usize])),
        77 => Ok(Bytes::from(vec![b't'; len as usize])),
        p => Err(Error::corruption("f", 0, format!("no spill at {p}"))),
    }
}

fn loc(page: u32) -> Loc<'static> {
    Loc {
        path: Path::new("/db/strata.btree"),
        page,
        offset: GEO.offset(page),
    }
}

fn encode_node(n: &Node, page: u32, geo: Geometry) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    n.clone().encode_into(page, geo, &mut out)?;
    Ok(out)
}

fn decode(img: &[u8], page: u32, gen: u64, level: u8) -> crate::Result<Node> {
    decode_node(img, loc(page), gen, level, 1 << 16, &mut spills)
}

#[test]
fn leaf_and_branch_round_trip() {
    for (node, level) in [(leaf(), 0), (branch(), 2)] {
        let img = encode_node(&node, 12, GEO).unwrap();
        assert_eq!(img.len(), 512);
        let back = decode(&img, 12, node.gen(), level).unwrap();
        assert_eq!(back, node);
    }
    let b = branch();
    assert_eq!(b.len(), 3);
    assert_eq!(b.child(0), PageRef { page: 2, gen: 1 });
    assert_eq!(b.child(2), PageRef { page: 4, gen: 9 });
    assert_eq!(b.key(1), &[b't'; 200][..]);
    let l = leaf();
    assert_eq!(l.entry(2).key, &[b'k'; 300][..]);
    assert_eq!(l.entry(0).val, ValRef::Inline(b"empty key"));
    let empty = Node::new_leaf(3);
    let img = encode_node(&empty, 5, GEO).unwrap();
    assert_eq!(decode(&img, 5, 3, 0).unwrap(), empty);
}

#[test]
fn every_flipped_bit_of_a_page_is_caught() {
    let img = encode_node(&leaf(), 12, GEO).unwrap();
    for i in 0..img.len() {
        let mut bad = img.clone();
        bad[i] ^= 1 << (i % 8);
        let e = decode(&bad, 12, 7, 0).unwrap_err();
        match e {
            Error::Corruption { file, offset, .. } => {
                assert_eq!(file, Path::new("/db/strata.btree"));
                assert!(
                    offset >= GEO.offset(12) && offset < GEO.offset(13),
                    "offset {offset}"
                );
            }
            other => panic!("flip at {i}: {other:?}"),
        }
    }
}

#[test]
fn wrong_page_gen_level_or_kind_is_caught() {
    let img = encode_node(&leaf(), 12, GEO).unwrap();
    // Misplaced (the page number is part of the checksum), stale, wrong level, wrong kind.
    assert!(decode(&img, 13, 7, 0).unwrap_err().is_corruption());
    let stale = decode(&img, 12, 8, 0).unwrap_err().to_string();
    assert!(stale.contains("transaction 7"), "{stale}");
    assert!(decode(&img, 12, 7, 1).unwrap_err().is_corruption());
    let b = encode_node(&branch(), 12, GEO).unwrap();
    assert!(decode(&b, 12, 9, 1).unwrap_err().is_corruption());
    assert!(decode(&img[..20], 12, 7, 0).unwrap_err().is_corruption());
}

/// Re-seals a page whose body was altered, so that only the structural checks can object.
fn reseal(mut img: Vec<u8>, page: u32, body_len: Option<usize>) -> Vec<u8> {
    if let Some(n) = body_len {
        img[20..24].copy_from_slice(&(n as u32).to_le_bytes());
    }
    seal(&mut img, page);
    img
}

#[test]
fn malformed_bodies_with_valid_checksums_are_corruption() {
    let img = encode_node(&leaf(), 12, GEO).unwrap();
    let body_len = leaf().size();
    // Body length past the page, cut short, with trailing bytes, bad flags, unsorted keys.
    let cases = vec![
        reseal(img.clone(), 12, Some(600)),
        reseal(img.clone(), 12, Some(body_len - 3)),
        reseal(img.clone(), 12, Some(body_len + 1)),
        {
            let mut b = img.clone();
            b[HEADER_LEN] = 0x80;
            reseal(b, 12, None)
        },
        {
            let mut b = img.clone();
            b[6] = 200; // count
            reseal(b, 12, None)
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let e = decode(&c, 12, 7, 0).unwrap_err();
        assert!(e.is_corruption(), "case {i}: {e:?}");
    }
    // Keys out of order: a valid image of [a, b] with the keys swapped.
    let mut n = Node::new_leaf(7);
    push(&mut n, b"a", None, ValRef::Inline(b"1"));
    push(&mut n, b"b", None, ValRef::Inline(b"2"));
    let mut img = encode_node(&n, 12, GEO).unwrap();
    let (i, j) = (HEADER_LEN + 2, HEADER_LEN + 7);
    assert_eq!((img[i], img[j]), (b'a', b'b'));
    img.swap(i, j);
    let img = reseal(img, 12, None);
    assert!(decode(&img, 12, 7, 0)
        .unwrap_err()
        .to_string()
        .contains("not above"));
    // A reference to a meta page, a key longer than the limit.
    let mut n = branch();
    n.set_child(1, PageRef { page: 1, gen: 2 });
    let img = encode_node(&n, 12, GEO).unwrap();
    assert!(decode(&img, 12, 9, 2).is_err());
    let img = encode_node(&leaf(), 12, GEO).unwrap();
    let r = decode_node(&img, loc(12), 7, 0, 100, &mut spills);
    assert!(r.unwrap_err().to_string().contains("exceeds the limit"));
}

#[test]
fn oversized_or_unordered_nodes_are_refused_by_the_encoder() {
    let mut n = Node::new_leaf(1);
    for i in 0..3 {
        push(&mut n, &[i; 100], None, ValRef::Inline(&[2u8; 100]));
    }
    assert!(n.size() > GEO.usable());
    assert!(encode_node(&n, 2, GEO).is_err());
    // A leaf whose keys do not ascend is never written (it could not be read back).
    let mut n = Node::new_leaf(1);
    push(&mut n, b"b", None, ValRef::Inline(b""));
    push(&mut n, b"a", None, ValRef::Inline(b""));
    let e = encode_node(&n, 2, GEO).unwrap_err().to_string();
    assert!(e.contains("not above its predecessor"), "{e}");
}

#[test]
fn overflow_runs_round_trip_and_detect_damage() {
    for len in [0usize, 1, 479, 480, 481, 5000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let raw = encode_run(&data, 30, 4, GEO);
        assert_eq!(raw.len() as u64, GEO.run_pages(len as u64) * 512);
        let at = PageRef { page: 30, gen: 4 };
        let p = Path::new("f");
        assert_eq!(decode_run(&raw, at, len as u64, GEO, p).unwrap(), data);
        assert!(decode_run(&raw, PageRef { page: 30, gen: 5 }, len as u64, GEO, p).is_err());
        assert!(decode_run(&raw, PageRef { page: 31, gen: 4 }, len as u64, GEO, p).is_err());
        for i in (0..raw.len()).step_by(97) {
            let mut bad = raw.clone();
            bad[i] ^= 0x40;
            assert!(
                decode_run(&bad, at, len as u64, GEO, p).is_err(),
                "len {len} flip {i}"
            );
        }
        if len > 0 {
            // A length that disagrees with the run.
            assert!(decode_run(&raw, at, len as u64 - 1, GEO, p).is_err());
        }
    }
}

#[test]
fn geometry() {
    assert_eq!(GEO.usable(), 480);
    assert_eq!(GEO.max_entry(), 120);
    assert_eq!(GEO.run_pages(0), 1);
    assert_eq!(GEO.run_pages(960), 2);
    assert_eq!(GEO.run_pages(961), 3);
    assert_eq!(varint_len(127), 1);
    assert_eq!(varint_len(128), 2);
    assert_eq!(varint_len(u64::MAX), 10);
    assert_eq!(
        super::txn::shortest_separator(b"abc", b"abd"),
        Bytes::from_static(b"abd")
    );
    assert_eq!(
        super::txn::shortest_separator(b"ab", b"abzz"),
        Bytes::from_static(b"abz")
    );
    assert_eq!(
        super::txn::shortest_separator(b"a", b"b"),
        Bytes::from_static(b"b")
    );
    assert_eq!(
        super::txn::shortest_separator(b"", b"\0"),
        Bytes::from_static(b"\0")
    );
}

#[test]
fn prefix_index_search_matches_plain_search() {
    // Keys sharing 8-byte prefixes, shorter than 8 bytes, and with zero bytes.
    let keys: Vec<&[u8]> = vec![
        b"",
        b"\0",
        b"a",
        b"a\0",
        b"abcdefgh",
        b"abcdefgh\0",
        b"abcdefghA",
        b"abcdefghB",
        b"abcdefgi",
        b"b",
        b"zzzzzzzzzzzz",
    ];
    let mut plain = Node::new_leaf(1);
    for k in &keys {
        push(&mut plain, k, None, ValRef::Inline(b""));
    }
    let mut indexed = plain.clone();
    indexed.build_index();
    assert!(indexed.has_index() && !plain.has_index());
    // A copy, and any change, drops the index.
    assert!(!indexed.clone().has_index());
    let mut changed = indexed.clone();
    changed.build_index();
    changed.remove_cells(0, 1);
    assert!(!changed.has_index());
    let probes: Vec<&[u8]> = vec![
        b"",
        b"\0",
        b"\0\0",
        b"a",
        b"a\0",
        b"a\0\0",
        b"abcdefgh",
        b"abcdefgh\0",
        b"abcdefghAA",
        b"abcdefghB",
        b"abcdefgz",
        b"b",
        b"c",
        b"zzzzzzzzzzzzz",
        b"\xff",
    ];
    for p in probes {
        for upper in [false, true] {
            assert_eq!(
                indexed.bound(p, upper),
                plain.bound(p, upper),
                "{p:?} {upper}"
            );
        }
        assert_eq!(indexed.search(p), plain.search(p), "{p:?}");
        assert_eq!(
            plain.search(p),
            keys.binary_search(&p),
            "plain search agrees with the standard library for {p:?}"
        );
    }
}

#[test]
fn index_over_a_shared_prefix_matches_plain_search() {
    // Nodes whose keys all share a prefix (db_bench's zero-padded decimals, `table/…` keys):
    // the index skips it, and probes that leave it early, late, or stop inside it must still
    // land where a plain search does.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for round in 0..300 {
        let shared: Vec<u8> = (0..rng.gen_range(0..20))
            .map(|_| [b'0', b'a', 0u8][rng.gen_range(0..3)])
            .collect();
        let mut keys: Vec<Vec<u8>> = (0..rng.gen_range(1..40))
            .map(|_| {
                let mut k = shared.clone();
                k.extend(
                    (0..rng.gen_range(0..12)).map(|_| [b'0', b'1', b'9', 0u8][rng.gen_range(0..4)]),
                );
                k
            })
            .collect();
        keys.sort();
        keys.dedup();
        let mut plain = Node::new_leaf(1);
        for k in &keys {
            push(&mut plain, k, None, ValRef::Inline(b""));
        }
        let mut indexed = plain.clone();
        indexed.build_index();
        let mut probes: Vec<Vec<u8>> = keys.clone();
        for _ in 0..40 {
            let mut p = shared[..rng.gen_range(0..=shared.len())].to_vec();
            if rng.gen_bool(0.3) && !p.is_empty() {
                let i = rng.gen_range(0..p.len());
                p[i] = [0u8, b'1', 0xff][rng.gen_range(0..3)];
            }
            p.extend(
                (0..rng.gen_range(0..14)).map(|_| [b'0', b'1', b'9', 0u8][rng.gen_range(0..4)]),
            );
            probes.push(p);
        }
        for p in &probes {
            for upper in [false, true] {
                assert_eq!(
                    indexed.bound(p, upper),
                    plain.bound(p, upper),
                    "round {round}: {p:?} upper={upper} shared={shared:?}"
                );
            }
            assert_eq!(
                indexed.search(p),
                keys.binary_search(p),
                "round {round}: {p:?}"
            );
        }
    }
}
