//! SELECT, set operations, VALUES, ORDER BY / LIMIT and FOR UPDATE.

use sqlparser::ast;

use super::{ident, Binder, QueryPlan, ScopeCol};
use crate::error::{Error, Result};
use crate::expr::{AggCall, Expr};
use crate::plan::{OutCol, Plan, SetOpKind, SortKey};
use crate::types::DataType;

/// Row locking requested by `SELECT ... FOR UPDATE / FOR SHARE`.
#[derive(Debug)]
pub struct LockSpec {
    /// FOR UPDATE (exclusive) rather than FOR SHARE.
    pub exclusive: bool,
    /// SKIP LOCKED.
    pub skip_locked: bool,
    /// NOWAIT.
    pub nowait: bool,
    /// Stop locking after this many rows (LIMIT + OFFSET, when there is no ORDER BY).
    pub stop_after: Option<(Option<Expr>, Option<Expr>)>,
}

struct Limits {
    limit: Option<Expr>,
    offset: Option<Expr>,
}

impl Binder<'_> {
    fn limits(&mut self, q: &ast::Query) -> Result<Limits> {
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return Err(Error::Unsupported("LIMIT BY".into()));
                }
                (limit.clone(), offset.as_ref().map(|o| o.value.clone()))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit.clone()), Some(offset.clone()))
            }
        };
        let mut bind = |e: Option<ast::Expr>, what: &str| -> Result<Option<Expr>> {
            let Some(e) = e else { return Ok(None) };
            if matches!(e, ast::Expr::Value(ref v) if matches!(v.value, ast::Value::Null)) {
                return Ok(None);
            }
            let (b, t) = self.bind_const(&e)?;
            if !(t.is_integer() || t == DataType::Unknown) {
                return Err(Error::TypeMismatch(format!(
                    "argument of {what} must be an integer"
                )));
            }
            Ok(Some(match b {
                Expr::Literal(v) => Expr::Literal(crate::types::cast(
                    v,
                    DataType::BigInt,
                    crate::types::CastMode::Explicit,
                )?),
                other => Expr::Cast(Box::new(other), DataType::BigInt),
            }))
        };
        Ok(Limits {
            limit: bind(limit, "LIMIT")?,
            offset: bind(offset, "OFFSET")?,
        })
    }

    /// Binds a row-independent expression (LIMIT, DEFAULT, ...): no columns in scope.
    pub(crate) fn bind_const(&mut self, e: &ast::Expr) -> Result<(Expr, DataType)> {
        let (r, _) = self.same_level(|b| {
            let (x, t) = b.bind(e)?;
            if !x.is_row_independent() && !matches!(x, Expr::Func(f, _) if f.is_volatile()) {
                return Err(Error::InvalidStatement(format!(
                    "expression must be constant: {e}"
                )));
            }
            Ok((x, t))
        })?;
        Ok(r)
    }

    pub(super) fn query_body(&mut self, q: &ast::Query) -> Result<QueryPlan> {
        let order: &[ast::OrderByExpr] = match &q.order_by {
            None => &[],
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(e) => e,
                ast::OrderByKind::All(_) => return Err(Error::Unsupported("ORDER BY ALL".into())),
            },
        };
        let limits = self.limits(q)?;
        match &*q.body {
            ast::SetExpr::Select(s) => self.select(s, order, limits, &q.locks),
            other => {
                if !q.locks.is_empty() {
                    return Err(Error::Unsupported("FOR UPDATE on a set operation".into()));
                }
                let (plan, cols) = self.set_expr(other)?;
                // ORDER BY of a set operation sees only its output columns.
                let scope: Vec<ScopeCol> = cols
                    .iter()
                    .map(|c| ScopeCol {
                        qual: None,
                        name: c.name.clone(),
                        ty: c.ty,
                        hidden: false,
                    })
                    .collect();
                let (keys, _) = self.same_level(|b| {
                    b.set_scope(scope);
                    order
                        .iter()
                        .map(|o| {
                            let expr = match ordinal(&o.expr, cols.len())? {
                                Some(i) => Expr::Column(i),
                                None => b.bind(&o.expr)?.0,
                            };
                            Ok(sort_key(expr, o))
                        })
                        .collect::<Result<Vec<_>>>()
                })?;
                let plan = finish(plan, keys, limits);
                Ok(QueryPlan {
                    plan,
                    cols,
                    lock: None,
                })
            }
        }
    }

    fn set_expr(&mut self, e: &ast::SetExpr) -> Result<(Plan, Vec<OutCol>)> {
        match e {
            ast::SetExpr::Select(s) => {
                let (qp, _) = self.same_level(|b| {
                    b.select(
                        s,
                        &[],
                        Limits {
                            limit: None,
                            offset: None,
                        },
                        &[],
                    )
                })?;
                Ok((qp.plan, qp.cols))
            }
            ast::SetExpr::Query(q) => {
                let (qp, _) = self.same_level(|b| b.query(q))?;
                if qp.lock.is_some() {
                    return Err(Error::Unsupported("FOR UPDATE in a subquery".into()));
                }
                Ok((qp.plan, qp.cols))
            }
            ast::SetExpr::Values(v) => self.values(v),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let kind = match op {
                    ast::SetOperator::Union => SetOpKind::Union,
                    ast::SetOperator::Intersect => SetOpKind::Intersect,
                    ast::SetOperator::Except | ast::SetOperator::Minus => SetOpKind::Except,
                };
                let all = match set_quantifier {
                    ast::SetQuantifier::All => true,
                    ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
                    other => return Err(Error::Unsupported(format!("set quantifier {other}"))),
                };
                let (lp, lc) = self.set_expr(left)?;
                let (rp, rc) = self.set_expr(right)?;
                if lc.len() != rc.len() {
                    return Err(Error::InvalidStatement(format!(
                        "each {op} query must have the same number of columns"
                    )));
                }
                let mut cols = lc.clone();
                let mut need_cast = false;
                for (i, (l, r)) in lc.iter().zip(&rc).enumerate() {
                    let t = DataType::common(l.ty, r.ty).ok_or_else(|| {
                        Error::TypeMismatch(format!(
                            "{op} types {} and {} cannot be matched",
                            l.ty, r.ty
                        ))
                    })?;
                    cols[i].ty = if t == DataType::Unknown {
                        DataType::Text
                    } else {
                        t
                    };
                    need_cast |= l.ty != cols[i].ty || r.ty != cols[i].ty;
                }
                let (lp, rp) = if need_cast {
                    (cast_project(lp, &lc, &cols), cast_project(rp, &rc, &cols))
                } else {
                    (lp, rp)
                };
                Ok((
                    Plan::SetOp {
                        op: kind,
                        all,
                        left: Box::new(lp),
                        right: Box::new(rp),
                    },
                    cols,
                ))
            }
            other => Err(Error::Unsupported(format!("query body {other}"))),
        }
    }

    pub(crate) fn values(&mut self, v: &ast::Values) -> Result<(Plan, Vec<OutCol>)> {
        let width = v.rows.first().map_or(0, |r| r.content.len());
        let mut types = vec![DataType::Unknown; width];
        let mut rows = Vec::with_capacity(v.rows.len());
        for r in &v.rows {
            if r.content.len() != width {
                return Err(Error::InvalidStatement(
                    "VALUES lists must all be the same length".into(),
                ));
            }
            let mut row = Vec::with_capacity(width);
            for (i, e) in r.content.iter().enumerate() {
                let (b, t) = self.bind(e)?;
                types[i] = DataType::common(types[i], t).ok_or_else(|| {
                    Error::TypeMismatch(format!(
                        "VALUES types {} and {t} cannot be matched",
                        types[i]
                    ))
                })?;
                row.push((b, t));
            }
            rows.push(row);
        }
        let rows = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&types)
                    .map(|((b, t), &want)| {
                        if t == want || want == DataType::Unknown {
                            b
                        } else {
                            Expr::Cast(Box::new(b), want)
                        }
                    })
                    .collect()
            })
            .collect();
        let cols = types
            .iter()
            .enumerate()
            .map(|(i, &t)| OutCol {
                name: format!("column{}", i + 1),
                ty: if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                },
            })
            .collect();
        Ok((Plan::Values { rows, width }, cols))
    }

    fn select(
        &mut self,
        s: &ast::Select,
        order: &[ast::OrderByExpr],
        limits: Limits,
        locks: &[ast::LockClause],
    ) -> Result<QueryPlan> {
        if s.top.is_some()
            || s.into.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.connect_by.is_empty()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || s.qualify.is_some()
            || !s.named_window.is_empty()
            || s.exclude.is_some()
        {
            return Err(Error::Unsupported("this SELECT clause".into()));
        }
        let (mut plan, width) = self.plan_from(&s.from, s.selection.as_ref())?;

        // Select list (aggregates collected).
        self.agg = Some(Vec::new());
        let mut items: Vec<(Expr, OutCol)> = Vec::new();
        for item in &s.projection {
            match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let (b, t) = self.bind(e)?;
                    items.push((
                        b,
                        OutCol {
                            name: output_name(e),
                            ty: t,
                        },
                    ));
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    let (b, t) = self.bind(expr)?;
                    items.push((
                        b,
                        OutCol {
                            name: ident(alias),
                            ty: t,
                        },
                    ));
                }
                ast::SelectItem::Wildcard(opts) => {
                    check_wildcard_opts(opts)?;
                    let cols: Vec<(usize, ScopeCol)> = self
                        .scope()
                        .iter()
                        .cloned()
                        .enumerate()
                        .filter(|(_, c)| !c.hidden)
                        .collect();
                    if cols.is_empty() && s.from.is_empty() {
                        return Err(Error::InvalidStatement(
                            "SELECT * with no tables specified".into(),
                        ));
                    }
                    for (i, c) in cols {
                        items.push((
                            Expr::Column(i),
                            OutCol {
                                name: c.name,
                                ty: c.ty,
                            },
                        ));
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, opts) => {
                    check_wildcard_opts(opts)?;
                    let q = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            super::object_name(n)?
                        }
                        _ => return Err(Error::Unsupported("expression wildcard".into())),
                    };
                    let cols: Vec<(usize, ScopeCol)> = self
                        .scope()
                        .iter()
                        .cloned()
                        .enumerate()
                        .filter(|(_, c)| c.qual.as_deref() == Some(q.as_str()))
                        .collect();
                    if cols.is_empty() {
                        return Err(Error::UndefinedTable(q));
                    }
                    for (i, c) in cols {
                        items.push((
                            Expr::Column(i),
                            OutCol {
                                name: c.name,
                                ty: c.ty,
                            },
                        ));
                    }
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    return Err(Error::Unsupported("multiple aliases".into()))
                }
            }
        }

        // GROUP BY: ordinals and output aliases allowed.
        let mut group: Vec<Expr> = Vec::new();
        match &s.group_by {
            ast::GroupByExpr::All(_) => return Err(Error::Unsupported("GROUP BY ALL".into())),
            ast::GroupByExpr::Expressions(exprs, mods) => {
                if !mods.is_empty() {
                    return Err(Error::Unsupported("GROUP BY modifiers".into()));
                }
                for e in exprs {
                    let saved = self.agg.take();
                    let bound = match ordinal(e, items.len())? {
                        Some(i) => Ok(items[i].0.copy_checked()?),
                        None => match self.bind(e) {
                            Err(Error::UndefinedColumn(n)) => {
                                match items.iter().position(|(_, c)| c.name == n) {
                                    Some(i) => Ok(items[i].0.copy_checked()?),
                                    None => Err(Error::UndefinedColumn(n)),
                                }
                            }
                            other => other.map(|x| x.0),
                        },
                    };
                    self.agg = saved;
                    let bound = bound?;
                    let mut has_agg = false;
                    bound.walk(&mut |x| has_agg |= matches!(x, Expr::Agg(_)));
                    if has_agg {
                        return Err(Error::Grouping(
                            "aggregate functions are not allowed in GROUP BY".into(),
                        ));
                    }
                    group.push(bound);
                }
            }
        }
        let having = match &s.having {
            Some(h) => Some(self.bind_bool(h, "HAVING")?),
            None => None,
        };

        // ORDER BY: output ordinal, output name, or an expression (maybe hidden).
        enum Key {
            Out(usize),
            Expr(Expr),
        }
        let mut order_keys = Vec::new();
        for o in order {
            let k = if let Some(i) = ordinal(&o.expr, items.len())? {
                Key::Out(i)
            } else if let Some(i) = output_ref(&o.expr, &items) {
                Key::Out(i)
            } else {
                Key::Expr(self.bind(&o.expr)?.0)
            };
            order_keys.push((k, o));
        }
        let aggs: Vec<AggCall> = self.agg.take().unwrap_or_default();

        let aggregated = !aggs.is_empty() || !group.is_empty() || having.is_some();
        let mut having = having;
        if aggregated {
            let g = group.len();
            let rewrite = |e: Expr| post_agg(e, &group, width, g);
            items = items
                .into_iter()
                .map(|(e, c)| Ok((rewrite(e)?, c)))
                .collect::<Result<_>>()?;
            having = having.map(rewrite).transpose()?;
            order_keys = order_keys
                .into_iter()
                .map(|(k, o)| {
                    Ok((
                        match k {
                            Key::Expr(e) => Key::Expr(rewrite(e)?),
                            k => k,
                        },
                        o,
                    ))
                })
                .collect::<Result<_>>()?;
            plan = Plan::Aggregate {
                input: Box::new(plan),
                input_width: width,
                group,
                aggs,
            };
            if let Some(h) = having {
                plan = Plan::Filter {
                    input: Box::new(plan),
                    pred: h,
                };
            }
        }

        // Projection with hidden sort columns.
        let visible = items.len();
        let mut exprs: Vec<Expr> = Vec::with_capacity(visible);
        let mut cols = Vec::with_capacity(visible);
        for (e, c) in items {
            exprs.push(e);
            cols.push(c);
        }
        let mut keys = Vec::new();
        for (k, o) in order_keys {
            let col = match k {
                Key::Out(i) => i,
                Key::Expr(e) => match exprs.iter().position(|x| *x == e) {
                    Some(i) => i,
                    None => {
                        exprs.push(e);
                        exprs.len() - 1
                    }
                },
            };
            keys.push(sort_key(Expr::Column(col), o));
        }
        let hidden = exprs.len() > visible;
        let identity = exprs.len() == plan.width()
            && exprs.iter().enumerate().all(|(i, e)| *e == Expr::Column(i));
        if !identity {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs,
            };
        }
        match &s.distinct {
            None | Some(ast::Distinct::All) => {}
            Some(ast::Distinct::Distinct) => {
                if hidden {
                    return Err(Error::InvalidStatement(
                        "for SELECT DISTINCT, ORDER BY expressions must appear in select list"
                            .into(),
                    ));
                }
                plan = Plan::Distinct {
                    input: Box::new(plan),
                };
            }
            Some(ast::Distinct::On(_)) => return Err(Error::Unsupported("DISTINCT ON".into())),
        }
        let lock = if locks.is_empty() {
            None
        } else {
            let in_order = scan_order_matches(&plan, &keys);
            Some(self.lock_spec(
                &mut plan,
                locks,
                in_order,
                &limits,
                aggregated || s.distinct.is_some(),
            )?)
        };
        let mut plan = finish(plan, keys, limits);
        if hidden {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs: (0..visible).map(Expr::Column).collect(),
            };
        }
        Ok(QueryPlan { plan, cols, lock })
    }

    fn lock_spec(
        &mut self,
        plan: &mut Plan,
        locks: &[ast::LockClause],
        unordered: bool,
        limits: &Limits,
        grouped: bool,
    ) -> Result<LockSpec> {
        if locks.len() > 1 || locks[0].of.is_some() {
            return Err(Error::Unsupported(
                "FOR UPDATE OF / several locking clauses".into(),
            ));
        }
        if grouped {
            return Err(Error::Unsupported(
                "FOR UPDATE is not allowed with GROUP BY, aggregates or DISTINCT".into(),
            ));
        }
        let l = &locks[0];
        // Only a single-table SELECT can lock its rows: find its one scan.
        fn find_scan(p: &mut Plan) -> Option<&mut bool> {
            match p {
                Plan::Scan { locked, .. } => Some(locked),
                Plan::Filter { input, .. } | Plan::Project { input, .. } => find_scan(input),
                _ => None,
            }
        }
        let flag = find_scan(plan).ok_or_else(|| {
            Error::Unsupported("FOR UPDATE on a query that is not a single-table SELECT".into())
        })?;
        *flag = true;
        let copy = |e: &Option<Expr>| e.as_ref().map(Expr::copy);
        Ok(LockSpec {
            exclusive: matches!(l.lock_type, ast::LockType::Update),
            skip_locked: matches!(l.nonblock, Some(ast::NonBlock::SkipLocked)),
            nowait: matches!(l.nonblock, Some(ast::NonBlock::Nowait)),
            stop_after: (unordered && limits.limit.is_some())
                .then(|| (copy(&limits.limit), copy(&limits.offset))),
        })
    }
}

/// True when reading the (single) table in key order yields rows in ORDER BY order, so
/// FOR UPDATE ... LIMIT can stop locking early.
fn scan_order_matches(plan: &Plan, keys: &[SortKey]) -> bool {
    if keys.is_empty() {
        return true;
    }
    let (mut p, exprs): (&Plan, Option<&[Expr]>) = match plan {
        Plan::Project { input, exprs } => (input, Some(exprs)),
        other => (other, None),
    };
    while let Plan::Filter { input, .. } = p {
        p = input;
    }
    let Plan::Scan { table, access, .. } = p else {
        return false;
    };
    if access.index.is_some() || keys.len() > table.pk.len() {
        return false;
    }
    keys.iter().zip(&table.pk).all(|(k, &pk)| {
        !k.desc
            && matches!(&k.expr, Expr::Column(c)
                if exprs.map_or(*c == pk, |e| e.get(*c) == Some(&Expr::Column(pk))))
    })
}

fn check_wildcard_opts(o: &ast::WildcardAdditionalOptions) -> Result<()> {
    if o.opt_ilike.is_some()
        || o.opt_exclude.is_some()
        || o.opt_except.is_some()
        || o.opt_replace.is_some()
        || o.opt_rename.is_some()
    {
        return Err(Error::Unsupported("wildcard options".into()));
    }
    Ok(())
}

impl Expr {
    /// A copy of a subquery-free expression; errors for expressions holding subqueries.
    pub(crate) fn copy_checked(&self) -> Result<Expr> {
        if self.has_subquery() {
            return Err(Error::Unsupported(
                "GROUP BY a select-list entry holding a subquery".into(),
            ));
        }
        Ok(self.copy())
    }
}

fn sort_key(expr: Expr, o: &ast::OrderByExpr) -> SortKey {
    let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
    // PostgreSQL: NULLs sort as larger than any value unless told otherwise.
    let nulls_first = o.options.nulls_first.unwrap_or(desc);
    SortKey {
        expr,
        desc,
        nulls_first,
    }
}

fn finish(plan: Plan, keys: Vec<SortKey>, limits: Limits) -> Plan {
    let mut plan = plan;
    if !keys.is_empty() {
        let (limit, offset) = (
            limits.limit.as_ref().map(Expr::copy),
            limits.offset.as_ref().map(Expr::copy),
        );
        plan = Plan::Sort {
            input: Box::new(plan),
            keys,
            limit,
            offset,
        };
    }
    if limits.limit.is_some() || limits.offset.is_some() {
        plan = Plan::Limit {
            input: Box::new(plan),
            limit: limits.limit,
            offset: limits.offset,
        };
    }
    plan
}

fn cast_project(p: Plan, have: &[OutCol], want: &[OutCol]) -> Plan {
    let exprs = have
        .iter()
        .zip(want)
        .enumerate()
        .map(|(i, (h, w))| {
            if h.ty == w.ty {
                Expr::Column(i)
            } else {
                Expr::Cast(Box::new(Expr::Column(i)), w.ty)
            }
        })
        .collect();
    Plan::Project {
        input: Box::new(p),
        exprs,
    }
}

/// `ORDER BY 2` / `GROUP BY 1`: a positive integer literal names an output column.
fn ordinal(e: &ast::Expr, n: usize) -> Result<Option<usize>> {
    if let ast::Expr::Value(v) = e {
        if let ast::Value::Number(s, _) = &v.value {
            let k: usize = s
                .parse()
                .map_err(|_| Error::InvalidStatement(format!("non-integer position {s}")))?;
            if k == 0 || k > n {
                return Err(Error::InvalidStatement(format!(
                    "position {k} is not in select list"
                )));
            }
            return Ok(Some(k - 1));
        }
    }
    Ok(None)
}

fn output_ref(e: &ast::Expr, items: &[(Expr, OutCol)]) -> Option<usize> {
    let ast::Expr::Identifier(i) = e else {
        return None;
    };
    let name = ident(i);
    let mut hits = items
        .iter()
        .enumerate()
        .filter(|(_, (_, c))| c.name == name);
    let first = hits.next()?.0;
    // An ambiguous output name falls back to input-column resolution.
    if hits.next().is_some() {
        return None;
    }
    Some(first)
}

/// The name PostgreSQL gives an unaliased select-list entry.
pub(crate) fn output_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(i) => ident(i),
        ast::Expr::CompoundIdentifier(v) => v.last().map(ident).unwrap_or_default(),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident)
            .unwrap_or_default(),
        ast::Expr::Cast { expr, .. } | ast::Expr::Nested(expr) => {
            match output_name(expr).as_str() {
                "?column?" => match e {
                    ast::Expr::Cast { data_type, .. } => data_type.to_string().to_lowercase(),
                    _ => "?column?".into(),
                },
                n => n.to_string(),
            }
        }
        ast::Expr::Case { .. } => "case".into(),
        ast::Expr::Exists { .. } => "exists".into(),
        ast::Expr::Extract { .. } => "extract".into(),
        ast::Expr::Substring { .. } => "substring".into(),
        ast::Expr::Ceil { .. } => "ceil".into(),
        ast::Expr::Floor { .. } => "floor".into(),
        ast::Expr::Trim { .. } => "btrim".into(),
        ast::Expr::Position { .. } => "position".into(),
        ast::Expr::Value(v) if matches!(v.value, ast::Value::Boolean(_)) => "bool".into(),
        _ => "?column?".into(),
    }
}

/// Rewrites an expression bound against the FROM layout to read the aggregate's output:
/// group expressions and aggregates become columns; bare columns must be grouped.
fn post_agg(e: Expr, group: &[Expr], width: usize, g: usize) -> Result<Expr> {
    if let Some(k) = group.iter().position(|x| *x == e) {
        return Ok(Expr::Column(width + k));
    }
    let r = |e: Box<Expr>| -> Result<Box<Expr>> { Ok(Box::new(post_agg(*e, group, width, g)?)) };
    Ok(match e {
        Expr::Agg(j) => Expr::Column(width + g + j),
        Expr::Column(_) => {
            return Err(Error::Grouping(
                "column must appear in the GROUP BY clause or be used in an aggregate function"
                    .into(),
            ))
        }
        Expr::Binary {
            op,
            left,
            right,
            ty,
        } => Expr::Binary {
            op,
            left: r(left)?,
            right: r(right)?,
            ty,
        },
        Expr::Neg(x, t) => Expr::Neg(r(x)?, t),
        Expr::Not(x) => Expr::Not(r(x)?),
        Expr::IsNull(x, n) => Expr::IsNull(r(x)?, n),
        Expr::IsBool(x, v, n) => Expr::IsBool(r(x)?, v, n),
        Expr::IsDistinct(a, b, n) => Expr::IsDistinct(r(a)?, r(b)?, n),
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: r(expr)?,
            list: list
                .into_iter()
                .map(|x| post_agg(x, group, width, g))
                .collect::<Result<_>>()?,
            negated,
        },
        Expr::InSubquery { expr, sub, negated } => Expr::InSubquery {
            expr: r(expr)?,
            sub,
            negated,
        },
        Expr::Like {
            expr,
            pattern,
            escape,
            negated,
            ci,
        } => Expr::Like {
            expr: r(expr)?,
            pattern: r(pattern)?,
            escape: escape.map(r).transpose()?,
            negated,
            ci,
        },
        Expr::Case {
            operand,
            whens,
            default,
        } => Expr::Case {
            operand: operand.map(r).transpose()?,
            whens: whens
                .into_iter()
                .map(|(w, t)| Ok((post_agg(w, group, width, g)?, post_agg(t, group, width, g)?)))
                .collect::<Result<_>>()?,
            default: default.map(r).transpose()?,
        },
        Expr::Cast(x, t) => Expr::Cast(r(x)?, t),
        Expr::Func(f, args) => Expr::Func(
            f,
            args.into_iter()
                .map(|x| post_agg(x, group, width, g))
                .collect::<Result<_>>()?,
        ),
        other @ (Expr::Literal(_)
        | Expr::Outer { .. }
        | Expr::Param(_)
        | Expr::Exists(..)
        | Expr::Scalar(_)) => other,
    })
}
