//! FROM clauses: relations, join trees, predicate pushdown, join ordering and access paths.

use std::sync::Arc;

use sqlparser::ast;

use super::{ident, object_name, rename_cols, Binder, ScopeCol};
use crate::access::{choose_access, classify};
use crate::catalog::TableDef;
use crate::error::{Error, Result};
use crate::expr::{BinOp, Expr};
use crate::plan::{JoinKind, OutCol, Plan};
use crate::types::DataType;

enum RelKind {
    Base(Arc<TableDef>),
    Plan(Box<Plan>),
}

struct Rel {
    kind: Option<RelKind>,
    start: usize,
    width: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Jk {
    Inner,
    Left,
    Right,
    Full,
}

enum Node<'q> {
    Rel(usize),
    Join {
        left: Box<Node<'q>>,
        right: Box<Node<'q>>,
        kind: Jk,
        on: Option<&'q ast::Expr>,
        using: Vec<String>,
        natural: bool,
        conds: Vec<Expr>,
    },
}

impl Node<'_> {
    fn range(&self, rels: &[Rel]) -> (usize, usize) {
        match self {
            Node::Rel(i) => (rels[*i].start, rels[*i].start + rels[*i].width),
            Node::Join { left, right, .. } => (left.range(rels).0, right.range(rels).1),
        }
    }
}

struct Unit {
    start: usize,
    end: usize,
    base: Option<Arc<TableDef>>,
    plan: Option<Plan>,
    filters: Vec<Expr>,
}

fn and_all(mut v: Vec<Expr>) -> Option<Expr> {
    let first = if v.is_empty() {
        return None;
    } else {
        v.remove(0)
    };
    Some(v.into_iter().fold(first, |acc, e| Expr::Binary {
        op: BinOp::And,
        left: Box::new(acc),
        right: Box::new(e),
        ty: DataType::Bool,
    }))
}

/// Splits an AND tree into its conjuncts.
pub fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Binary {
            op: BinOp::And,
            left,
            right,
            ..
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        other => out.push(other),
    }
}

/// Builds a scan of `table` whose filter is `filters` (over the table's own columns).
pub fn scan(table: Arc<TableDef>, filters: Vec<Expr>) -> Plan {
    let preds: Vec<_> = filters.iter().filter_map(classify).collect();
    let access = choose_access(&table, &preds);
    Plan::Scan {
        table,
        access,
        filter: and_all(filters),
        locked: false,
    }
}

impl<'c> Binder<'c> {
    fn relation<'q>(
        &mut self,
        tf: &'q ast::TableFactor,
        rels: &mut Vec<Rel>,
        scope: &mut Vec<ScopeCol>,
    ) -> Result<Node<'q>> {
        let (kind, alias, cols): (RelKind, String, Vec<OutCol>) = match tf {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                partitions,
                sample,
                index_directives,
                ..
            } => {
                if args.is_some()
                    || !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || sample.is_some()
                    || !index_directives.is_empty()
                {
                    return Err(Error::Unsupported(format!("table modifiers on {name}")));
                }
                let n = object_name(name)?;
                let (kind, mut cols) =
                    if let Some(cte) = self.ctes.iter().rev().find(|c| c.name == n) {
                        let plan = Plan::Cte {
                            name: n.clone(),
                            id: cte.id,
                            plan: Arc::clone(&cte.plan),
                            correlated: cte.correlated,
                        };
                        (RelKind::Plan(Box::new(plan)), cte.cols.clone())
                    } else if let Some(t) = self.catalog.tables.get(&n) {
                        let cols = t
                            .columns
                            .iter()
                            .map(|c| OutCol {
                                name: c.name.clone(),
                                ty: c.ty,
                            })
                            .collect();
                        (RelKind::Base(Arc::clone(t)), cols)
                    } else if let Some(v) = self.catalog.views.get(&n).cloned() {
                        if self.view_depth > 32 {
                            return Err(Error::InvalidStatement(format!(
                                "view {n} refers to itself"
                            )));
                        }
                        let q = crate::parse::parse_query(&v.sql)?;
                        self.view_depth += 1;
                        let r = self.same_level(|b| b.query(&q));
                        self.view_depth -= 1;
                        let (qp, _) = r?;
                        let mut cols = qp.cols;
                        for (c, name) in cols.iter_mut().zip(&v.columns) {
                            c.name = name.clone();
                        }
                        (RelKind::Plan(Box::new(qp.plan)), cols)
                    } else {
                        return Err(Error::UndefinedTable(n));
                    };
                let a = match alias {
                    Some(a) => {
                        rename_cols(&mut cols, &a.columns, &n)?;
                        ident(&a.name)
                    }
                    None => n,
                };
                (kind, a, cols)
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                sample,
            } => {
                if *lateral || sample.is_some() {
                    return Err(Error::Unsupported("LATERAL / TABLESAMPLE".into()));
                }
                let (qp, _) = self.same_level(|b| b.query(subquery))?;
                if qp.lock.is_some() {
                    return Err(Error::Unsupported("FOR UPDATE in a subquery".into()));
                }
                let mut cols = qp.cols;
                let name = match alias {
                    Some(a) => {
                        rename_cols(&mut cols, &a.columns, "subquery")?;
                        ident(&a.name)
                    }
                    None => String::new(),
                };
                (RelKind::Plan(Box::new(qp.plan)), name, cols)
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(Error::Unsupported("alias on a parenthesized join".into()));
                }
                return self.join_tree(table_with_joins, rels, scope);
            }
            other => return Err(Error::Unsupported(format!("FROM item {other}"))),
        };
        let start = scope.len();
        for c in &cols {
            scope.push(ScopeCol {
                qual: (!alias.is_empty()).then(|| alias.clone()),
                name: c.name.clone(),
                ty: c.ty,
                hidden: false,
            });
        }
        rels.push(Rel {
            kind: Some(kind),
            start,
            width: cols.len(),
        });
        Ok(Node::Rel(rels.len() - 1))
    }

    fn join_tree<'q>(
        &mut self,
        twj: &'q ast::TableWithJoins,
        rels: &mut Vec<Rel>,
        scope: &mut Vec<ScopeCol>,
    ) -> Result<Node<'q>> {
        let mut node = self.relation(&twj.relation, rels, scope)?;
        for j in &twj.joins {
            let right = self.relation(&j.relation, rels, scope)?;
            use ast::JoinOperator as J;
            let (kind, c) = match &j.join_operator {
                J::Join(c) | J::Inner(c) => (Jk::Inner, Some(c)),
                J::Left(c) | J::LeftOuter(c) => (Jk::Left, Some(c)),
                J::Right(c) | J::RightOuter(c) => (Jk::Right, Some(c)),
                J::FullOuter(c) => (Jk::Full, Some(c)),
                J::CrossJoin(c) => (Jk::Inner, Some(c)),
                other => return Err(Error::Unsupported(format!("join {other:?}"))),
            };
            let (mut on, mut using, mut natural) = (None, Vec::new(), false);
            match c {
                Some(ast::JoinConstraint::On(e)) => on = Some(e),
                Some(ast::JoinConstraint::Using(cols)) => {
                    using = cols.iter().map(object_name).collect::<Result<_>>()?;
                }
                Some(ast::JoinConstraint::Natural) => natural = true,
                Some(ast::JoinConstraint::None) | None => {
                    if kind != Jk::Inner {
                        return Err(Error::InvalidStatement(
                            "outer join needs a join condition".into(),
                        ));
                    }
                }
                Some(other) => {
                    return Err(Error::Unsupported(format!("join constraint {other:?}")))
                }
            }
            node = Node::Join {
                left: Box::new(node),
                right: Box::new(right),
                kind,
                on,
                using,
                natural,
                conds: Vec::new(),
            };
        }
        Ok(node)
    }

    /// Binds the ON / USING conditions of a join tree (scope already set).
    fn bind_conditions(&mut self, node: &mut Node<'_>, rels: &[Rel]) -> Result<()> {
        let Node::Join {
            left,
            right,
            on,
            using,
            natural,
            conds,
            ..
        } = node
        else {
            return Ok(());
        };
        self.bind_conditions(left, rels)?;
        self.bind_conditions(right, rels)?;
        let (ls, le) = left.range(rels);
        let (rs, re) = right.range(rels);
        let mut names = using.clone();
        if *natural {
            let scope = self.scope();
            for c in &scope[ls..le] {
                if !c.hidden
                    && scope[rs..re].iter().any(|r| !r.hidden && r.name == c.name)
                    && !names.contains(&c.name)
                {
                    names.push(c.name.clone());
                }
            }
        }
        for n in &names {
            let find = |s: usize, e: usize, sc: &[ScopeCol]| -> Result<usize> {
                let hits: Vec<usize> = (s..e)
                    .filter(|&i| !sc[i].hidden && sc[i].name == *n)
                    .collect();
                match hits.as_slice() {
                    [one] => Ok(*one),
                    [] => Err(Error::UndefinedColumn(n.clone())),
                    _ => Err(Error::AmbiguousColumn(n.clone())),
                }
            };
            let l = find(ls, le, self.scope())?;
            let r = find(rs, re, self.scope())?;
            let (lt, rt) = (self.scope()[l].ty, self.scope()[r].ty);
            let (le_, re_) = self.coerce_pair(Expr::Column(l), lt, Expr::Column(r), rt, "=")?;
            conds.push(Expr::Binary {
                op: BinOp::Eq,
                left: Box::new(le_),
                right: Box::new(re_),
                ty: DataType::Bool,
            });
            if let Some(l) = self.levels.last_mut() {
                l.scope[r].hidden = true;
            }
        }
        if let Some(e) = on {
            let b = self.bind_bool(e, "JOIN/ON")?;
            conjuncts(b, conds);
        }
        Ok(())
    }

    /// Plans a FROM clause plus WHERE. Sets the level's scope to the FROM columns and returns
    /// the plan (canonical layout) and its width.
    pub(super) fn plan_from(
        &mut self,
        from: &[ast::TableWithJoins],
        where_: Option<&ast::Expr>,
    ) -> Result<(Plan, usize)> {
        let mut rels = Vec::new();
        let mut scope = Vec::new();
        let mut nodes = Vec::new();
        for twj in from {
            nodes.push(self.join_tree(twj, &mut rels, &mut scope)?);
        }
        let width = scope.len();
        self.set_scope(scope);
        for n in &mut nodes {
            self.bind_conditions(n, &rels)?;
        }
        let mut conds = Vec::new();
        if let Some(w) = where_ {
            let saved = self.agg.take();
            let b = self.bind_bool(w, "WHERE");
            self.agg = saved;
            conjuncts(b?, &mut conds);
        }
        if nodes.is_empty() {
            let mut plan = Plan::Values {
                rows: vec![vec![]],
                width: 0,
            };
            if let Some(p) = and_all(conds) {
                plan = Plan::Filter {
                    input: Box::new(plan),
                    pred: p,
                };
            }
            return Ok((plan, 0));
        }
        let mut units = Vec::new();
        for n in nodes {
            self.collect(n, &mut rels, &mut units, &mut conds)?;
        }
        Ok((self.group(units, conds, true)?, width))
    }

    fn collect(
        &mut self,
        node: Node<'_>,
        rels: &mut [Rel],
        units: &mut Vec<Unit>,
        conds: &mut Vec<Expr>,
    ) -> Result<()> {
        match node {
            Node::Rel(i) => {
                let r = &mut rels[i];
                let (base, plan) = match r.kind.take() {
                    Some(RelKind::Base(t)) => (Some(t), None),
                    Some(RelKind::Plan(p)) => (None, Some(*p)),
                    None => return Err(Error::InvalidStatement("relation used twice".into())),
                };
                units.push(Unit {
                    start: r.start,
                    end: r.start + r.width,
                    base,
                    plan,
                    filters: Vec::new(),
                });
            }
            Node::Join {
                left,
                right,
                kind: Jk::Inner,
                conds: c,
                ..
            } => {
                self.collect(*left, rels, units, conds)?;
                self.collect(*right, rels, units, conds)?;
                conds.extend(c);
            }
            Node::Join {
                left,
                right,
                kind,
                conds: c,
                ..
            } => {
                let (ls, le) = left.range(rels);
                let (rs, re) = right.range(rels);
                let lp = self.build_node(*left, rels)?;
                let rp = self.build_node(*right, rels)?;
                if c.iter().any(Expr::has_subquery) {
                    return Err(Error::Unsupported(
                        "subquery in an outer join's ON condition".into(),
                    ));
                }
                let (lw, rw) = (le - ls, re - rs);
                let plan = match kind {
                    Jk::Right => {
                        // b RIGHT JOIN a == a LEFT JOIN b, then put the columns back.
                        let map = |i: usize| if i >= rs { i - rs } else { i - ls + rw };
                        let (keys, on) = split_keys(c, &map, |i| i >= rs, rw);
                        let j = Plan::Join {
                            left: Box::new(rp),
                            right: Box::new(lp),
                            kind: JoinKind::Left,
                            keys,
                            on,
                            right_width: lw,
                            left_width: rw,
                        };
                        let exprs = (0..lw)
                            .map(|i| Expr::Column(rw + i))
                            .chain((0..rw).map(Expr::Column))
                            .collect();
                        Plan::Project {
                            input: Box::new(j),
                            exprs,
                        }
                    }
                    _ => {
                        let map = |i: usize| i - ls;
                        let (keys, on) = split_keys(c, &map, |i| i < rs, lw);
                        let jk = if kind == Jk::Full {
                            JoinKind::Full
                        } else {
                            JoinKind::Left
                        };
                        Plan::Join {
                            left: Box::new(lp),
                            right: Box::new(rp),
                            kind: jk,
                            keys,
                            on,
                            right_width: rw,
                            left_width: lw,
                        }
                    }
                };
                units.push(Unit {
                    start: ls,
                    end: re,
                    base: None,
                    plan: Some(plan),
                    filters: Vec::new(),
                });
            }
        }
        Ok(())
    }

    fn build_node(&mut self, node: Node<'_>, rels: &mut [Rel]) -> Result<Plan> {
        let mut units = Vec::new();
        let mut conds = Vec::new();
        self.collect(node, rels, &mut units, &mut conds)?;
        self.group(units, conds, false)
    }

    /// Joins a group of units connected by inner joins under `conds` (global positions).
    fn group(&mut self, mut units: Vec<Unit>, conds: Vec<Expr>, top: bool) -> Result<Plan> {
        units.sort_by_key(|u| u.start);
        let gstart = units.first().map_or(0, |u| u.start);
        let gend = units.last().map_or(0, |u| u.end);
        let unit_of =
            |i: usize, units: &[Unit]| units.iter().position(|u| i >= u.start && i < u.end);
        let mut late = Vec::new();
        let mut multi: Vec<(Expr, Vec<usize>)> = Vec::new();
        for c in conds {
            if c.has_subquery() {
                if !top {
                    return Err(Error::Unsupported(
                        "subquery in the ON condition of a join nested in an outer join".into(),
                    ));
                }
                late.push(c);
                continue;
            }
            let mut us: Vec<usize> = c
                .columns()
                .iter()
                .filter_map(|&i| unit_of(i, &units))
                .collect();
            us.sort_unstable();
            us.dedup();
            match us.as_slice() {
                [] => late.push(c),
                [u] => {
                    let s = units[*u].start;
                    units[*u].filters.push(c.remap(&|i| i - s));
                }
                _ => multi.push((c, us)),
            }
        }
        // Build each unit's plan with its pushed-down filters.
        let mut built: Vec<Option<(Plan, usize, usize)>> = Vec::new();
        let mut has_access = Vec::new();
        for u in units {
            let plan = match (u.base, u.plan) {
                (Some(t), _) => scan(t, u.filters),
                (None, Some(p)) => match and_all(u.filters) {
                    Some(f) => Plan::Filter {
                        input: Box::new(p),
                        pred: f,
                    },
                    None => p,
                },
                (None, None) => return Err(Error::InvalidStatement("empty relation".into())),
            };
            has_access.push(matches!(&plan, Plan::Scan { access, .. } if !access.is_full()));
            built.push(Some((plan, u.start, u.end)));
        }
        // Greedy order: start with a unit that has an index/key access, else the first.
        let first = has_access.iter().position(|&a| a).unwrap_or(0);
        let Some((mut plan, s0, e0)) = built[first].take() else {
            return Err(Error::InvalidStatement("empty FROM".into()));
        };
        let mut joined = vec![first];
        // pos[i - gstart] = position of global column i in the current layout.
        let mut pos: Vec<Option<usize>> = vec![None; gend - gstart];
        for i in s0..e0 {
            pos[i - gstart] = Some(i - s0);
        }
        let mut width = e0 - s0;
        while joined.len() < built.len() {
            let connected = |u: usize| {
                multi.iter().any(|(_, us)| {
                    us.contains(&u) && us.iter().all(|x| *x == u || joined.contains(x))
                })
            };
            let next = (0..built.len())
                .filter(|u| !joined.contains(u))
                .find(|&u| connected(u))
                .or_else(|| (0..built.len()).find(|u| !joined.contains(u)));
            let Some(next) = next else { break };
            let Some((rplan, rs, re)) = built[next].take() else {
                break;
            };
            joined.push(next);
            let rw = re - rs;
            let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut multi)
                .into_iter()
                .partition(|(_, us)| us.iter().all(|x| joined.contains(x)));
            multi = rest;
            let mut keys = Vec::new();
            let mut residual = Vec::new();
            let left_pos = pos.clone();
            let lmap = |i: usize| left_pos[i - gstart].unwrap_or(usize::MAX);
            for (c, _) in ready {
                if let Expr::Binary {
                    op: BinOp::Eq,
                    left,
                    right,
                    ..
                } = &c
                {
                    let side = |e: &Expr| -> Option<bool> {
                        let cols = e.columns();
                        if cols.is_empty() {
                            return None;
                        }
                        if cols.iter().all(|&i| i >= rs && i < re) {
                            Some(true)
                        } else if cols.iter().all(|&i| left_pos[i - gstart].is_some()) {
                            Some(false)
                        } else {
                            None
                        }
                    };
                    match (side(left), side(right)) {
                        (Some(false), Some(true)) => {
                            keys.push((left.remap(&lmap), right.remap(&|i| i - rs)));
                            continue;
                        }
                        (Some(true), Some(false)) => {
                            keys.push((right.remap(&lmap), left.remap(&|i| i - rs)));
                            continue;
                        }
                        _ => {}
                    }
                }
                residual.push(c);
            }
            for i in rs..re {
                pos[i - gstart] = Some(width + i - rs);
            }
            let jpos = pos.clone();
            let on = and_all(
                residual
                    .iter()
                    .map(|c| c.remap(&|i| jpos[i - gstart].unwrap_or(usize::MAX)))
                    .collect(),
            );
            plan = Plan::Join {
                left: Box::new(plan),
                right: Box::new(rplan),
                kind: JoinKind::Inner,
                keys,
                on,
                right_width: rw,
                left_width: width,
            };
            width += rw;
        }
        // Restore the canonical layout.
        let identity = pos.iter().enumerate().all(|(i, p)| *p == Some(i));
        if !identity {
            let exprs = pos.iter().map(|p| Expr::Column(p.unwrap_or(0))).collect();
            plan = Plan::Project {
                input: Box::new(plan),
                exprs,
            };
        }
        let late: Vec<Expr> = if gstart == 0 {
            late
        } else {
            late.into_iter().map(|c| c.remap(&|i| i - gstart)).collect()
        };
        if let Some(f) = and_all(late) {
            plan = Plan::Filter {
                input: Box::new(plan),
                pred: f,
            };
        }
        Ok(plan)
    }
}

/// Splits outer-join conditions into hash keys and the rest. `map` moves a global position
/// into the join's layout; `is_left(global)` says which input a column belongs to.
fn split_keys(
    conds: Vec<Expr>,
    map: &dyn Fn(usize) -> usize,
    is_left: impl Fn(usize) -> bool,
    left_width: usize,
) -> (Vec<(Expr, Expr)>, Option<Expr>) {
    let mut keys = Vec::new();
    let mut rest = Vec::new();
    for c in conds {
        if let Expr::Binary {
            op: BinOp::Eq,
            left,
            right,
            ..
        } = &c
        {
            let side = |e: &Expr| {
                let cols = e.columns();
                if cols.is_empty() {
                    None
                } else if cols.iter().all(|&i| is_left(i)) {
                    Some(true)
                } else if cols.iter().all(|&i| !is_left(i)) {
                    Some(false)
                } else {
                    None
                }
            };
            let right_local = |e: &Expr| e.remap(&|i| map(i) - left_width);
            match (side(left), side(right)) {
                (Some(true), Some(false)) => {
                    keys.push((left.remap(map), right_local(right)));
                    continue;
                }
                (Some(false), Some(true)) => {
                    keys.push((right.remap(map), right_local(left)));
                    continue;
                }
                _ => {}
            }
        }
        rest.push(c.remap(map));
    }
    (keys, and_all(rest))
}
