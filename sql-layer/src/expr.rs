//! Bound expressions: what the planner turns SQL expressions into (names resolved to row
//! positions, types known), and their evaluation with SQL semantics: three-valued logic,
//! overflow and division-by-zero errors, NULL propagation.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::exec::{self, Env};
use crate::func::Func;
use crate::plan::Plan;
use crate::types::{cast, check_int, CastMode, DataType, Value};

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `||`
    Concat,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
}

impl BinOp {
    /// The operator's SQL spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Concat => "||",
            BinOp::Eq => "=",
            BinOp::NotEq => "<>",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "AND",
            BinOp::Or => "OR",
        }
    }
    /// True for the six comparisons.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }
    /// `a op b` == `b flip(op) a`.
    pub fn flip(self) -> BinOp {
        match self {
            BinOp::Lt => BinOp::Gt,
            BinOp::LtEq => BinOp::GtEq,
            BinOp::Gt => BinOp::Lt,
            BinOp::GtEq => BinOp::LtEq,
            other => other,
        }
    }
}

/// A subquery inside an expression.
#[derive(Debug)]
pub struct SubPlan {
    /// The subquery's plan.
    pub plan: Plan,
    /// True if it references columns of an enclosing query (re-run for every row).
    pub correlated: bool,
    /// Identity for caching uncorrelated results within one statement.
    pub id: usize,
}

impl PartialEq for SubPlan {
    fn eq(&self, other: &SubPlan) -> bool {
        self.id == other.id
    }
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT(*)`
    CountStar,
    /// `COUNT(x)`
    Count,
    /// `SUM(x)`
    Sum,
    /// `AVG(x)`
    Avg,
    /// `MIN(x)`
    Min,
    /// `MAX(x)`
    Max,
    /// `TOTAL(x)` (SQLite): float sum, 0.0 for no rows.
    Total,
    /// `STRING_AGG(x, sep)` / `GROUP_CONCAT(x [, sep])`.
    StringAgg,
    /// `BOOL_AND(x)` / `EVERY(x)`.
    BoolAnd,
    /// `BOOL_OR(x)`.
    BoolOr,
}

/// One aggregate call of a query.
#[derive(Debug, PartialEq)]
pub struct AggCall {
    /// Which aggregate.
    pub func: AggFunc,
    /// Its argument (absent for COUNT(*)).
    pub arg: Option<Expr>,
    /// Separator of STRING_AGG.
    pub sep: Option<Expr>,
    /// `DISTINCT` inside the call.
    pub distinct: bool,
    /// Result type.
    pub ty: DataType,
}

/// A bound expression.
#[derive(Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// Column `i` of the current row.
    Column(usize),
    /// Column `index` of the row of the enclosing query `depth` levels up.
    Outer {
        /// 1 = the immediately enclosing query.
        depth: usize,
        /// Column position in that query's row.
        index: usize,
    },
    /// Bound parameter `$n` (0-based here).
    Param(usize),
    /// Arithmetic, comparison, logic.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// Result type (arithmetic checks overflow against it).
        ty: DataType,
    },
    /// `-x`.
    Neg(Box<Expr>, DataType),
    /// `NOT x`.
    Not(Box<Expr>),
    /// `x IS [NOT] NULL`.
    IsNull(Box<Expr>, bool),
    /// `x IS [NOT] TRUE/FALSE` (`value`), negated when the bool is true.
    IsBool(Box<Expr>, bool, bool),
    /// `a IS [NOT] DISTINCT FROM b` (true = NOT DISTINCT).
    IsDistinct(Box<Expr>, Box<Expr>, bool),
    /// `x [NOT] IN (list)`.
    InList {
        /// Probe.
        expr: Box<Expr>,
        /// Candidates.
        list: Vec<Expr>,
        /// NOT IN.
        negated: bool,
    },
    /// `x [NOT] IN (SELECT ...)`.
    InSubquery {
        /// Probe.
        expr: Box<Expr>,
        /// The subquery (one column).
        sub: Box<SubPlan>,
        /// NOT IN.
        negated: bool,
    },
    /// `[NOT] EXISTS (SELECT ...)`.
    Exists(Box<SubPlan>, bool),
    /// `(SELECT ...)` as a value.
    Scalar(Box<SubPlan>),
    /// `x [NOT] [I]LIKE pattern [ESCAPE e]`.
    Like {
        /// Subject.
        expr: Box<Expr>,
        /// Pattern.
        pattern: Box<Expr>,
        /// Escape character (default `\`).
        escape: Option<Box<Expr>>,
        /// NOT LIKE.
        negated: bool,
        /// ILIKE.
        ci: bool,
    },
    /// `CASE`.
    Case {
        /// `CASE operand WHEN ...` form.
        operand: Option<Box<Expr>>,
        /// WHEN/THEN pairs.
        whens: Vec<(Expr, Expr)>,
        /// ELSE.
        default: Option<Box<Expr>>,
    },
    /// `CAST(x AS ty)`.
    Cast(Box<Expr>, DataType),
    /// A scalar function.
    Func(Func, Vec<Expr>),
    /// An aggregate result (resolved to a column after aggregation).
    Agg(usize),
}

impl Expr {
    /// A boxed column reference.
    pub fn col(i: usize) -> Expr {
        Expr::Column(i)
    }

    /// Visits every sub-expression (not descending into subqueries).
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Binary { left, right, .. } | Expr::IsDistinct(left, right, _) => {
                left.walk(f);
                right.walk(f);
            }
            Expr::Neg(e, _)
            | Expr::Not(e)
            | Expr::IsNull(e, _)
            | Expr::IsBool(e, _, _)
            | Expr::Cast(e, _) => e.walk(f),
            Expr::InList { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|e| e.walk(f));
            }
            Expr::InSubquery { expr, .. } => expr.walk(f),
            Expr::Like {
                expr,
                pattern,
                escape,
                ..
            } => {
                expr.walk(f);
                pattern.walk(f);
                if let Some(e) = escape {
                    e.walk(f);
                }
            }
            Expr::Case {
                operand,
                whens,
                default,
            } => {
                if let Some(o) = operand {
                    o.walk(f);
                }
                for (w, t) in whens {
                    w.walk(f);
                    t.walk(f);
                }
                if let Some(d) = default {
                    d.walk(f);
                }
            }
            Expr::Func(_, args) => args.iter().for_each(|e| e.walk(f)),
            _ => {}
        }
    }

    /// True if the expression holds a subquery anywhere.
    pub fn has_subquery(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(
                e,
                Expr::InSubquery { .. } | Expr::Exists(..) | Expr::Scalar(_)
            ) {
                found = true;
            }
        });
        found
    }

    /// True if the value does not depend on the current row (literals, parameters, outer
    /// references and functions of them; no subqueries, no volatile functions).
    pub fn is_row_independent(&self) -> bool {
        let mut ok = true;
        self.walk(&mut |e| match e {
            Expr::Column(_)
            | Expr::Agg(_)
            | Expr::InSubquery { .. }
            | Expr::Exists(..)
            | Expr::Scalar(_) => ok = false,
            Expr::Func(f, _) if f.is_volatile() => ok = false,
            _ => {}
        });
        ok
    }

    /// Column positions the expression reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut v = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Column(i) = e {
                v.push(*i);
            }
        });
        v
    }

    /// Rewrites column positions through `map` (None = the column is not available).
    /// Callers only remap subquery-free expressions.
    pub fn remap(&self, map: &dyn Fn(usize) -> usize) -> Expr {
        let b = |e: &Expr| Box::new(e.remap(map));
        match self {
            Expr::Column(i) => Expr::Column(map(*i)),
            Expr::Literal(v) => Expr::Literal(v.clone()),
            Expr::Outer { depth, index } => Expr::Outer {
                depth: *depth,
                index: *index,
            },
            Expr::Param(p) => Expr::Param(*p),
            Expr::Binary {
                op,
                left,
                right,
                ty,
            } => Expr::Binary {
                op: *op,
                left: b(left),
                right: b(right),
                ty: *ty,
            },
            Expr::Neg(e, t) => Expr::Neg(b(e), *t),
            Expr::Not(e) => Expr::Not(b(e)),
            Expr::IsNull(e, n) => Expr::IsNull(b(e), *n),
            Expr::IsBool(e, v, n) => Expr::IsBool(b(e), *v, *n),
            Expr::IsDistinct(l, r, n) => Expr::IsDistinct(b(l), b(r), *n),
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: b(expr),
                list: list.iter().map(|e| e.remap(map)).collect(),
                negated: *negated,
            },
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
                ci,
            } => Expr::Like {
                expr: b(expr),
                pattern: b(pattern),
                escape: escape.as_ref().map(|e| b(e)),
                negated: *negated,
                ci: *ci,
            },
            Expr::Case {
                operand,
                whens,
                default,
            } => Expr::Case {
                operand: operand.as_ref().map(|e| b(e)),
                whens: whens
                    .iter()
                    .map(|(w, t)| (w.remap(map), t.remap(map)))
                    .collect(),
                default: default.as_ref().map(|e| b(e)),
            },
            Expr::Cast(e, t) => Expr::Cast(b(e), *t),
            Expr::Func(f, args) => Expr::Func(*f, args.iter().map(|e| e.remap(map)).collect()),
            Expr::Agg(i) => Expr::Agg(*i),
            // Subqueries are never remapped (see the callers); keep a harmless placeholder.
            Expr::InSubquery { .. } | Expr::Exists(..) | Expr::Scalar(_) => {
                Expr::Literal(Value::Null)
            }
        }
    }

    /// A copy (subquery-free expressions only; subqueries become NULL, see [`Expr::remap`]).
    pub fn copy(&self) -> Expr {
        self.remap(&|i| i)
    }

    /// Evaluates against `row`.
    pub fn eval(&self, row: &[Value], env: &Env<'_, '_>) -> Result<Value> {
        match self {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Column(i) => row
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::Corrupt(format!("row has no column {i}"))),
            Expr::Outer { depth, index } => env.outer_value(*depth, *index),
            Expr::Param(i) => env
                .cx
                .params
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::Parameter(format!("no value for parameter ${}", i + 1))),
            Expr::Binary {
                op: BinOp::And,
                left,
                right,
                ..
            } => {
                let l = left.eval(row, env)?.truth()?;
                if l == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let r = right.eval(row, env)?.truth()?;
                Ok(match (l, r) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                })
            }
            Expr::Binary {
                op: BinOp::Or,
                left,
                right,
                ..
            } => {
                let l = left.eval(row, env)?.truth()?;
                if l == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let r = right.eval(row, env)?.truth()?;
                Ok(match (l, r) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                })
            }
            Expr::Binary {
                op,
                left,
                right,
                ty,
            } => {
                let l = left.eval(row, env)?;
                let r = right.eval(row, env)?;
                binary(*op, l, r, *ty)
            }
            Expr::Neg(e, ty) => negate(e.eval(row, env)?, *ty),
            Expr::Not(e) => Ok(match e.eval(row, env)?.truth()? {
                Some(b) => Value::Bool(!b),
                None => Value::Null,
            }),
            Expr::IsNull(e, negated) => Ok(Value::Bool(e.eval(row, env)?.is_null() != *negated)),
            Expr::IsBool(e, want, negated) => {
                let t = e.eval(row, env)?.truth()?;
                Ok(Value::Bool((t == Some(*want)) != *negated))
            }
            Expr::IsDistinct(l, r, not_distinct) => {
                let (l, r) = (l.eval(row, env)?, r.eval(row, env)?);
                let same = match (l.is_null(), r.is_null()) {
                    (true, true) => true,
                    (false, false) => l.sql_cmp(&r) == Some(Ordering::Equal),
                    _ => false,
                };
                Ok(Value::Bool(same == *not_distinct))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(row, env)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let c = item.eval(row, env)?;
                    match v.sql_cmp(&c) {
                        Some(Ordering::Equal) => return Ok(Value::Bool(!negated)),
                        None if c.is_null() => saw_null = true,
                        None => return Err(incomparable(&v, &c)),
                        _ => {}
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                })
            }
            Expr::InSubquery { expr, sub, negated } => {
                let v = expr.eval(row, env)?;
                let set = exec::subquery_set(sub, row, env)?;
                if set.is_empty() {
                    return Ok(Value::Bool(*negated));
                }
                if v.is_null() {
                    return Ok(Value::Null);
                }
                if set.contains(&v) {
                    return Ok(Value::Bool(!negated));
                }
                Ok(if set.has_null() {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                })
            }
            Expr::Exists(sub, negated) => Ok(Value::Bool(
                exec::subquery_exists(sub, row, env)? != *negated,
            )),
            Expr::Scalar(sub) => exec::subquery_scalar(sub, row, env),
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
                ci,
            } => {
                let s = expr.eval(row, env)?;
                let p = pattern.eval(row, env)?;
                let esc = match escape {
                    Some(e) => match e.eval(row, env)? {
                        Value::Null => return Ok(Value::Null),
                        v => {
                            let s = v.into_text();
                            let mut it = s.chars();
                            match (it.next(), it.next()) {
                                (None, _) => None,
                                (Some(c), None) => Some(c),
                                _ => {
                                    return Err(Error::InvalidParameter(
                                        "ESCAPE must be a single character".into(),
                                    ))
                                }
                            }
                        }
                    },
                    None => Some('\\'),
                };
                if s.is_null() || p.is_null() {
                    return Ok(Value::Null);
                }
                let (mut s, mut p) = (s.into_text(), p.into_text());
                if *ci {
                    s = s.to_lowercase();
                    p = p.to_lowercase();
                }
                Ok(Value::Bool(like(&s, &p, esc)? != *negated))
            }
            Expr::Case {
                operand,
                whens,
                default,
            } => {
                let subject = match operand {
                    Some(o) => Some(o.eval(row, env)?),
                    None => None,
                };
                for (w, t) in whens {
                    let hit = match &subject {
                        Some(s) => s.sql_cmp(&w.eval(row, env)?) == Some(Ordering::Equal),
                        None => w.eval(row, env)?.truth()? == Some(true),
                    };
                    if hit {
                        return t.eval(row, env);
                    }
                }
                match default {
                    Some(d) => d.eval(row, env),
                    None => Ok(Value::Null),
                }
            }
            Expr::Cast(e, ty) => cast(e.eval(row, env)?, *ty, CastMode::Explicit),
            Expr::Func(f, args) => f.eval(args, row, env),
            Expr::Agg(_) => Err(Error::Grouping(
                "aggregate functions are not allowed here".into(),
            )),
        }
    }

    /// Evaluates as a predicate: NULL and false are both "no".
    pub fn test(&self, row: &[Value], env: &Env<'_, '_>) -> Result<bool> {
        Ok(self.eval(row, env)?.truth()? == Some(true))
    }
}

fn incomparable(a: &Value, b: &Value) -> Error {
    Error::TypeMismatch(format!(
        "cannot compare {} with {}",
        a.type_name(),
        b.type_name()
    ))
}

fn overflow(ty: DataType) -> Error {
    match ty {
        DataType::SmallInt => Error::OutOfRange("smallint".into()),
        DataType::Int => Error::OutOfRange("integer".into()),
        DataType::BigInt => Error::OutOfRange("bigint".into()),
        DataType::Real | DataType::Double => {
            Error::OutOfRange("value out of range: overflow; double precision".into())
        }
        _ => Error::OutOfRange("numeric value".into()),
    }
}

fn to_decimal(v: &Value) -> Result<Decimal> {
    match v {
        Value::Int(i) => Ok(Decimal::from(*i)),
        Value::Decimal(d) => Ok(*d),
        Value::Float(f) => {
            use rust_decimal::prelude::FromPrimitive;
            Decimal::from_f64(*f).ok_or_else(|| Error::OutOfRange("numeric value".into()))
        }
        other => Err(Error::TypeMismatch(format!(
            "{} is not a number",
            other.type_name()
        ))),
    }
}

/// `-v` for a value of type `ty`.
pub fn negate(v: Value, ty: DataType) -> Result<Value> {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Int(check_int(i.checked_neg().ok_or_else(|| overflow(ty))?, ty)?),
        Value::Float(f) => Value::Float(-f),
        Value::Decimal(d) => Value::Decimal(-d),
        other => {
            return Err(Error::TypeMismatch(format!(
                "cannot negate {}",
                other.type_name()
            )))
        }
    })
}

/// Applies a (non-logical) binary operator. `ty` is the result type the planner derived.
pub fn binary(op: BinOp, l: Value, r: Value, ty: DataType) -> Result<Value> {
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    if op.is_comparison() {
        let o = l.sql_cmp(&r).ok_or_else(|| incomparable(&l, &r))?;
        return Ok(Value::Bool(match op {
            BinOp::Eq => o == Ordering::Equal,
            BinOp::NotEq => o != Ordering::Equal,
            BinOp::Lt => o == Ordering::Less,
            BinOp::LtEq => o != Ordering::Greater,
            BinOp::Gt => o == Ordering::Greater,
            _ => o != Ordering::Less,
        }));
    }
    if op == BinOp::Concat {
        let mut s = l.into_text();
        s.push_str(&r.into_text());
        return Ok(Value::Text(s));
    }
    match (&l, &r) {
        (Value::Date(d), Value::Int(n)) if matches!(op, BinOp::Add | BinOp::Sub) => {
            let n = if op == BinOp::Add { *n } else { -*n };
            let v = i64::from(*d) + n;
            return i32::try_from(v)
                .map(Value::Date)
                .map_err(|_| Error::DateTime("date out of range".into()));
        }
        (Value::Int(n), Value::Date(d)) if op == BinOp::Add => {
            return i32::try_from(i64::from(*d) + n)
                .map(Value::Date)
                .map_err(|_| Error::DateTime("date out of range".into()));
        }
        (Value::Date(a), Value::Date(b)) if op == BinOp::Sub => {
            return Ok(Value::Int(i64::from(*a) - i64::from(*b)));
        }
        _ => {}
    }
    match ty {
        t if t.is_integer() => {
            let (a, b) = match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => (*a, *b),
                _ => return Err(arith_mismatch(op, &l, &r)),
            };
            let v = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div | BinOp::Mod if b == 0 => return Err(Error::DivisionByZero),
                BinOp::Div => a.checked_div(b),
                BinOp::Mod => Some(a.checked_rem(b).unwrap_or(0)),
                _ => return Err(arith_mismatch(op, &l, &r)),
            };
            Ok(Value::Int(check_int(v.ok_or_else(|| overflow(ty))?, ty)?))
        }
        DataType::Real | DataType::Double => {
            let (a, b) = match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(arith_mismatch(op, &l, &r)),
            };
            let v = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div | BinOp::Mod if b == 0.0 => return Err(Error::DivisionByZero),
                BinOp::Div => a / b,
                BinOp::Mod => a % b,
                _ => return Err(arith_mismatch(op, &l, &r)),
            };
            if v.is_infinite() && a.is_finite() && b.is_finite() {
                return Err(overflow(ty));
            }
            Ok(Value::Float(if ty == DataType::Real {
                f64::from(v as f32)
            } else {
                v
            }))
        }
        DataType::Decimal { .. } => {
            let (a, b) = (to_decimal(&l)?, to_decimal(&r)?);
            let v = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div | BinOp::Mod if b.is_zero() => return Err(Error::DivisionByZero),
                BinOp::Div => a.checked_div(b),
                BinOp::Mod => a.checked_rem(b),
                _ => return Err(arith_mismatch(op, &l, &r)),
            };
            Ok(Value::Decimal(v.ok_or_else(|| overflow(ty))?))
        }
        _ => Err(arith_mismatch(op, &l, &r)),
    }
}

fn arith_mismatch(op: BinOp, l: &Value, r: &Value) -> Error {
    Error::TypeMismatch(format!(
        "operator does not exist: {} {} {}",
        l.type_name(),
        op.symbol(),
        r.type_name()
    ))
}

/// SQL LIKE: `%` any run, `_` one character, `esc` escapes the next character.
pub fn like(s: &str, p: &str, esc: Option<char>) -> Result<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut it = p.chars();
    while let Some(c) = it.next() {
        if Some(c) == esc {
            match it.next() {
                Some(n) => toks.push(Tok::Lit(n)),
                None => {
                    return Err(Error::InvalidParameter(
                        "LIKE pattern must not end with escape character".into(),
                    ))
                }
            }
        } else if c == '%' {
            toks.push(Tok::Any);
        } else if c == '_' {
            toks.push(Tok::One);
        } else {
            toks.push(Tok::Lit(c));
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Iterative matcher with backtracking to the last `%`.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(pi) {
            Some(Tok::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(Tok::One) => {
                si += 1;
                pi += 1;
            }
            Some(Tok::Lit(c)) if *c == s[si] => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return Ok(false),
            },
        }
    }
    Ok(toks[pi..].iter().all(|t| *t == Tok::Any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "a%", true),
            ("abc", "%c", true),
            ("abc", "a_c", true),
            ("abc", "a_", false),
            ("", "%", true),
            ("", "_", false),
            ("a%b", "a\\%b", true),
            ("axb", "a\\%b", false),
            ("aaa", "%a%a%a%", true),
            ("aa", "%a%a%a%", false),
            ("mississippi", "%iss%ppi", true),
            ("héllo", "h_llo", true),
        ];
        for (s, p, want) in cases {
            assert_eq!(like(s, p, Some('\\')).unwrap(), want, "{s} LIKE {p}");
        }
        assert!(like("a", "a\\", Some('\\')).is_err());
    }

    #[test]
    fn integer_arithmetic_checks_overflow_and_zero() {
        let i = DataType::Int;
        assert_eq!(
            binary(BinOp::Add, Value::Int(1), Value::Int(2), i).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            binary(
                BinOp::Add,
                Value::Int(i64::from(i32::MAX)),
                Value::Int(1),
                i
            )
            .unwrap_err()
            .sqlstate(),
            "22003"
        );
        assert_eq!(
            binary(
                BinOp::Mul,
                Value::Int(i64::MAX),
                Value::Int(2),
                DataType::BigInt
            )
            .unwrap_err()
            .sqlstate(),
            "22003"
        );
        assert_eq!(
            binary(BinOp::Div, Value::Int(1), Value::Int(0), i)
                .unwrap_err()
                .sqlstate(),
            "22012"
        );
        assert_eq!(
            binary(BinOp::Div, Value::Int(-7), Value::Int(2), i).unwrap(),
            Value::Int(-3)
        );
        assert_eq!(
            binary(BinOp::Mod, Value::Int(-7), Value::Int(2), i).unwrap(),
            Value::Int(-1)
        );
        assert_eq!(
            binary(
                BinOp::Div,
                Value::Int(i64::MIN),
                Value::Int(-1),
                DataType::BigInt
            )
            .unwrap_err()
            .sqlstate(),
            "22003"
        );
        assert!(binary(BinOp::Add, Value::Null, Value::Int(1), i)
            .unwrap()
            .is_null());
    }

    #[test]
    fn decimal_and_float_arithmetic() {
        let d = DataType::Decimal {
            precision: 0,
            scale: 0,
        };
        let a = Value::Decimal("0.1".parse().unwrap());
        let b = Value::Decimal("0.2".parse().unwrap());
        assert_eq!(binary(BinOp::Add, a, b, d).unwrap().to_string(), "0.3");
        assert_eq!(
            binary(BinOp::Div, Value::Int(1), Value::Decimal(Decimal::ZERO), d)
                .unwrap_err()
                .sqlstate(),
            "22012"
        );
        assert_eq!(
            binary(
                BinOp::Mul,
                Value::Float(1e300),
                Value::Float(1e300),
                DataType::Double
            )
            .unwrap_err()
            .sqlstate(),
            "22003"
        );
        assert_eq!(
            binary(
                BinOp::Div,
                Value::Float(1.0),
                Value::Int(4),
                DataType::Double
            )
            .unwrap(),
            Value::Float(0.25)
        );
    }

    #[test]
    fn comparisons_are_three_valued() {
        assert_eq!(
            binary(BinOp::Lt, Value::Int(1), Value::Float(1.5), DataType::Bool).unwrap(),
            Value::Bool(true)
        );
        assert!(
            binary(BinOp::Eq, Value::Null, Value::Int(1), DataType::Bool)
                .unwrap()
                .is_null()
        );
        assert_eq!(
            binary(BinOp::Eq, Value::from("a"), Value::Int(1), DataType::Bool)
                .unwrap_err()
                .sqlstate(),
            "42804"
        );
    }
}
