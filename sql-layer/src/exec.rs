//! The executor: pull-based operators built from a [`Plan`] (`next()` returns one row at a
//! time), and subquery evaluation with a per-statement cache for uncorrelated subqueries.
//!
//! Scans read their key ranges in growing batches, re-seeking after the last key they
//! returned, so operators hold no borrow of the transaction between calls.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use kv_api::{Keyspace, Transaction};
use rust_decimal::Decimal;

use crate::catalog::{Catalog, IndexDef, TableDef};
use crate::codec;
use crate::error::{Error, Result};
use crate::expr::{AggCall, AggFunc, Expr, SubPlan};
use crate::func;
use crate::plan::{Access, JoinKind, Plan, SetOpKind, SortKey};
use crate::store::{self, Row};
use crate::types::{cast, CastMode, DataType, Value};

/// Source of sequence values (`nextval`).
pub trait Sequences {
    /// The next value of sequence `name`.
    fn nextval(&self, catalog: &Catalog, name: &str) -> Result<i64>;
}

/// Everything a statement's evaluation needs.
pub struct Cx<'a> {
    /// The transaction reads go through.
    pub txn: &'a Transaction,
    /// The data keyspace.
    pub data: &'a Keyspace,
    /// Bound parameters.
    pub params: &'a [Value],
    /// Statement timestamp (µs since the epoch), for now() / current_date.
    pub now: i64,
    /// The schema.
    pub catalog: &'a Catalog,
    /// Sequences.
    pub seq: &'a dyn Sequences,
    /// Rows locked by `SELECT ... FOR UPDATE`, read by the scan marked `locked`.
    pub locked_rows: RefCell<Option<Vec<Row>>>,
    rows_cache: RefCell<HashMap<usize, Arc<Vec<Row>>>>,
    set_cache: RefCell<HashMap<usize, Arc<ValueSet>>>,
    rng: Cell<u64>,
}

impl<'a> Cx<'a> {
    /// A context for one statement.
    pub fn new(
        txn: &'a Transaction,
        data: &'a Keyspace,
        params: &'a [Value],
        catalog: &'a Catalog,
        seq: &'a dyn Sequences,
        now: i64,
    ) -> Self {
        Cx {
            txn,
            data,
            params,
            now,
            catalog,
            seq,
            locked_rows: RefCell::new(None),
            rows_cache: RefCell::new(HashMap::new()),
            set_cache: RefCell::new(HashMap::new()),
            rng: Cell::new((now as u64) | 1),
        }
    }

    /// A pseudo-random number in [0, 1).
    pub fn random(&self) -> f64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `nextval(name)`.
    pub fn nextval(&self, name: &str) -> Result<i64> {
        self.seq.nextval(self.catalog, name)
    }

    /// The root evaluation environment.
    pub fn env(&self) -> Env<'_, 'a> {
        Env {
            cx: self,
            outer: None,
        }
    }
}

/// The row of an enclosing query, for correlated subqueries.
pub struct Outer<'e> {
    row: &'e [Value],
    parent: Option<&'e Outer<'e>>,
}

/// Evaluation environment: the statement context plus the enclosing queries' rows.
pub struct Env<'e, 'a> {
    /// Statement context.
    pub cx: &'e Cx<'a>,
    outer: Option<&'e Outer<'e>>,
}

impl Env<'_, '_> {
    /// Column `index` of the enclosing row `depth` levels up.
    pub fn outer_value(&self, depth: usize, index: usize) -> Result<Value> {
        let mut o = self.outer;
        for _ in 1..depth {
            o = o.and_then(|x| x.parent);
        }
        o.and_then(|x| x.row.get(index))
            .cloned()
            .ok_or_else(|| Error::Corrupt(format!("no outer column {index} at depth {depth}")))
    }
}

/// A pull-based operator.
pub trait Op {
    /// The next row, or `None` when done.
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>>;
}

/// Runs a plan to completion.
pub fn collect(plan: &Plan, env: &Env<'_, '_>) -> Result<Vec<Row>> {
    let mut op = build(plan, env)?;
    let mut out = Vec::new();
    while let Some(r) = op.next(env)? {
        out.push(r);
    }
    Ok(out)
}

/// A set of values for `IN (subquery)`.
pub struct ValueSet {
    set: HashSet<Value>,
    nulls: bool,
}

impl ValueSet {
    /// True when the subquery returned no rows.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && !self.nulls
    }
    /// True if `v` is among the values.
    pub fn contains(&self, v: &Value) -> bool {
        self.set.contains(v)
    }
    /// True if a NULL was among them.
    pub fn has_null(&self) -> bool {
        self.nulls
    }
}

fn with_outer<T>(
    row: &[Value],
    env: &Env<'_, '_>,
    f: impl FnOnce(&Env<'_, '_>) -> Result<T>,
) -> Result<T> {
    let outer = Outer {
        row,
        parent: env.outer,
    };
    let inner = Env {
        cx: env.cx,
        outer: Some(&outer),
    };
    f(&inner)
}

fn sub_rows(sub: &SubPlan, row: &[Value], env: &Env<'_, '_>) -> Result<Arc<Vec<Row>>> {
    if !sub.correlated {
        if let Some(r) = env.cx.rows_cache.borrow().get(&sub.id) {
            return Ok(Arc::clone(r));
        }
    }
    let rows = Arc::new(with_outer(row, env, |e| collect(&sub.plan, e))?);
    if !sub.correlated {
        env.cx
            .rows_cache
            .borrow_mut()
            .insert(sub.id, Arc::clone(&rows));
    }
    Ok(rows)
}

/// `IN (subquery)`'s value set.
pub fn subquery_set(sub: &SubPlan, row: &[Value], env: &Env<'_, '_>) -> Result<Arc<ValueSet>> {
    if !sub.correlated {
        if let Some(s) = env.cx.set_cache.borrow().get(&sub.id) {
            return Ok(Arc::clone(s));
        }
    }
    let rows = sub_rows(sub, row, env)?;
    let mut set = ValueSet {
        set: HashSet::new(),
        nulls: false,
    };
    for r in rows.iter() {
        match r.first() {
            Some(Value::Null) | None => set.nulls = true,
            Some(v) => {
                set.set.insert(v.clone());
            }
        }
    }
    let set = Arc::new(set);
    if !sub.correlated {
        env.cx
            .set_cache
            .borrow_mut()
            .insert(sub.id, Arc::clone(&set));
    }
    Ok(set)
}

/// `EXISTS (subquery)`.
pub fn subquery_exists(sub: &SubPlan, row: &[Value], env: &Env<'_, '_>) -> Result<bool> {
    if !sub.correlated {
        return Ok(!sub_rows(sub, row, env)?.is_empty());
    }
    with_outer(row, env, |e| Ok(build(&sub.plan, e)?.next(e)?.is_some()))
}

/// A scalar subquery's value.
pub fn subquery_scalar(sub: &SubPlan, row: &[Value], env: &Env<'_, '_>) -> Result<Value> {
    let first_two = |rows: &[Row]| -> Result<Value> {
        match rows {
            [] => Ok(Value::Null),
            [one] => Ok(one.first().cloned().unwrap_or(Value::Null)),
            _ => Err(Error::CardinalityViolation),
        }
    };
    if !sub.correlated {
        return first_two(&sub_rows(sub, row, env)?);
    }
    with_outer(row, env, |e| {
        let mut op = build(&sub.plan, e)?;
        let mut rows = Vec::new();
        while rows.len() < 2 {
            match op.next(e)? {
                Some(r) => rows.push(r),
                None => break,
            }
        }
        first_two(&rows)
    })
}

/// Builds the operator tree of `plan`.
pub fn build<'p>(plan: &'p Plan, env: &Env<'_, '_>) -> Result<Box<dyn Op + 'p>> {
    Ok(match plan {
        Plan::Values { rows, .. } => Box::new(ValuesOp { rows, i: 0 }),
        Plan::Scan {
            table,
            access,
            filter,
            locked,
        } => {
            if *locked {
                let rows = env.cx.locked_rows.borrow_mut().take().unwrap_or_default();
                Box::new(RowsOp {
                    rows: rows.into_iter(),
                    filter: filter.as_ref(),
                })
            } else {
                Box::new(ScanOp::new(table, access, filter.as_ref(), env)?)
            }
        }
        Plan::Filter { input, pred } => Box::new(FilterOp {
            input: build(input, env)?,
            pred,
        }),
        Plan::Project { input, exprs } => Box::new(ProjectOp {
            input: build(input, env)?,
            exprs,
        }),
        Plan::Join {
            left,
            right,
            kind,
            keys,
            on,
            right_width,
            left_width,
        } => Box::new(JoinOp {
            left: build(left, env)?,
            right_plan: right,
            kind: *kind,
            keys,
            on: on.as_ref(),
            right_width: *right_width,
            left_width: *left_width,
            state: None,
            pending: VecDeque::new(),
            left_done: false,
        }),
        Plan::Aggregate {
            input,
            input_width,
            group,
            aggs,
        } => Box::new(AggOp {
            input: Some(build(input, env)?),
            input_width: *input_width,
            group,
            aggs,
            out: VecDeque::new(),
        }),
        Plan::Sort {
            input,
            keys,
            limit,
            offset,
        } => {
            let top = match limit {
                Some(l) => {
                    let l = count_value(l, env)?;
                    let o = match offset {
                        Some(o) => count_value(o, env)?,
                        None => Some(0),
                    };
                    l.map(|l| l.saturating_add(o.unwrap_or(0)))
                }
                None => None,
            };
            Box::new(SortOp {
                input: Some(build(input, env)?),
                keys,
                top,
                out: VecDeque::new(),
            })
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let limit = match limit {
                Some(l) => count_value(l, env)?,
                None => None,
            };
            let offset = match offset {
                Some(o) => count_value(o, env)?.unwrap_or(0),
                None => 0,
            };
            Box::new(LimitOp {
                input: build(input, env)?,
                limit,
                offset,
            })
        }
        Plan::Distinct { input } => Box::new(DistinctOp {
            input: build(input, env)?,
            seen: HashSet::new(),
        }),
        Plan::SetOp {
            op,
            all,
            left,
            right,
        } => Box::new(SetOpOp {
            left: build(left, env)?,
            right_plan: right,
            op: *op,
            all: *all,
            right: None,
            seen: HashSet::new(),
            right_iter: None,
        }),
        Plan::Cte {
            id,
            plan,
            correlated,
            ..
        } => {
            let rows = if *correlated {
                Arc::new(collect(plan, env)?)
            } else {
                let cached = env.cx.rows_cache.borrow().get(id).cloned();
                match cached {
                    Some(r) => r,
                    None => {
                        let r = Arc::new(collect(plan, env)?);
                        env.cx.rows_cache.borrow_mut().insert(*id, Arc::clone(&r));
                        r
                    }
                }
            };
            Box::new(SharedRowsOp { rows, i: 0 })
        }
    })
}

/// Evaluates a LIMIT/OFFSET value: NULL = no limit; negative is an error.
fn count_value(e: &Expr, env: &Env<'_, '_>) -> Result<Option<usize>> {
    match e.eval(&[], env)? {
        Value::Null => Ok(None),
        Value::Int(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Value::Int(_) => Err(Error::InvalidParameter(
            "LIMIT/OFFSET must not be negative".into(),
        )),
        other => Err(Error::TypeMismatch(format!(
            "LIMIT must be an integer, not {}",
            other.type_name()
        ))),
    }
}

struct ValuesOp<'p> {
    rows: &'p [Vec<Expr>],
    i: usize,
}

impl Op for ValuesOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        let Some(r) = self.rows.get(self.i) else {
            return Ok(None);
        };
        self.i += 1;
        Ok(Some(
            r.iter().map(|e| e.eval(&[], env)).collect::<Result<_>>()?,
        ))
    }
}

struct RowsOp<'p> {
    rows: std::vec::IntoIter<Row>,
    filter: Option<&'p Expr>,
}

impl Op for RowsOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        for r in self.rows.by_ref() {
            if match self.filter {
                Some(f) => f.test(&r, env)?,
                None => true,
            } {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

struct SharedRowsOp {
    rows: Arc<Vec<Row>>,
    i: usize,
}

impl Op for SharedRowsOp {
    fn next(&mut self, _: &Env<'_, '_>) -> Result<Option<Row>> {
        let r = self.rows.get(self.i).cloned();
        self.i += 1;
        Ok(r)
    }
}

/// What a bound value becomes for a key column.
enum KeyBound {
    Key(Value, bool),
    Empty,
    Unbounded,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Eq,
    Lower,
    Upper,
}

fn key_bound(v: Value, ty: DataType, role: Role, inclusive: bool) -> KeyBound {
    use rust_decimal::prelude::ToPrimitive;
    if v.is_null() {
        return KeyBound::Empty;
    }
    match ty {
        t if t.is_integer() => match v {
            Value::Int(_) => KeyBound::Key(v, inclusive),
            Value::Float(_) | Value::Decimal(_) => {
                let d = match &v {
                    Value::Float(f) if f.is_finite() => {
                        match rust_decimal::prelude::FromPrimitive::from_f64(*f) {
                            Some(d) => d,
                            None => return KeyBound::Unbounded,
                        }
                    }
                    Value::Decimal(d) => *d,
                    _ => return KeyBound::Unbounded,
                };
                let d: Decimal = d;
                if d.fract().is_zero() {
                    return d.to_i64().map_or(KeyBound::Unbounded, |i| {
                        KeyBound::Key(Value::Int(i), inclusive)
                    });
                }
                let r = match role {
                    Role::Eq => return KeyBound::Empty,
                    Role::Lower => d.ceil(),
                    Role::Upper => d.floor(),
                };
                r.to_i64()
                    .map_or(KeyBound::Unbounded, |i| KeyBound::Key(Value::Int(i), true))
            }
            _ => KeyBound::Unbounded,
        },
        DataType::Real | DataType::Double => match v.as_f64() {
            Some(f) => KeyBound::Key(Value::Float(f), inclusive),
            None => KeyBound::Unbounded,
        },
        DataType::Decimal { .. } => match func::decimal_of(&v) {
            Some(d) => KeyBound::Key(Value::Decimal(d), inclusive),
            None => KeyBound::Unbounded,
        },
        t if t.is_text() => match v {
            Value::Text(_) => KeyBound::Key(v, inclusive),
            _ => KeyBound::Unbounded,
        },
        DataType::Date => match v {
            Value::Date(_) => KeyBound::Key(v, inclusive),
            _ => KeyBound::Unbounded,
        },
        DataType::Timestamp => match v {
            Value::Timestamp(_) => KeyBound::Key(v, inclusive),
            Value::Date(d) => KeyBound::Key(
                Value::Timestamp(i64::from(d) * crate::datetime::MICROS_PER_DAY),
                inclusive,
            ),
            _ => KeyBound::Unbounded,
        },
        DataType::Bool => match v {
            Value::Bool(_) => KeyBound::Key(v, inclusive),
            _ => KeyBound::Unbounded,
        },
        DataType::Bytea => match v {
            Value::Bytes(_) => KeyBound::Key(v, inclusive),
            _ => KeyBound::Unbounded,
        },
        _ => KeyBound::Unbounded,
    }
}

/// A half-open key range [start, end) (`end` None = to the end of the prefix space).
type KeyRange = (Vec<u8>, Option<Vec<u8>>);

/// Turns an access path into concrete key ranges (sorted, non-overlapping for IN lists).
fn key_ranges(table: &TableDef, access: &Access, env: &Env<'_, '_>) -> Result<Vec<KeyRange>> {
    let index = access
        .index
        .and_then(|id| table.indexes.iter().find(|i| i.id == id));
    let types = store::key_types(table, index);
    let prefix = codec::prefix(table.id, index.map_or(0, |i| i.id)).to_vec();
    let whole = |p: Vec<u8>| -> KeyRange {
        let end = codec::prefix_end(&p);
        (p, end)
    };
    if !access.in_list.is_empty() {
        let mut keys = Vec::new();
        for e in &access.in_list {
            match key_bound(e.eval(&[], env)?, types[0], Role::Eq, true) {
                KeyBound::Key(v, _) => {
                    let mut k = prefix.clone();
                    codec::encode_key(&mut k, &v, types[0])?;
                    keys.push(k);
                }
                KeyBound::Empty => {}
                KeyBound::Unbounded => return Ok(vec![whole(prefix)]),
            }
        }
        keys.sort();
        keys.dedup();
        return Ok(keys.into_iter().map(whole).collect());
    }
    let mut p = prefix;
    for (i, e) in access.eq.iter().enumerate() {
        match key_bound(e.eval(&[], env)?, types[i], Role::Eq, true) {
            KeyBound::Key(v, _) => codec::encode_key(&mut p, &v, types[i])?,
            KeyBound::Empty => return Ok(Vec::new()),
            KeyBound::Unbounded => return Ok(vec![whole(p)]),
        }
    }
    let next_ty = types
        .get(access.eq.len())
        .copied()
        .unwrap_or(DataType::Unknown);
    let mut start = p.clone();
    let mut end = codec::prefix_end(&p);
    if let Some((e, inc)) = &access.lo {
        match key_bound(e.eval(&[], env)?, next_ty, Role::Lower, *inc) {
            KeyBound::Key(v, inc) => {
                let mut k = p.clone();
                codec::encode_key(&mut k, &v, next_ty)?;
                start = if inc {
                    k
                } else {
                    codec::prefix_end(&k).unwrap_or(k)
                };
            }
            KeyBound::Empty => return Ok(Vec::new()),
            KeyBound::Unbounded => {}
        }
    } else if access.hi.is_some() {
        // Skip the NULLs that sort first; no comparison is true for them.
        start.push(0x01);
    }
    if let Some((e, inc)) = &access.hi {
        match key_bound(e.eval(&[], env)?, next_ty, Role::Upper, *inc) {
            KeyBound::Key(v, inc) => {
                let mut k = p.clone();
                codec::encode_key(&mut k, &v, next_ty)?;
                end = Some(if inc {
                    codec::prefix_end(&k).unwrap_or(k)
                } else {
                    k
                });
            }
            KeyBound::Empty => return Ok(Vec::new()),
            KeyBound::Unbounded => {}
        }
    }
    if end.as_ref().is_some_and(|e| *e <= start) {
        return Ok(Vec::new());
    }
    Ok(vec![(start, end)])
}

/// Reads (key, row) pairs of a table through an access path, in batches.
pub struct Cursor<'p> {
    table: &'p TableDef,
    index: Option<&'p IndexDef>,
    ranges: Vec<KeyRange>,
    range_i: usize,
    after: Option<Vec<u8>>,
    batch: usize,
    buf: VecDeque<(Vec<u8>, Row)>,
}

impl<'p> Cursor<'p> {
    /// A cursor over the rows `access` selects.
    pub fn new(table: &'p TableDef, access: &Access, env: &Env<'_, '_>) -> Result<Self> {
        let index = access
            .index
            .and_then(|id| table.indexes.iter().find(|i| i.id == id));
        Ok(Cursor {
            table,
            index,
            ranges: key_ranges(table, access, env)?,
            range_i: 0,
            after: None,
            batch: 32,
            buf: VecDeque::new(),
        })
    }

    fn fill(&mut self, cx: &Cx<'_>) -> Result<()> {
        while self.buf.is_empty() && self.range_i < self.ranges.len() {
            let (start, end) = &self.ranges[self.range_i];
            let lo = match &self.after {
                Some(a) => Bound::Excluded(a.clone()),
                None => Bound::Included(start.clone()),
            };
            let hi = match end {
                Some(e) => Bound::Excluded(e.clone()),
                None => Bound::Unbounded,
            };
            let asked = self.batch;
            let mut last = None;
            let mut pending = Vec::new();
            for item in cx.txn.range(cx.data, (lo, hi)) {
                let (k, v) = item?;
                last = Some(k.to_vec());
                pending.push((k.to_vec(), v.to_vec()));
                if pending.len() >= asked {
                    break;
                }
            }
            self.batch = (asked * 2).min(1024);
            // Fewer entries than asked for: the range is done.
            let exhausted = pending.len() < asked;
            for (k, v) in pending {
                match self.index {
                    None => {
                        let row = store::decode_row(self.table, &v)?;
                        self.buf.push_back((k, row));
                    }
                    Some(_) => {
                        let rk = store::row_key(self.table, &v);
                        if let Some(rv) = cx.txn.get(cx.data, &rk)? {
                            let row = store::decode_row(self.table, &rv)?;
                            self.buf.push_back((rk, row));
                        }
                    }
                }
            }
            if exhausted {
                self.range_i += 1;
                self.after = None;
            } else {
                self.after = last;
            }
        }
        Ok(())
    }

    /// The next (row key, row).
    pub fn next(&mut self, cx: &Cx<'_>) -> Result<Option<(Vec<u8>, Row)>> {
        if self.buf.is_empty() {
            self.fill(cx)?;
        }
        Ok(self.buf.pop_front())
    }
}

struct ScanOp<'p> {
    cursor: Cursor<'p>,
    filter: Option<&'p Expr>,
}

impl<'p> ScanOp<'p> {
    fn new(
        table: &'p TableDef,
        access: &'p Access,
        filter: Option<&'p Expr>,
        env: &Env<'_, '_>,
    ) -> Result<Self> {
        Ok(ScanOp {
            cursor: Cursor::new(table, access, env)?,
            filter,
        })
    }
}

impl Op for ScanOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        while let Some((_, row)) = self.cursor.next(env.cx)? {
            if match self.filter {
                Some(f) => f.test(&row, env)?,
                None => true,
            } {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }
}

struct FilterOp<'p> {
    input: Box<dyn Op + 'p>,
    pred: &'p Expr,
}

impl Op for FilterOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        while let Some(r) = self.input.next(env)? {
            if self.pred.test(&r, env)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

struct ProjectOp<'p> {
    input: Box<dyn Op + 'p>,
    exprs: &'p [Expr],
}

impl Op for ProjectOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        match self.input.next(env)? {
            Some(r) => Ok(Some(
                self.exprs
                    .iter()
                    .map(|e| e.eval(&r, env))
                    .collect::<Result<_>>()?,
            )),
            None => Ok(None),
        }
    }
}

struct JoinState {
    rows: Vec<Row>,
    table: HashMap<Vec<Value>, Vec<usize>>,
    matched: Vec<bool>,
}

struct JoinOp<'p> {
    left: Box<dyn Op + 'p>,
    right_plan: &'p Plan,
    kind: JoinKind,
    keys: &'p [(Expr, Expr)],
    on: Option<&'p Expr>,
    right_width: usize,
    left_width: usize,
    state: Option<JoinState>,
    pending: VecDeque<Row>,
    left_done: bool,
}

fn key_of(exprs: impl Iterator<Item = Result<Value>>) -> Result<Option<Vec<Value>>> {
    let mut k = Vec::new();
    for v in exprs {
        let v = v?;
        if v.is_null() {
            return Ok(None);
        }
        k.push(v);
    }
    Ok(Some(k))
}

impl Op for JoinOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        if self.state.is_none() {
            let rows = collect(self.right_plan, env)?;
            let mut table: HashMap<Vec<Value>, Vec<usize>> = HashMap::new();
            if !self.keys.is_empty() {
                for (i, r) in rows.iter().enumerate() {
                    if let Some(k) = key_of(self.keys.iter().map(|(_, re)| re.eval(r, env)))? {
                        table.entry(k).or_default().push(i);
                    }
                }
            }
            let matched = vec![false; rows.len()];
            self.state = Some(JoinState {
                rows,
                table,
                matched,
            });
        }
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(Some(r));
            }
            let Some(st) = self.state.as_mut() else {
                return Ok(None);
            };
            if self.left_done {
                return Ok(None);
            }
            let Some(l) = self.left.next(env)? else {
                self.left_done = true;
                if self.kind == JoinKind::Full {
                    for (i, r) in st.rows.iter().enumerate() {
                        if !st.matched[i] {
                            let mut out = vec![Value::Null; self.left_width];
                            out.extend(r.iter().cloned());
                            self.pending.push_back(out);
                        }
                    }
                }
                continue;
            };
            let candidates: Vec<usize> = if self.keys.is_empty() {
                (0..st.rows.len()).collect()
            } else {
                match key_of(self.keys.iter().map(|(le, _)| le.eval(&l, env)))? {
                    Some(k) => st.table.get(&k).cloned().unwrap_or_default(),
                    None => Vec::new(),
                }
            };
            let mut any = false;
            for i in candidates {
                let mut joined = l.clone();
                joined.extend(st.rows[i].iter().cloned());
                if match self.on {
                    Some(c) => c.test(&joined, env)?,
                    None => true,
                } {
                    any = true;
                    st.matched[i] = true;
                    self.pending.push_back(joined);
                }
            }
            if !any && self.kind != JoinKind::Inner {
                let mut out = l;
                out.extend(std::iter::repeat_n(Value::Null, self.right_width));
                self.pending.push_back(out);
            }
        }
    }
}

/// Running state of one aggregate in one group.
#[derive(Clone)]
enum Acc {
    Count(i64),
    SumInt(Option<i64>),
    SumDec(Option<Decimal>),
    SumFloat(Option<f64>),
    AvgDec(Decimal, i64),
    AvgFloat(f64, i64),
    Total(f64),
    Min(Option<Value>),
    Max(Option<Value>),
    Str(Option<String>),
    All(Option<bool>),
    Any(Option<bool>),
}

fn new_acc(a: &AggCall) -> Acc {
    match a.func {
        AggFunc::Count | AggFunc::CountStar => Acc::Count(0),
        AggFunc::Sum if a.ty.is_integer() => Acc::SumInt(None),
        AggFunc::Sum if a.ty.is_float() => Acc::SumFloat(None),
        AggFunc::Sum => Acc::SumDec(None),
        AggFunc::Avg if a.ty.is_float() => Acc::AvgFloat(0.0, 0),
        AggFunc::Avg => Acc::AvgDec(Decimal::ZERO, 0),
        AggFunc::Total => Acc::Total(0.0),
        AggFunc::Min => Acc::Min(None),
        AggFunc::Max => Acc::Max(None),
        AggFunc::StringAgg => Acc::Str(None),
        AggFunc::BoolAnd => Acc::All(None),
        AggFunc::BoolOr => Acc::Any(None),
    }
}

fn num_err(v: &Value) -> Error {
    Error::TypeMismatch(format!("cannot aggregate {}", v.type_name()))
}

fn update(acc: &mut Acc, v: Value, sep: Option<Value>) -> Result<()> {
    match acc {
        Acc::Count(n) => *n += 1,
        Acc::SumInt(s) => match v {
            Value::Int(i) => *s = Some(func::int_sum(s.unwrap_or(0), i)?),
            other => return Err(num_err(&other)),
        },
        Acc::SumDec(s) => {
            let d = func::decimal_of(&v).ok_or_else(|| num_err(&v))?;
            *s = Some(
                s.unwrap_or(Decimal::ZERO)
                    .checked_add(d)
                    .ok_or_else(|| Error::OutOfRange("numeric".into()))?,
            );
        }
        Acc::SumFloat(s) => *s = Some(s.unwrap_or(0.0) + v.as_f64().ok_or_else(|| num_err(&v))?),
        Acc::AvgDec(s, n) => {
            let d = func::decimal_of(&v).ok_or_else(|| num_err(&v))?;
            *s = s
                .checked_add(d)
                .ok_or_else(|| Error::OutOfRange("numeric".into()))?;
            *n += 1;
        }
        Acc::AvgFloat(s, n) => {
            *s += v.as_f64().ok_or_else(|| num_err(&v))?;
            *n += 1;
        }
        Acc::Total(s) => *s += v.as_f64().ok_or_else(|| num_err(&v))?,
        Acc::Min(m) => {
            if m.as_ref().is_none_or(|x| v.total_cmp(x) == Ordering::Less) {
                *m = Some(v);
            }
        }
        Acc::Max(m) => {
            if m.as_ref()
                .is_none_or(|x| v.total_cmp(x) == Ordering::Greater)
            {
                *m = Some(v);
            }
        }
        Acc::Str(s) => {
            let t = v.into_text();
            match s {
                None => *s = Some(t),
                Some(acc) => {
                    if let Some(sep) = sep {
                        if !sep.is_null() {
                            acc.push_str(&sep.into_text());
                        }
                    }
                    acc.push_str(&t);
                }
            }
        }
        Acc::All(b) => *b = Some(b.unwrap_or(true) && v.truth()? == Some(true)),
        Acc::Any(b) => *b = Some(b.unwrap_or(false) || v.truth()? == Some(true)),
    }
    Ok(())
}

fn finish_acc(acc: Acc, ty: DataType) -> Result<Value> {
    Ok(match acc {
        Acc::Count(n) => Value::Int(n),
        Acc::SumInt(s) => s.map_or(Value::Null, Value::Int),
        Acc::SumDec(s) => s.map_or(Value::Null, Value::Decimal),
        Acc::SumFloat(s) => s.map_or(Value::Null, |f| {
            Value::Float(if ty == DataType::Real {
                f64::from(f as f32)
            } else {
                f
            })
        }),
        Acc::AvgDec(s, n) => func::decimal_avg(s, n)?,
        Acc::AvgFloat(s, n) => {
            if n == 0 {
                Value::Null
            } else {
                Value::Float(s / n as f64)
            }
        }
        Acc::Total(s) => Value::Float(s),
        Acc::Min(m) | Acc::Max(m) => m.unwrap_or(Value::Null),
        Acc::Str(s) => s.map_or(Value::Null, Value::Text),
        Acc::All(b) | Acc::Any(b) => b.map_or(Value::Null, Value::Bool),
    })
}

struct Group {
    first: Row,
    accs: Vec<Acc>,
    seen: Vec<HashSet<Value>>,
}

struct AggOp<'p> {
    input: Option<Box<dyn Op + 'p>>,
    input_width: usize,
    group: &'p [Expr],
    aggs: &'p [AggCall],
    out: VecDeque<Row>,
}

impl AggOp<'_> {
    fn run(&mut self, mut input: Box<dyn Op + '_>, env: &Env<'_, '_>) -> Result<()> {
        let mut index: HashMap<Vec<Value>, usize> = HashMap::new();
        let mut groups: Vec<(Vec<Value>, Group)> = Vec::new();
        let new_group = |first: Row| Group {
            first,
            accs: self.aggs.iter().map(new_acc).collect(),
            seen: vec![HashSet::new(); self.aggs.len()],
        };
        while let Some(row) = input.next(env)? {
            let key: Vec<Value> = self
                .group
                .iter()
                .map(|g| g.eval(&row, env))
                .collect::<Result<_>>()?;
            let gi = match index.get(&key) {
                Some(&i) => i,
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key, new_group(row.clone())));
                    groups.len() - 1
                }
            };
            let g = &mut groups[gi].1;
            for (j, a) in self.aggs.iter().enumerate() {
                let v = match &a.arg {
                    None => Value::Int(1),
                    Some(e) => e.eval(&row, env)?,
                };
                if v.is_null() {
                    continue;
                }
                if a.distinct && !g.seen[j].insert(v.clone()) {
                    continue;
                }
                let sep = match &a.sep {
                    Some(s) => Some(s.eval(&row, env)?),
                    None => None,
                };
                update(&mut g.accs[j], v, sep)?;
            }
        }
        if groups.is_empty() && self.group.is_empty() {
            groups.push((Vec::new(), new_group(vec![Value::Null; self.input_width])));
        }
        for (key, g) in groups {
            let mut row = g.first;
            row.extend(key);
            for (acc, a) in g.accs.into_iter().zip(self.aggs) {
                row.push(finish_acc(acc, a.ty)?);
            }
            self.out.push_back(row);
        }
        Ok(())
    }
}

impl Op for AggOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        if let Some(input) = self.input.take() {
            self.run(input, env)?;
        }
        Ok(self.out.pop_front())
    }
}

/// Compares two rows' sort-key values.
pub fn compare_keys(a: &[Value], b: &[Value], keys: &[SortKey]) -> Ordering {
    for (i, k) in keys.iter().enumerate() {
        let (x, y) = (&a[i], &b[i]);
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = x.total_cmp(y);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

struct SortOp<'p> {
    input: Option<Box<dyn Op + 'p>>,
    keys: &'p [SortKey],
    top: Option<usize>,
    out: VecDeque<Row>,
}

impl Op for SortOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        if let Some(mut input) = self.input.take() {
            let mut rows: Vec<(Vec<Value>, Row)> = Vec::new();
            while let Some(r) = input.next(env)? {
                let k = self
                    .keys
                    .iter()
                    .map(|k| k.expr.eval(&r, env))
                    .collect::<Result<_>>()?;
                rows.push((k, r));
                // Top-N: once twice the limit is buffered, keep only the best `n`.
                if let Some(n) = self.top {
                    if rows.len() >= n.saturating_mul(2).max(64) {
                        let keys = self.keys;
                        rows.sort_by(|a, b| compare_keys(&a.0, &b.0, keys));
                        rows.truncate(n);
                    }
                }
            }
            let keys = self.keys;
            rows.sort_by(|a, b| compare_keys(&a.0, &b.0, keys));
            if let Some(n) = self.top {
                rows.truncate(n);
            }
            self.out = rows.into_iter().map(|(_, r)| r).collect();
        }
        Ok(self.out.pop_front())
    }
}

struct LimitOp<'p> {
    input: Box<dyn Op + 'p>,
    limit: Option<usize>,
    offset: usize,
}

impl Op for LimitOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        while self.offset > 0 {
            if self.input.next(env)?.is_none() {
                return Ok(None);
            }
            self.offset -= 1;
        }
        match self.limit {
            Some(0) => Ok(None),
            Some(n) => {
                self.limit = Some(n - 1);
                self.input.next(env)
            }
            None => self.input.next(env),
        }
    }
}

struct DistinctOp<'p> {
    input: Box<dyn Op + 'p>,
    seen: HashSet<Row>,
}

impl Op for DistinctOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        while let Some(r) = self.input.next(env)? {
            if self.seen.insert(r.clone()) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

struct SetOpOp<'p> {
    left: Box<dyn Op + 'p>,
    right_plan: &'p Plan,
    op: SetOpKind,
    all: bool,
    right: Option<HashMap<Row, usize>>,
    seen: HashSet<Row>,
    right_iter: Option<std::vec::IntoIter<Row>>,
}

impl Op for SetOpOp<'_> {
    fn next(&mut self, env: &Env<'_, '_>) -> Result<Option<Row>> {
        if self.op == SetOpKind::Union {
            if let Some(r) = self.left.next(env)? {
                if self.all || self.seen.insert(r.clone()) {
                    return Ok(Some(r));
                }
                return self.next(env);
            }
            if self.right_iter.is_none() {
                self.right_iter = Some(collect(self.right_plan, env)?.into_iter());
            }
            let it = self.right_iter.as_mut().map(|i| i.by_ref());
            if let Some(it) = it {
                for r in it {
                    if self.all || self.seen.insert(r.clone()) {
                        return Ok(Some(r));
                    }
                }
            }
            return Ok(None);
        }
        if self.right.is_none() {
            let mut m: HashMap<Row, usize> = HashMap::new();
            for r in collect(self.right_plan, env)? {
                *m.entry(r).or_default() += 1;
            }
            self.right = Some(m);
        }
        let Some(right) = self.right.as_mut() else {
            return Ok(None);
        };
        while let Some(r) = self.left.next(env)? {
            let count = right.get(&r).copied().unwrap_or(0);
            let keep = match (self.op, self.all) {
                (SetOpKind::Intersect, true) => {
                    if count > 0 {
                        right.insert(r.clone(), count - 1);
                        true
                    } else {
                        false
                    }
                }
                (SetOpKind::Intersect, false) => count > 0 && self.seen.insert(r.clone()),
                (SetOpKind::Except, true) => {
                    if count > 0 {
                        right.insert(r.clone(), count - 1);
                        false
                    } else {
                        true
                    }
                }
                _ => count == 0 && self.seen.insert(r.clone()),
            };
            if keep {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

/// Casts a value for storing into a column of type `ty`.
pub fn assign(v: Value, ty: DataType) -> Result<Value> {
    cast(v, ty, CastMode::Assignment)
}
