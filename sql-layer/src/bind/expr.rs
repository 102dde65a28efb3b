//! Expression binding: names, literals, operators with type checking and coercion of
//! untyped literals, functions, aggregates and subqueries.

use sqlparser::ast;

use super::{ident, Binder};
use crate::error::{Error, Result};
use crate::expr::{AggCall, AggFunc, BinOp, Expr, SubPlan};
use crate::func::Func;
use crate::types::{cast, CastMode, DataType, Value, MAX_DECIMAL_PRECISION};

/// Converts a SQL type name. Returns the type and, for SERIAL/BIGSERIAL, `true`.
pub fn sql_type(t: &ast::DataType) -> Result<(DataType, bool)> {
    use ast::DataType as A;
    let len = |l: &Option<ast::CharacterLength>| -> Result<Option<u32>> {
        match l {
            None | Some(ast::CharacterLength::Max) => Ok(None),
            Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                let n = u32::try_from(*length)
                    .ok()
                    .filter(|&n| n > 0 && n <= 10_485_760);
                n.map(Some).ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "length for type varchar must be between 1 and 10485760, not {length}"
                    ))
                })
            }
        }
    };
    let dec = |i: &ast::ExactNumberInfo| -> Result<DataType> {
        let (p, s) = match i {
            ast::ExactNumberInfo::None => {
                return Ok(DataType::Decimal {
                    precision: 0,
                    scale: 0,
                })
            }
            ast::ExactNumberInfo::Precision(p) => (*p, 0),
            ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
        };
        if p == 0 || p > u64::from(MAX_DECIMAL_PRECISION) || s < 0 || s as u64 > p {
            return Err(Error::Unsupported(format!("NUMERIC({p},{s}): precision must be 1..={MAX_DECIMAL_PRECISION} and 0 <= scale <= precision")));
        }
        Ok(DataType::Decimal {
            precision: p as u8,
            scale: s as u8,
        })
    };
    Ok((
        match t {
            A::Bool | A::Boolean => DataType::Bool,
            A::SmallInt(_) | A::Int2(_) | A::TinyInt(_) => DataType::SmallInt,
            A::Int(_)
            | A::Integer(_)
            | A::Int4(_)
            | A::MediumInt(_)
            | A::Signed
            | A::SignedInteger => DataType::Int,
            A::BigInt(_) | A::Int8(_) | A::Int64 => DataType::BigInt,
            A::Numeric(i) | A::Decimal(i) | A::Dec(i) => dec(i)?,
            A::Real | A::Float4 => DataType::Real,
            A::Float(ast::ExactNumberInfo::Precision(p)) if *p <= 24 => DataType::Real,
            A::Double(_) | A::DoublePrecision | A::Float8 | A::Float(_) | A::Float64 => {
                DataType::Double
            }
            A::Varchar(l) | A::CharacterVarying(l) | A::CharVarying(l) | A::Nvarchar(l) => {
                DataType::Varchar(len(l)?)
            }
            A::Char(l) | A::Character(l) => DataType::Char(len(l)?.unwrap_or(1)),
            A::Text | A::String(None) | A::Clob(None) => DataType::Text,
            A::Date => DataType::Date,
            A::Timestamp(_, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone)
            | A::Datetime(_) => DataType::Timestamp,
            A::Bytea | A::Blob(None) => DataType::Bytea,
            A::Custom(name, mods) if mods.is_empty() => {
                let n = name.to_string().to_lowercase();
                match n.as_str() {
                    "serial" | "serial4" => return Ok((DataType::Int, true)),
                    "bigserial" | "serial8" => return Ok((DataType::BigInt, true)),
                    "smallserial" | "serial2" => return Ok((DataType::SmallInt, true)),
                    "int2" => DataType::SmallInt,
                    "int4" => DataType::Int,
                    "int8" => DataType::BigInt,
                    "float4" => DataType::Real,
                    "float8" => DataType::Double,
                    "bool" => DataType::Bool,
                    "bpchar" => DataType::Char(1),
                    _ => return Err(Error::Unsupported(format!("type {t}"))),
                }
            }
            other => return Err(Error::Unsupported(format!("type {other}"))),
        },
        false,
    ))
}

/// The type of a literal number: INT if it fits, BIGINT, else NUMERIC.
fn number(s: &str) -> Result<(Value, DataType)> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            let ty = if i32::try_from(i).is_ok() {
                DataType::Int
            } else {
                DataType::BigInt
            };
            return Ok((Value::Int(i), ty));
        }
    }
    let ty = DataType::Decimal {
        precision: 0,
        scale: 0,
    };
    let v = cast(Value::Text(s.to_string()), ty, CastMode::Explicit)
        .map_err(|_| Error::OutOfRange(format!("numeric literal {s}")))?;
    Ok((v, ty))
}

fn is_untyped_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(_) | Expr::Param(_))
}

/// Gives an untyped expression (string literal, NULL, parameter) the type `to`.
pub(crate) fn coerce(e: Expr, from: DataType, to: DataType) -> Result<Expr> {
    if from == to || to == DataType::Unknown {
        return Ok(e);
    }
    if from == DataType::Unknown {
        return Ok(match e {
            Expr::Literal(v) => Expr::Literal(cast(v, to, CastMode::Explicit)?),
            other => Expr::Cast(Box::new(other), to),
        });
    }
    Ok(e)
}

fn agg_func(name: &str) -> Option<AggFunc> {
    Some(match name {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "total" => AggFunc::Total,
        "string_agg" | "group_concat" => AggFunc::StringAgg,
        "bool_and" | "every" => AggFunc::BoolAnd,
        "bool_or" => AggFunc::BoolOr,
        _ => return None,
    })
}

impl Binder<'_> {
    /// Binds a predicate: its type must be boolean (or NULL).
    pub(crate) fn bind_bool(&mut self, e: &ast::Expr, what: &str) -> Result<Expr> {
        let (b, t) = self.bind(e)?;
        match t {
            DataType::Bool => Ok(b),
            DataType::Unknown => coerce(b, t, DataType::Bool),
            other => Err(Error::TypeMismatch(format!(
                "argument of {what} must be type boolean, not type {other}"
            ))),
        }
    }

    fn resolve(&mut self, parts: &[String]) -> Result<(Expr, DataType)> {
        let (qual, name) = match parts {
            [n] => (None, n),
            [q, n] => (Some(q), n),
            [s, q, n] if s == "public" => (Some(q), n),
            _ => {
                return Err(Error::Unsupported(format!(
                    "column reference {}",
                    parts.join(".")
                )))
            }
        };
        let top = self.levels.len() - 1;
        for (depth, li) in (0..=top).rev().enumerate() {
            let scope = &self.levels[li].scope;
            let mut hits = scope.iter().enumerate().filter(|(_, c)| {
                c.name == *name
                    && match qual {
                        None => !c.hidden,
                        Some(q) => c.qual.as_deref() == Some(q.as_str()),
                    }
            });
            let Some((i, c)) = hits.next() else { continue };
            if hits.next().is_some() {
                return Err(Error::AmbiguousColumn(name.clone()));
            }
            let ty = c.ty;
            if depth == 0 {
                return Ok((Expr::Column(i), ty));
            }
            for l in &mut self.levels[li + 1..] {
                l.correlated = true;
            }
            return Ok((Expr::Outer { depth, index: i }, ty));
        }
        Err(Error::UndefinedColumn(match qual {
            Some(q) => format!("{q}.{name}"),
            None => name.clone(),
        }))
    }

    /// Brings two comparison operands to comparable types.
    pub(crate) fn coerce_pair(
        &self,
        l: Expr,
        lt: DataType,
        r: Expr,
        rt: DataType,
        op: &str,
    ) -> Result<(Expr, Expr)> {
        let ok = |a: DataType, b: DataType| {
            DataType::common(a, b).is_some() || (a == DataType::Bool && b == DataType::Bool)
        };
        if !ok(lt, rt) {
            return Err(Error::TypeMismatch(format!(
                "operator does not exist: {} {op} {}",
                lt.sql_name().to_lowercase(),
                rt.sql_name().to_lowercase()
            )));
        }
        Ok((coerce(l, lt, rt)?, coerce(r, rt, lt)?))
    }

    fn subplan(&mut self, q: &ast::Query, one_column: bool) -> Result<(Box<SubPlan>, DataType)> {
        let (qp, correlated) = self.nested(|b| b.query(q))?;
        if qp.lock.is_some() {
            return Err(Error::Unsupported("FOR UPDATE in a subquery".into()));
        }
        if one_column && qp.cols.len() != 1 {
            return Err(Error::InvalidStatement(
                "subquery must return only one column".into(),
            ));
        }
        let ty = qp.cols.first().map_or(DataType::Unknown, |c| c.ty);
        let id = self.fresh_id();
        Ok((
            Box::new(SubPlan {
                plan: qp.plan,
                correlated,
                id,
            }),
            ty,
        ))
    }

    fn cmp(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr) -> Result<(Expr, DataType)> {
        let (lb, lt) = self.bind(l)?;
        let (rb, rt) = self.bind(r)?;
        let (lb, rb) = self.coerce_pair(lb, lt, rb, rt, op.symbol())?;
        Ok((
            Expr::Binary {
                op,
                left: Box::new(lb),
                right: Box::new(rb),
                ty: DataType::Bool,
            },
            DataType::Bool,
        ))
    }

    fn arith(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr) -> Result<(Expr, DataType)> {
        let (lb, lt) = self.bind(l)?;
        let (rb, rt) = self.bind(r)?;
        let mismatch = || {
            Error::TypeMismatch(format!(
                "operator does not exist: {} {} {}",
                lt.sql_name().to_lowercase(),
                op.symbol(),
                rt.sql_name().to_lowercase()
            ))
        };
        if op == BinOp::Concat {
            return Ok((
                Expr::Binary {
                    op,
                    left: Box::new(lb),
                    right: Box::new(rb),
                    ty: DataType::Text,
                },
                DataType::Text,
            ));
        }
        use DataType as T;
        let (lb, rb, ty) = match (lt, rt) {
            (T::Date, t) if t.is_integer() && matches!(op, BinOp::Add | BinOp::Sub) => {
                (lb, rb, T::Date)
            }
            (t, T::Date) if t.is_integer() && op == BinOp::Add => (lb, rb, T::Date),
            (T::Date, T::Date) if op == BinOp::Sub => (lb, rb, T::Int),
            (T::Date, T::Unknown)
                if matches!(op, BinOp::Add | BinOp::Sub) && is_untyped_literal(&rb) =>
            {
                (lb, coerce(rb, rt, T::Int)?, T::Date)
            }
            (T::Unknown, T::Unknown) => (lb, rb, T::Unknown),
            (T::Unknown, t) | (t, T::Unknown) if t.is_numeric() => {
                (coerce(lb, lt, t)?, coerce(rb, rt, t)?, t)
            }
            _ if lt.is_numeric() && rt.is_numeric() => {
                let t = DataType::common(lt, rt).ok_or_else(mismatch)?;
                (lb, rb, t)
            }
            _ => return Err(mismatch()),
        };
        // NULL arithmetic: the result is NULL of the other operand's type.
        Ok((
            Expr::Binary {
                op,
                left: Box::new(lb),
                right: Box::new(rb),
                ty,
            },
            ty,
        ))
    }

    /// Binds an expression in the current scope.
    pub(crate) fn bind(&mut self, e: &ast::Expr) -> Result<(Expr, DataType)> {
        use ast::Expr as A;
        Ok(match e {
            A::Identifier(i) => self.resolve(&[ident(i)])?,
            A::CompoundIdentifier(v) => self.resolve(&v.iter().map(ident).collect::<Vec<_>>())?,
            A::Value(v) => self.literal(&v.value)?,
            A::Nested(x) => self.bind(x)?,
            A::BinaryOp { left, op, right } => {
                use ast::BinaryOperator as O;
                match op {
                    O::Plus => self.arith(BinOp::Add, left, right)?,
                    O::Minus => self.arith(BinOp::Sub, left, right)?,
                    O::Multiply => self.arith(BinOp::Mul, left, right)?,
                    O::Divide => self.arith(BinOp::Div, left, right)?,
                    O::Modulo => self.arith(BinOp::Mod, left, right)?,
                    O::StringConcat => self.arith(BinOp::Concat, left, right)?,
                    O::Eq => self.cmp(BinOp::Eq, left, right)?,
                    O::NotEq => self.cmp(BinOp::NotEq, left, right)?,
                    O::Lt => self.cmp(BinOp::Lt, left, right)?,
                    O::LtEq => self.cmp(BinOp::LtEq, left, right)?,
                    O::Gt => self.cmp(BinOp::Gt, left, right)?,
                    O::GtEq => self.cmp(BinOp::GtEq, left, right)?,
                    O::And | O::Or => {
                        let l = self.bind_bool(left, &op.to_string())?;
                        let r = self.bind_bool(right, &op.to_string())?;
                        let op = if matches!(op, O::And) {
                            BinOp::And
                        } else {
                            BinOp::Or
                        };
                        (
                            Expr::Binary {
                                op,
                                left: Box::new(l),
                                right: Box::new(r),
                                ty: DataType::Bool,
                            },
                            DataType::Bool,
                        )
                    }
                    other => return Err(Error::Unsupported(format!("operator {other}"))),
                }
            }
            A::UnaryOp { op, expr } => match op {
                ast::UnaryOperator::Plus => {
                    let (b, t) = self.bind(expr)?;
                    if !(t.is_numeric() || t == DataType::Unknown) {
                        return Err(Error::TypeMismatch(format!(
                            "operator does not exist: + {t}"
                        )));
                    }
                    (b, t)
                }
                ast::UnaryOperator::Minus => {
                    if let A::Value(v) = &**expr {
                        if let ast::Value::Number(s, _) = &v.value {
                            let (v, t) = number(&format!("-{s}"))?;
                            return Ok((Expr::Literal(v), t));
                        }
                    }
                    let (b, t) = self.bind(expr)?;
                    let t = if t == DataType::Unknown {
                        DataType::Double
                    } else {
                        t
                    };
                    if !t.is_numeric() {
                        return Err(Error::TypeMismatch(format!(
                            "operator does not exist: - {t}"
                        )));
                    }
                    (
                        Expr::Neg(
                            Box::new(
                                coerce(b, DataType::Unknown, t)
                                    .unwrap_or_else(|e| Expr::Literal(Value::Text(e.to_string()))),
                            ),
                            t,
                        ),
                        t,
                    )
                }
                ast::UnaryOperator::Not => (
                    Expr::Not(Box::new(self.bind_bool(expr, "NOT")?)),
                    DataType::Bool,
                ),
                other => return Err(Error::Unsupported(format!("operator {other}"))),
            },
            A::IsNull(x) => (
                Expr::IsNull(Box::new(self.bind(x)?.0), false),
                DataType::Bool,
            ),
            A::IsNotNull(x) => (
                Expr::IsNull(Box::new(self.bind(x)?.0), true),
                DataType::Bool,
            ),
            A::IsTrue(x) => (
                Expr::IsBool(Box::new(self.bind_bool(x, "IS TRUE")?), true, false),
                DataType::Bool,
            ),
            A::IsNotTrue(x) => (
                Expr::IsBool(Box::new(self.bind_bool(x, "IS NOT TRUE")?), true, true),
                DataType::Bool,
            ),
            A::IsFalse(x) => (
                Expr::IsBool(Box::new(self.bind_bool(x, "IS FALSE")?), false, false),
                DataType::Bool,
            ),
            A::IsNotFalse(x) => (
                Expr::IsBool(Box::new(self.bind_bool(x, "IS NOT FALSE")?), false, true),
                DataType::Bool,
            ),
            A::IsUnknown(x) => (
                Expr::IsNull(Box::new(self.bind_bool(x, "IS UNKNOWN")?), false),
                DataType::Bool,
            ),
            A::IsNotUnknown(x) => (
                Expr::IsNull(Box::new(self.bind_bool(x, "IS NOT UNKNOWN")?), true),
                DataType::Bool,
            ),
            A::IsDistinctFrom(l, r) | A::IsNotDistinctFrom(l, r) => {
                let (lb, lt) = self.bind(l)?;
                let (rb, rt) = self.bind(r)?;
                let (lb, rb) = self.coerce_pair(lb, lt, rb, rt, "IS DISTINCT FROM")?;
                (
                    Expr::IsDistinct(
                        Box::new(lb),
                        Box::new(rb),
                        matches!(e, A::IsNotDistinctFrom(..)),
                    ),
                    DataType::Bool,
                )
            }
            A::In {
                expr,
                target,
                negated,
                global: _,
            } => match target {
                ast::InTarget::List(list) => {
                    let (pb, pt) = self.bind(expr)?;
                    let mut items = Vec::with_capacity(list.len());
                    let mut ty = pt;
                    let mut bound = Vec::with_capacity(list.len());
                    for x in list {
                        let (b, t) = self.bind(x)?;
                        ty = DataType::common(ty, t)
                            .or_else(|| (ty == t).then_some(t))
                            .ok_or_else(|| {
                                Error::TypeMismatch(format!(
                                    "IN types {pt} and {t} cannot be matched"
                                ))
                            })?;
                        bound.push((b, t));
                    }
                    for (b, t) in bound {
                        items.push(coerce(b, t, ty)?);
                    }
                    (
                        Expr::InList {
                            expr: Box::new(coerce(pb, pt, ty)?),
                            list: items,
                            negated: *negated,
                        },
                        DataType::Bool,
                    )
                }
                ast::InTarget::Subquery(q) => {
                    let (pb, pt) = self.bind(expr)?;
                    let (sub, st) = self.subplan(q, true)?;
                    if DataType::common(pt, st).is_none() && pt != st {
                        return Err(Error::TypeMismatch(format!(
                            "operator does not exist: {pt} = {st}"
                        )));
                    }
                    (
                        Expr::InSubquery {
                            expr: Box::new(coerce(pb, pt, st)?),
                            sub,
                            negated: *negated,
                        },
                        DataType::Bool,
                    )
                }
                other => return Err(Error::Unsupported(format!("IN {other:?}"))),
            },
            A::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (ge, le) = if *negated {
                    (BinOp::Lt, BinOp::Gt)
                } else {
                    (BinOp::GtEq, BinOp::LtEq)
                };
                let (a, _) = self.cmp(ge, expr, low)?;
                let (b, _) = self.cmp(le, expr, high)?;
                let op = if *negated { BinOp::Or } else { BinOp::And };
                (
                    Expr::Binary {
                        op,
                        left: Box::new(a),
                        right: Box::new(b),
                        ty: DataType::Bool,
                    },
                    DataType::Bool,
                )
            }
            A::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | A::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any {
                    return Err(Error::Unsupported("LIKE ANY".into()));
                }
                let (s, st) = self.bind(expr)?;
                let (p, pt) = self.bind(pattern)?;
                for t in [st, pt] {
                    if !(t.is_text() || t == DataType::Unknown) {
                        return Err(Error::TypeMismatch(format!(
                            "operator does not exist: {t} ~~ text"
                        )));
                    }
                }
                let escape = match escape_char {
                    Some(x) => Some(Box::new(self.bind(x)?.0)),
                    None => None,
                };
                (
                    Expr::Like {
                        expr: Box::new(s),
                        pattern: Box::new(p),
                        escape,
                        negated: *negated,
                        ci: matches!(e, A::ILike { .. }),
                    },
                    DataType::Bool,
                )
            }
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut subject = None;
                let mut subject_ty = DataType::Unknown;
                if let Some(o) = operand {
                    let (b, t) = self.bind(o)?;
                    subject = Some(Box::new(b));
                    subject_ty = t;
                }
                let mut whens = Vec::new();
                let mut results = Vec::new();
                let mut ty = DataType::Unknown;
                for w in conditions {
                    let cond = if subject.is_some() {
                        let (b, t) = self.bind(&w.condition)?;
                        if DataType::common(subject_ty, t).is_none() && subject_ty != t {
                            return Err(Error::TypeMismatch(format!(
                                "CASE types {subject_ty} and {t} cannot be matched"
                            )));
                        }
                        coerce(b, t, subject_ty)?
                    } else {
                        self.bind_bool(&w.condition, "CASE/WHEN")?
                    };
                    let (r, rt) = self.bind(&w.result)?;
                    ty = DataType::common(ty, rt)
                        .or_else(|| (ty == rt).then_some(rt))
                        .ok_or_else(|| {
                            Error::TypeMismatch(format!(
                                "CASE types {ty} and {rt} cannot be matched"
                            ))
                        })?;
                    whens.push(cond);
                    results.push((r, rt));
                }
                let default = match else_result {
                    Some(x) => {
                        let (r, rt) = self.bind(x)?;
                        ty = DataType::common(ty, rt)
                            .or_else(|| (ty == rt).then_some(rt))
                            .ok_or_else(|| {
                                Error::TypeMismatch(format!(
                                    "CASE types {ty} and {rt} cannot be matched"
                                ))
                            })?;
                        Some((r, rt))
                    }
                    None => None,
                };
                let unify = |(r, rt): (Expr, DataType)| -> Result<Expr> {
                    if rt == ty || ty == DataType::Unknown {
                        Ok(r)
                    } else if rt == DataType::Unknown {
                        coerce(r, rt, ty)
                    } else {
                        Ok(Expr::Cast(Box::new(r), ty))
                    }
                };
                let whens = whens
                    .into_iter()
                    .zip(results)
                    .map(|(c, r)| Ok((c, unify(r)?)))
                    .collect::<Result<Vec<_>>>()?;
                let default = default.map(unify).transpose()?.map(Box::new);
                (
                    Expr::Case {
                        operand: subject,
                        whens,
                        default,
                    },
                    ty,
                )
            }
            A::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some()
                    || matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast)
                {
                    return Err(Error::Unsupported("TRY_CAST / CAST ... FORMAT".into()));
                }
                let (ty, serial) = sql_type(data_type)?;
                if serial {
                    return Err(Error::InvalidStatement(
                        "cannot cast to a serial type".into(),
                    ));
                }
                let (b, _) = self.bind(expr)?;
                match b {
                    Expr::Literal(v) => (Expr::Literal(cast(v, ty, CastMode::Explicit)?), ty),
                    other => (Expr::Cast(Box::new(other), ty), ty),
                }
            }
            A::TypedString(ts) => {
                let (ty, _) = sql_type(&ts.data_type)?;
                let s = ts.value.clone().into_string().ok_or_else(|| {
                    Error::InvalidStatement("typed literal must be a string".into())
                })?;
                (
                    Expr::Literal(cast(Value::Text(s), ty, CastMode::Explicit)?),
                    ty,
                )
            }
            A::Exists { subquery, negated } => {
                let (sub, _) = self.subplan(subquery, false)?;
                (Expr::Exists(sub, *negated), DataType::Bool)
            }
            A::Subquery(q) => {
                let (sub, ty) = self.subplan(q, true)?;
                (Expr::Scalar(sub), ty)
            }
            A::Function(f) => self.function(f)?,
            A::Extract { field, expr, .. } => {
                let name = field.to_string().to_lowercase();
                let (b, _) = self.bind(expr)?;
                (
                    Expr::Func(Func::DatePart, vec![Expr::Literal(Value::Text(name)), b]),
                    DataType::Double,
                )
            }
            A::Ceil { expr, field } | A::Floor { expr, field } => {
                let f = if matches!(e, A::Ceil { .. }) {
                    "ceil"
                } else {
                    "floor"
                };
                let mut args = vec![self.bind(expr)?];
                match field {
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime) => {}
                    ast::CeilFloorKind::Scale(v) => args.push(self.literal(&v.value)?),
                    other => return Err(Error::Unsupported(format!("{f} {other:?}"))),
                }
                self.call(f, args)?
            }
            A::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(expr)?];
                args.push(match substring_from {
                    Some(x) => self.bind(x)?,
                    None => (Expr::Literal(Value::Int(1)), DataType::Int),
                });
                if let Some(x) = substring_for {
                    args.push(self.bind(x)?);
                }
                self.call("substr", args)?
            }
            A::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_characters.is_some() {
                    return Err(Error::Unsupported("TRIM with a character list".into()));
                }
                let mut args = vec![self.bind(expr)?];
                if let Some(w) = trim_what {
                    args.push(self.bind(w)?);
                }
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "trim",
                };
                self.call(f, args)?
            }
            A::Position { expr, r#in } => {
                let args = vec![self.bind(r#in)?, self.bind(expr)?];
                self.call("strpos", args)?
            }
            other => return Err(Error::Unsupported(format!("expression {other}"))),
        })
    }

    fn literal(&mut self, v: &ast::Value) -> Result<(Expr, DataType)> {
        use ast::Value as V;
        Ok(match v {
            V::Number(s, _) => {
                let (v, t) = number(s)?;
                (Expr::Literal(v), t)
            }
            V::SingleQuotedString(s)
            | V::EscapedStringLiteral(s)
            | V::DollarQuotedString(ast::DollarQuotedString { value: s, .. })
            | V::NationalStringLiteral(s)
            | V::UnicodeStringLiteral(s) => {
                (Expr::Literal(Value::Text(s.clone())), DataType::Unknown)
            }
            V::HexStringLiteral(h) => {
                let b = cast(
                    Value::Text(format!("\\x{h}")),
                    DataType::Bytea,
                    CastMode::Explicit,
                )?;
                (Expr::Literal(b), DataType::Bytea)
            }
            V::Boolean(b) => (Expr::Literal(Value::Bool(*b)), DataType::Bool),
            V::Null => (Expr::Literal(Value::Null), DataType::Unknown),
            V::Placeholder(p) => {
                let n = if p == "?" {
                    self.anon_params += 1;
                    self.anon_params
                } else {
                    p.trim_start_matches('$')
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| Error::Parameter(format!("bad placeholder {p}")))?
                };
                self.max_param = self.max_param.max(n);
                (Expr::Param(n - 1), DataType::Unknown)
            }
            other => return Err(Error::Unsupported(format!("literal {other}"))),
        })
    }

    fn call(&mut self, name: &str, args: Vec<(Expr, DataType)>) -> Result<(Expr, DataType)> {
        let types: Vec<DataType> = args.iter().map(|a| a.1).collect();
        let (f, ty) = Func::lookup(name, &types)?;
        let args = match f {
            Func::Greatest | Func::Least | Func::Coalesce | Func::NullIf => args
                .into_iter()
                .map(|(b, t)| {
                    if t == DataType::Unknown {
                        coerce(b, t, ty)
                    } else {
                        Ok(b)
                    }
                })
                .collect::<Result<_>>()?,
            _ => args.into_iter().map(|a| a.0).collect(),
        };
        Ok((Expr::Func(f, args), ty))
    }

    fn function(&mut self, f: &ast::Function) -> Result<(Expr, DataType)> {
        let name = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident)
            .unwrap_or_default();
        if f.over.is_some() {
            return Err(Error::Unsupported(format!("window function {name}() OVER")));
        }
        if f.filter.is_some() || !f.within_group.is_empty() || f.null_treatment.is_some() {
            return Err(Error::Unsupported(format!(
                "{name}() with FILTER / WITHIN GROUP"
            )));
        }
        if !matches!(f.parameters, ast::FunctionArguments::None) {
            return Err(Error::Unsupported(format!("parametric function {name}")));
        }
        let (args, distinct): (Vec<&ast::FunctionArgExpr>, bool) = match &f.args {
            ast::FunctionArguments::None => (Vec::new(), false),
            ast::FunctionArguments::Subquery(_) => {
                return Err(Error::Unsupported("function over a subquery".into()))
            }
            ast::FunctionArguments::List(l) => {
                if !l.clauses.is_empty() {
                    return Err(Error::Unsupported(format!("{name}() clauses")));
                }
                let mut v = Vec::new();
                for a in &l.args {
                    match a {
                        ast::FunctionArg::Unnamed(x) => v.push(x),
                        _ => return Err(Error::Unsupported("named function arguments".into())),
                    }
                }
                (
                    v,
                    matches!(
                        l.duplicate_treatment,
                        Some(ast::DuplicateTreatment::Distinct)
                    ),
                )
            }
        };
        if let Some(af) = agg_func(&name) {
            return self.aggregate(&name, af, &args, distinct);
        }
        if distinct {
            return Err(Error::InvalidStatement(format!(
                "DISTINCT specified, but {name} is not an aggregate function"
            )));
        }
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            match a {
                ast::FunctionArgExpr::Expr(x) => bound.push(self.bind(x)?),
                _ => return Err(Error::InvalidStatement(format!("{name}(*) is not valid"))),
            }
        }
        self.call(&name, bound)
    }

    fn aggregate(
        &mut self,
        name: &str,
        af: AggFunc,
        args: &[&ast::FunctionArgExpr],
        distinct: bool,
    ) -> Result<(Expr, DataType)> {
        if self.agg.is_none() {
            return Err(Error::Grouping(format!(
                "aggregate function {name}() is not allowed here"
            )));
        }
        if self.in_agg_arg {
            return Err(Error::Grouping(
                "aggregate function calls cannot be nested".into(),
            ));
        }
        let star = matches!(args, [ast::FunctionArgExpr::Wildcard]);
        if star && af != AggFunc::Count {
            return Err(Error::InvalidStatement(format!("{name}(*) is not valid")));
        }
        let (func, arg, sep, ty) = if star {
            (AggFunc::CountStar, None, None, DataType::BigInt)
        } else {
            let want = if af == AggFunc::StringAgg {
                1..=2
            } else {
                1..=1
            };
            if !want.contains(&args.len()) {
                return Err(Error::UndefinedFunction(format!(
                    "{name} with {} arguments",
                    args.len()
                )));
            }
            self.in_agg_arg = true;
            let mut bound = Vec::new();
            for a in args {
                match a {
                    ast::FunctionArgExpr::Expr(x) => match self.bind(x) {
                        Ok(b) => bound.push(b),
                        Err(e) => {
                            self.in_agg_arg = false;
                            return Err(e);
                        }
                    },
                    _ => {
                        self.in_agg_arg = false;
                        return Err(Error::InvalidStatement(format!("{name}(*) is not valid")));
                    }
                }
            }
            self.in_agg_arg = false;
            let mut it = bound.into_iter();
            let (arg, at) = it
                .next()
                .ok_or_else(|| Error::InvalidStatement("missing argument".into()))?;
            let sep = match (af, it.next()) {
                (AggFunc::StringAgg, Some((s, _))) => Some(s),
                (AggFunc::StringAgg, None) => Some(Expr::Literal(Value::Text(",".into()))),
                _ => None,
            };
            let numeric = |t: DataType| -> Result<DataType> {
                if t.is_numeric() || t == DataType::Unknown {
                    Ok(t)
                } else {
                    Err(Error::UndefinedFunction(format!("{name}({t})")))
                }
            };
            let ty = match af {
                AggFunc::Count | AggFunc::CountStar => DataType::BigInt,
                AggFunc::Sum => match numeric(at)? {
                    t if t.is_integer() => DataType::BigInt,
                    DataType::Unknown => DataType::Double,
                    t => t,
                },
                AggFunc::Avg => match numeric(at)? {
                    t if t.is_float() || t == DataType::Unknown => DataType::Double,
                    _ => DataType::Decimal {
                        precision: 0,
                        scale: 0,
                    },
                },
                AggFunc::Total => {
                    numeric(at)?;
                    DataType::Double
                }
                AggFunc::Min | AggFunc::Max => at,
                AggFunc::StringAgg => DataType::Text,
                AggFunc::BoolAnd | AggFunc::BoolOr => {
                    if at != DataType::Bool && at != DataType::Unknown {
                        return Err(Error::UndefinedFunction(format!("{name}({at})")));
                    }
                    DataType::Bool
                }
            };
            (af, Some(arg), sep, ty)
        };
        let calls = self.agg.get_or_insert_with(Vec::new);
        let call = AggCall {
            func,
            arg,
            sep,
            distinct,
            ty,
        };
        let idx = match calls.iter().position(|c| *c == call) {
            Some(i) => i,
            None => {
                calls.push(call);
                calls.len() - 1
            }
        };
        Ok((Expr::Agg(idx), ty))
    }
}
