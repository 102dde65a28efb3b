//! Query plans: the operator trees the planner builds and the executor runs, and their
//! `EXPLAIN` rendering.

use std::fmt::{self, Write};
use std::sync::Arc;

use crate::catalog::TableDef;
use crate::expr::{AggCall, AggFunc, Expr};
use crate::types::DataType;

/// How a scan reaches its rows: a key range of the table or of one index.
#[derive(Debug, Default, PartialEq)]
pub struct Access {
    /// `None` = the rows themselves (primary key order); `Some(id)` = secondary index `id`.
    pub index: Option<u32>,
    /// Equalities on the leading key columns, in key order.
    pub eq: Vec<Expr>,
    /// Lower bound on the next key column: (value, inclusive).
    pub lo: Option<(Expr, bool)>,
    /// Upper bound on the next key column: (value, inclusive).
    pub hi: Option<(Expr, bool)>,
    /// `col IN (...)` on the first key column (then `eq`, `lo`, `hi` are empty).
    pub in_list: Vec<Expr>,
}

impl Access {
    /// True for a whole-table scan.
    pub fn is_full(&self) -> bool {
        self.index.is_none()
            && self.eq.is_empty()
            && self.lo.is_none()
            && self.hi.is_none()
            && self.in_list.is_empty()
    }
}

/// Join kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Inner (and cross) join.
    Inner,
    /// Left outer join.
    Left,
    /// Full outer join.
    Full,
}

/// Set operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    /// UNION
    Union,
    /// INTERSECT
    Intersect,
    /// EXCEPT
    Except,
}

/// One ORDER BY key.
#[derive(Debug, PartialEq)]
pub struct SortKey {
    /// The value sorted by.
    pub expr: Expr,
    /// DESC.
    pub desc: bool,
    /// NULLS FIRST (default: NULLs sort as larger than everything, PostgreSQL's rule).
    pub nulls_first: bool,
}

/// A plan node. Every node produces rows of a fixed width.
#[derive(Debug)]
pub enum Plan {
    /// Literal rows (`VALUES`, or one empty row for a SELECT without FROM).
    Values {
        /// The rows.
        rows: Vec<Vec<Expr>>,
        /// Columns per row.
        width: usize,
    },
    /// Rows of a table, via a key range of its rows or of an index.
    Scan {
        /// The table.
        table: Arc<TableDef>,
        /// Key range.
        access: Access,
        /// Predicate applied to each row.
        filter: Option<Expr>,
        /// Read the rows the statement locked (`FOR UPDATE`) instead of the table.
        locked: bool,
    },
    /// Keeps rows satisfying `pred`.
    Filter {
        /// Input.
        input: Box<Plan>,
        /// Predicate.
        pred: Expr,
    },
    /// Computes new columns.
    Project {
        /// Input.
        input: Box<Plan>,
        /// Output expressions.
        exprs: Vec<Expr>,
    },
    /// Joins two inputs; output = left columns then right columns.
    Join {
        /// Outer side.
        left: Box<Plan>,
        /// Inner side (materialized).
        right: Box<Plan>,
        /// Join kind.
        kind: JoinKind,
        /// Equi-join keys (left exprs, right exprs): a hash join when non-empty.
        keys: Vec<(Expr, Expr)>,
        /// Remaining join condition over the joined row.
        on: Option<Expr>,
        /// Width of the right input (for NULL padding).
        right_width: usize,
        /// Width of the left input (for NULL padding).
        left_width: usize,
    },
    /// Hash aggregation. Output = first input row of the group (all NULL when there was
    /// none) ‖ group values ‖ aggregate values.
    Aggregate {
        /// Input.
        input: Box<Plan>,
        /// Width of the input rows.
        input_width: usize,
        /// GROUP BY expressions.
        group: Vec<Expr>,
        /// Aggregate calls.
        aggs: Vec<AggCall>,
    },
    /// Sorts; keeps only the first `offset + limit` rows when `limit` is set (top-N).
    Sort {
        /// Input.
        input: Box<Plan>,
        /// Keys.
        keys: Vec<SortKey>,
        /// Top-N limit (row-independent expression).
        limit: Option<Expr>,
        /// Offset added to the top-N size.
        offset: Option<Expr>,
    },
    /// LIMIT / OFFSET.
    Limit {
        /// Input.
        input: Box<Plan>,
        /// Row limit.
        limit: Option<Expr>,
        /// Rows skipped first.
        offset: Option<Expr>,
    },
    /// Removes duplicate rows.
    Distinct {
        /// Input.
        input: Box<Plan>,
    },
    /// UNION / INTERSECT / EXCEPT [ALL].
    SetOp {
        /// Which operation.
        op: SetOpKind,
        /// Keep duplicates.
        all: bool,
        /// Left input.
        left: Box<Plan>,
        /// Right input.
        right: Box<Plan>,
    },
    /// A common table expression, materialized once per statement unless correlated.
    Cte {
        /// Its name.
        name: String,
        /// Identity for the per-statement cache.
        id: usize,
        /// The CTE's plan.
        plan: Arc<Plan>,
        /// Re-run it each time (it references an enclosing query).
        correlated: bool,
    },
}

/// Output column description of a planned query.
#[derive(Clone, Debug, PartialEq)]
pub struct OutCol {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: DataType,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(v) => match v {
                crate::Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
                other => write!(f, "{other}"),
            },
            Expr::Column(i) => write!(f, "#{i}"),
            Expr::Outer { depth, index } => write!(f, "outer{depth}.#{index}"),
            Expr::Param(i) => write!(f, "${}", i + 1),
            Expr::Binary {
                op, left, right, ..
            } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Neg(e, _) => write!(f, "-{e}"),
            Expr::Not(e) => write!(f, "NOT {e}"),
            Expr::IsNull(e, n) => write!(f, "{e} IS {}NULL", if *n { "NOT " } else { "" }),
            Expr::IsBool(e, v, n) => write!(
                f,
                "{e} IS {}{}",
                if *n { "NOT " } else { "" },
                if *v { "TRUE" } else { "FALSE" }
            ),
            Expr::IsDistinct(l, r, n) => write!(
                f,
                "{l} IS {}DISTINCT FROM {r}",
                if *n { "NOT " } else { "" }
            ),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "{expr} {}IN (", if *negated { "NOT " } else { "" })?;
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Expr::InSubquery { expr, negated, sub } => {
                write!(
                    f,
                    "{expr} {}IN (subquery {})",
                    if *negated { "NOT " } else { "" },
                    sub.id
                )
            }
            Expr::Exists(sub, n) => write!(
                f,
                "{}EXISTS (subquery {})",
                if *n { "NOT " } else { "" },
                sub.id
            ),
            Expr::Scalar(sub) => write!(f, "(subquery {})", sub.id),
            Expr::Like {
                expr,
                pattern,
                negated,
                ci,
                ..
            } => write!(
                f,
                "{expr} {}{} {pattern}",
                if *negated { "NOT " } else { "" },
                if *ci { "ILIKE" } else { "LIKE" }
            ),
            Expr::Case { .. } => f.write_str("CASE ... END"),
            Expr::Cast(e, t) => write!(f, "CAST({e} AS {t})"),
            Expr::Func(func, args) => {
                write!(f, "{}(", format!("{func:?}").to_lowercase())?;
                for (i, e) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Expr::Agg(i) => write!(f, "agg#{i}"),
        }
    }
}

fn agg_name(a: &AggCall) -> String {
    let name = match a.func {
        AggFunc::CountStar => return "count(*)".into(),
        AggFunc::Count => "count",
        AggFunc::Sum => "sum",
        AggFunc::Avg => "avg",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
        AggFunc::Total => "total",
        AggFunc::StringAgg => "string_agg",
        AggFunc::BoolAnd => "bool_and",
        AggFunc::BoolOr => "bool_or",
    };
    let arg = a.arg.as_ref().map(|e| e.to_string()).unwrap_or_default();
    format!("{name}({}{arg})", if a.distinct { "DISTINCT " } else { "" })
}

fn list(v: &[Expr]) -> String {
    v.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Plan {
    /// Number of columns this node produces.
    pub fn width(&self) -> usize {
        match self {
            Plan::Values { width, .. } => *width,
            Plan::Scan { table, .. } => table.columns.len(),
            Plan::Filter { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Distinct { input } => input.width(),
            Plan::Project { exprs, .. } => exprs.len(),
            Plan::Join {
                left_width,
                right_width,
                ..
            } => left_width + right_width,
            Plan::Aggregate {
                input_width,
                group,
                aggs,
                ..
            } => input_width + group.len() + aggs.len(),
            Plan::SetOp { left, .. } => left.width(),
            Plan::Cte { plan, .. } => plan.width(),
        }
    }

    /// The operator tree as indented text (what `EXPLAIN` prints).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        self.explain_into(&mut out, 0);
        out
    }

    fn explain_into(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let _ = match self {
            Plan::Values { rows, .. } => writeln!(
                out,
                "{pad}Values ({} row{})",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            ),
            Plan::Scan {
                table,
                access,
                filter,
                locked,
            } => {
                let how = match access.index {
                    _ if access.is_full() => "Seq Scan".to_string(),
                    None => "Primary Key Scan".to_string(),
                    Some(id) => {
                        let name = table
                            .indexes
                            .iter()
                            .find(|i| i.id == id)
                            .map_or("?", |i| i.name.as_str());
                        format!("Index Scan using {name}")
                    }
                };
                let mut s = format!("{pad}{how} on {}", table.name);
                if !access.eq.is_empty() {
                    let _ = write!(s, " eq=[{}]", list(&access.eq));
                }
                if !access.in_list.is_empty() {
                    let _ = write!(s, " in=[{}]", list(&access.in_list));
                }
                if let Some((e, inc)) = &access.lo {
                    let _ = write!(s, " from {}{e}", if *inc { ">=" } else { ">" });
                }
                if let Some((e, inc)) = &access.hi {
                    let _ = write!(s, " to {}{e}", if *inc { "<=" } else { "<" });
                }
                if let Some(f) = filter {
                    let _ = write!(s, " filter: {f}");
                }
                if *locked {
                    s.push_str(" (locked rows)");
                }
                writeln!(out, "{s}")
            }
            Plan::Filter { input, pred } => {
                let _ = writeln!(out, "{pad}Filter: {pred}");
                input.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Project { input, exprs } => {
                let _ = writeln!(out, "{pad}Project [{}]", list(exprs));
                input.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Join {
                left,
                right,
                kind,
                keys,
                on,
                ..
            } => {
                let k = match kind {
                    JoinKind::Inner => "Inner",
                    JoinKind::Left => "Left",
                    JoinKind::Full => "Full",
                };
                let mut s = if keys.is_empty() {
                    format!("{pad}Nested Loop {k} Join")
                } else {
                    let ks: Vec<String> = keys.iter().map(|(l, r)| format!("{l} = {r}")).collect();
                    format!("{pad}Hash {k} Join on [{}]", ks.join(", "))
                };
                if let Some(c) = on {
                    let _ = write!(s, " filter: {c}");
                }
                let _ = writeln!(out, "{s}");
                left.explain_into(out, depth + 1);
                right.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Aggregate {
                input, group, aggs, ..
            } => {
                let a: Vec<String> = aggs.iter().map(agg_name).collect();
                let _ = writeln!(
                    out,
                    "{pad}Hash Aggregate group=[{}] aggs=[{}]",
                    list(group),
                    a.join(", ")
                );
                input.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Sort {
                input, keys, limit, ..
            } => {
                let k: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{}{}", k.expr, if k.desc { " DESC" } else { "" }))
                    .collect();
                let top = limit
                    .as_ref()
                    .map(|l| format!(" (top-N {l})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "{pad}Sort [{}]{top}", k.join(", "));
                input.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Limit {
                input,
                limit,
                offset,
            } => {
                let _ = writeln!(
                    out,
                    "{pad}Limit{}{}",
                    limit.as_ref().map(|l| format!(" {l}")).unwrap_or_default(),
                    offset
                        .as_ref()
                        .map(|o| format!(" offset {o}"))
                        .unwrap_or_default()
                );
                input.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Distinct { input } => {
                let _ = writeln!(out, "{pad}Distinct");
                input.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::SetOp {
                op,
                all,
                left,
                right,
            } => {
                let _ = writeln!(out, "{pad}{op:?}{}", if *all { " All" } else { "" });
                left.explain_into(out, depth + 1);
                right.explain_into(out, depth + 1);
                Ok(())
            }
            Plan::Cte { name, plan, .. } => {
                let _ = writeln!(out, "{pad}CTE {name}");
                plan.explain_into(out, depth + 1);
                Ok(())
            }
        };
    }
}
