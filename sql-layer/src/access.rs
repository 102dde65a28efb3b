//! Access-path selection: which key range of a table (its primary key or a secondary index)
//! a scan reads, given the conjuncts of its filter. A pure function of the table definition
//! and the predicates, separate from execution, so it is tested table-driven below.
//!
//! Rules: a predicate is usable when it has the form `column op K` (or `K op column`) with
//! `op` in `= < <= > >=`, or `column IN (K, ...)`, where every `K` is independent of the row
//! (literals, parameters, outer references). For every candidate key — the primary key, then
//! each secondary index — the usable predicates give equalities on a prefix of its columns
//! plus at most one range on the next column. The candidate with the most equalities wins; a
//! range beats none; an IN list on the first key column comes next; ties go to the primary key
//! (no second lookup). A key whose every column is pinned by equality (primary or unique)
//! beats everything. The scan keeps the full filter, so a key range only has to be a superset
//! of the matching rows.

use crate::catalog::TableDef;
use crate::expr::{BinOp, Expr};
use crate::plan::Access;

/// A usable predicate.
#[derive(Debug)]
pub enum Pred<'a> {
    /// `column op value`.
    Cmp {
        /// Column position.
        col: usize,
        /// Comparison (column on the left).
        op: BinOp,
        /// Row-independent value.
        value: &'a Expr,
    },
    /// `column IN (values)`.
    In {
        /// Column position.
        col: usize,
        /// Row-independent values.
        values: &'a [Expr],
    },
}

/// Recognizes a usable predicate.
pub fn classify(e: &Expr) -> Option<Pred<'_>> {
    match e {
        Expr::Binary {
            op, left, right, ..
        } if op.is_comparison() && *op != BinOp::NotEq => match (&**left, &**right) {
            (Expr::Column(c), v) if v.is_row_independent() => Some(Pred::Cmp {
                col: *c,
                op: *op,
                value: v,
            }),
            (v, Expr::Column(c)) if v.is_row_independent() => Some(Pred::Cmp {
                col: *c,
                op: op.flip(),
                value: v,
            }),
            _ => None,
        },
        Expr::InList {
            expr,
            list,
            negated: false,
        } => match &**expr {
            Expr::Column(c) if list.iter().all(Expr::is_row_independent) && !list.is_empty() => {
                Some(Pred::In {
                    col: *c,
                    values: list,
                })
            }
            _ => None,
        },
        _ => None,
    }
}

struct Candidate {
    score: u32,
    access: Access,
}

fn evaluate(index: Option<u32>, cols: &[usize], full_key: bool, preds: &[Pred<'_>]) -> Candidate {
    let mut access = Access {
        index,
        ..Access::default()
    };
    let mut eq_count = 0;
    for &c in cols {
        let eq = preds.iter().find_map(|p| match p {
            Pred::Cmp {
                col,
                op: BinOp::Eq,
                value,
            } if *col == c => Some(*value),
            _ => None,
        });
        match eq {
            Some(v) => {
                access.eq.push(v.copy());
                eq_count += 1;
            }
            None => break,
        }
    }
    if eq_count == cols.len() && full_key {
        return Candidate {
            score: 1000,
            access,
        };
    }
    let mut score = eq_count as u32 * 10;
    if let Some(&next) = cols.get(eq_count) {
        for p in preds {
            if let Pred::Cmp { col, op, value } = p {
                if *col != next {
                    continue;
                }
                match op {
                    BinOp::Gt | BinOp::GtEq if access.lo.is_none() => {
                        access.lo = Some((value.copy(), *op == BinOp::GtEq))
                    }
                    BinOp::Lt | BinOp::LtEq if access.hi.is_none() => {
                        access.hi = Some((value.copy(), *op == BinOp::LtEq))
                    }
                    _ => {}
                }
            }
        }
        if access.lo.is_some() || access.hi.is_some() {
            score += 5;
        }
    }
    if score == 0 {
        if let Some(&first) = cols.first() {
            if let Some(values) = preds.iter().find_map(|p| match p {
                Pred::In { col, values } if *col == first => Some(*values),
                _ => None,
            }) {
                access.in_list = values.iter().map(Expr::copy).collect();
                score = 3;
            }
        }
    }
    Candidate { score, access }
}

/// Picks the access path for a scan of `table` filtered by `preds`.
pub fn choose_access(table: &TableDef, preds: &[Pred<'_>]) -> Access {
    let mut best: Option<Candidate> = None;
    let mut consider = |c: Candidate| {
        if c.score > 0 && best.as_ref().is_none_or(|b| c.score > b.score) {
            best = Some(c);
        }
    };
    if !table.pk.is_empty() {
        let mut c = evaluate(None, &table.pk, true, preds);
        c.score += u32::from(c.score > 0);
        consider(c);
    }
    for idx in &table.indexes {
        consider(evaluate(Some(idx.id), &idx.columns, idx.unique, preds));
    }
    best.map(|b| b.access).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ColumnDef, IndexDef};
    use crate::types::{DataType, Value};

    fn table() -> TableDef {
        let col = |n: &str| ColumnDef {
            name: n.into(),
            ty: DataType::Int,
            nullable: true,
            default: None,
            fill: Value::Null,
        };
        TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![col("a"), col("b"), col("c"), col("d")],
            pk: vec![0],
            pk_name: "t_pkey".into(),
            indexes: vec![
                IndexDef {
                    id: 1,
                    name: "t_bc".into(),
                    columns: vec![1, 2],
                    unique: false,
                },
                IndexDef {
                    id: 2,
                    name: "t_d".into(),
                    columns: vec![3],
                    unique: true,
                },
            ],
            checks: vec![],
            fks: vec![],
            next_index_id: 3,
        }
    }

    fn cmp(col: usize, op: BinOp, v: i64) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(Expr::Column(col)),
            right: Box::new(Expr::Literal(Value::Int(v))),
            ty: DataType::Bool,
        }
    }

    /// (predicates, expected index (None = primary), eq count, has lo, has hi, in-list size, full scan)
    #[test]
    fn access_paths() {
        type Case = (Vec<Expr>, Option<u32>, usize, bool, bool, usize, bool);
        let cases: Vec<Case> = vec![
            (vec![], None, 0, false, false, 0, true),
            (vec![cmp(0, BinOp::Eq, 5)], None, 1, false, false, 0, false),
            (vec![cmp(0, BinOp::Gt, 5)], None, 0, true, false, 0, false),
            (
                vec![cmp(0, BinOp::Gt, 5), cmp(0, BinOp::LtEq, 9)],
                None,
                0,
                true,
                true,
                0,
                false,
            ),
            (
                vec![cmp(1, BinOp::Eq, 1)],
                Some(1),
                1,
                false,
                false,
                0,
                false,
            ),
            (
                vec![cmp(1, BinOp::Eq, 1), cmp(2, BinOp::Lt, 3)],
                Some(1),
                1,
                false,
                true,
                0,
                false,
            ),
            (vec![cmp(2, BinOp::Eq, 1)], None, 0, false, false, 0, true),
            (
                vec![cmp(3, BinOp::Eq, 1), cmp(1, BinOp::Eq, 1)],
                Some(2),
                1,
                false,
                false,
                0,
                false,
            ),
            (
                vec![cmp(0, BinOp::Eq, 1), cmp(3, BinOp::Eq, 1)],
                None,
                1,
                false,
                false,
                0,
                false,
            ),
            (
                vec![cmp(0, BinOp::NotEq, 1)],
                None,
                0,
                false,
                false,
                0,
                true,
            ),
            (
                vec![cmp(1, BinOp::Gt, 1), cmp(0, BinOp::Lt, 1)],
                None,
                0,
                false,
                true,
                0,
                false,
            ),
            (
                vec![Expr::InList {
                    expr: Box::new(Expr::Column(3)),
                    list: vec![Expr::Literal(Value::Int(1)), Expr::Literal(Value::Int(2))],
                    negated: false,
                }],
                Some(2),
                0,
                false,
                false,
                2,
                false,
            ),
            // A range on the primary key beats an IN list.
            (
                vec![
                    Expr::InList {
                        expr: Box::new(Expr::Column(3)),
                        list: vec![Expr::Literal(Value::Int(1))],
                        negated: false,
                    },
                    cmp(0, BinOp::GtEq, 1),
                ],
                None,
                0,
                true,
                false,
                0,
                false,
            ),
        ];
        let t = table();
        for (i, (exprs, index, eq, lo, hi, inl, full)) in cases.into_iter().enumerate() {
            let preds: Vec<Pred> = exprs.iter().filter_map(classify).collect();
            let a = choose_access(&t, &preds);
            assert_eq!(a.is_full(), full, "case {i}: {a:?}");
            if full {
                continue;
            }
            assert_eq!(a.index, index, "case {i}");
            assert_eq!(a.eq.len(), eq, "case {i}");
            assert_eq!(a.lo.is_some(), lo, "case {i}");
            assert_eq!(a.hi.is_some(), hi, "case {i}");
            assert_eq!(a.in_list.len(), inl, "case {i}");
        }
    }

    #[test]
    fn classify_flips_and_rejects() {
        let e = Expr::Binary {
            op: BinOp::Lt,
            left: Box::new(Expr::Literal(Value::Int(3))),
            right: Box::new(Expr::Column(2)),
            ty: DataType::Bool,
        };
        assert!(matches!(
            classify(&e),
            Some(Pred::Cmp {
                col: 2,
                op: BinOp::Gt,
                ..
            })
        ));
        let both_cols = Expr::Binary {
            op: BinOp::Eq,
            left: Box::new(Expr::Column(1)),
            right: Box::new(Expr::Column(2)),
            ty: DataType::Bool,
        };
        assert!(classify(&both_cols).is_none());
        let outer = Expr::Binary {
            op: BinOp::Eq,
            left: Box::new(Expr::Column(1)),
            right: Box::new(Expr::Outer { depth: 1, index: 0 }),
            ty: DataType::Bool,
        };
        assert!(
            classify(&outer).is_some(),
            "outer references are constants for the scan"
        );
    }
}
