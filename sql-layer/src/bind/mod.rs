//! The binder/planner: turns sqlparser's AST into [`Plan`]s — names resolved to positions,
//! types checked and coerced, subqueries and CTEs planned, joins ordered, access paths chosen
//! (through [`crate::access`]).
//!
//! Layout rule: while a SELECT is bound, its FROM clause has one *canonical* column layout
//! (every relation's columns in written order). Expressions are bound against it; join
//! reordering works on copies remapped to intermediate layouts and restores the canonical
//! layout before anything that may hold a subquery is evaluated. An aggregated SELECT's rows
//! are `first input row ‖ group values ‖ aggregates`, so columns of the canonical layout keep
//! their positions for correlated subqueries.

mod expr;
mod from;
mod select;

use std::sync::Arc;

use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::expr::AggCall;
use crate::plan::{OutCol, Plan};
use crate::types::DataType;

pub use expr::sql_type;
pub use from::{conjuncts, scan};
pub(crate) use select::output_name;
pub use select::LockSpec;

/// One column visible to name resolution.
#[derive(Clone, Debug)]
pub struct ScopeCol {
    /// Table name or alias qualifying it.
    pub qual: Option<String>,
    /// Column name.
    pub name: String,
    /// Type.
    pub ty: DataType,
    /// Hidden from unqualified lookup and `*` (the right-hand copy of a USING column).
    pub hidden: bool,
}

#[derive(Default)]
struct Level {
    scope: Vec<ScopeCol>,
    correlated: bool,
}

struct CteInfo {
    name: String,
    plan: Arc<Plan>,
    cols: Vec<OutCol>,
    id: usize,
    correlated: bool,
}

/// A planned query: the plan, its output columns, and row locking (FOR UPDATE).
#[derive(Debug)]
pub struct QueryPlan {
    /// The plan.
    pub plan: Plan,
    /// Output columns.
    pub cols: Vec<OutCol>,
    /// `FOR UPDATE / FOR SHARE` details.
    pub lock: Option<LockSpec>,
}

/// Binds statements against one catalog.
pub struct Binder<'c> {
    /// The schema used.
    pub catalog: &'c Catalog,
    levels: Vec<Level>,
    ctes: Vec<CteInfo>,
    next_id: usize,
    view_depth: usize,
    agg: Option<Vec<AggCall>>,
    in_agg_arg: bool,
    /// Highest `$n` seen.
    pub max_param: usize,
    anon_params: usize,
}

/// Normalizes an identifier: unquoted names fold to lower case (PostgreSQL's rule).
pub fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The last part of an object name, normalized (schemas are not supported: `public.t` = `t`).
pub fn object_name(n: &ast::ObjectName) -> Result<String> {
    let parts: Vec<&ast::Ident> = n.0.iter().filter_map(|p| p.as_ident()).collect();
    match parts.as_slice() {
        [one] => Ok(ident(one)),
        [schema, one] if ident(schema) == "public" => Ok(ident(one)),
        _ => Err(Error::Unsupported(format!("qualified name {n}"))),
    }
}

impl<'c> Binder<'c> {
    /// A binder over `catalog`.
    pub fn new(catalog: &'c Catalog) -> Self {
        Binder {
            catalog,
            levels: vec![Level::default()],
            ctes: Vec::new(),
            next_id: 0,
            view_depth: 0,
            agg: None,
            in_agg_arg: false,
            max_param: 0,
            anon_params: 0,
        }
    }

    fn fresh_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// Replaces the scope of the current level.
    pub fn set_scope(&mut self, scope: Vec<ScopeCol>) {
        if let Some(l) = self.levels.last_mut() {
            l.scope = scope;
        }
    }

    fn scope(&self) -> &[ScopeCol] {
        self.levels.last().map_or(&[], |l| &l.scope)
    }

    /// Runs `f` one query level deeper (a subquery in an expression). Returns its result and
    /// whether it referenced an enclosing level.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<(T, bool)> {
        self.levels.push(Level::default());
        let saved_agg = self.agg.take();
        let saved_in_arg = std::mem::replace(&mut self.in_agg_arg, false);
        let cte_mark = self.ctes.len();
        let r = f(self);
        self.ctes.truncate(cte_mark);
        self.agg = saved_agg;
        self.in_agg_arg = saved_in_arg;
        let level = self.levels.pop().unwrap_or_default();
        Ok((r?, level.correlated))
    }

    /// Runs `f` at the same level with a fresh scope (derived tables, CTEs, set-operation
    /// arms): outer references keep their depth. Returns whether it was correlated.
    fn same_level<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<(T, bool)> {
        let (saved_scope, saved_corr) = match self.levels.last_mut() {
            Some(l) => (
                std::mem::take(&mut l.scope),
                std::mem::replace(&mut l.correlated, false),
            ),
            None => (Vec::new(), false),
        };
        let saved_agg = self.agg.take();
        let saved_in_arg = std::mem::replace(&mut self.in_agg_arg, false);
        let cte_mark = self.ctes.len();
        let r = f(self);
        self.ctes.truncate(cte_mark);
        self.agg = saved_agg;
        self.in_agg_arg = saved_in_arg;
        let mut corr = false;
        if let Some(l) = self.levels.last_mut() {
            corr = l.correlated;
            l.scope = saved_scope;
            l.correlated = saved_corr || corr;
        }
        Ok((r?, corr))
    }

    /// Plans a whole query (top level or nested).
    pub fn plan_query(&mut self, q: &ast::Query) -> Result<QueryPlan> {
        self.query(q)
    }

    fn query(&mut self, q: &ast::Query) -> Result<QueryPlan> {
        if q.fetch.is_some() || q.for_clause.is_some() || !q.pipe_operators.is_empty() {
            return Err(Error::Unsupported("FETCH / FOR / pipe clauses".into()));
        }
        let cte_mark = self.ctes.len();
        if let Some(with) = &q.with {
            if with.recursive {
                return Err(Error::Unsupported("WITH RECURSIVE".into()));
            }
            for cte in &with.cte_tables {
                let name = ident(&cte.alias.name);
                let (qp, correlated) = self.same_level(|b| b.query(&cte.query))?;
                let mut cols = qp.cols;
                rename_cols(&mut cols, &cte.alias.columns, &name)?;
                let id = self.fresh_id();
                self.ctes.push(CteInfo {
                    name,
                    plan: Arc::new(qp.plan),
                    cols,
                    id,
                    correlated,
                });
            }
        }
        let r = self.query_body(q);
        self.ctes.truncate(cte_mark);
        r
    }
}

/// Applies `AS t(a, b)` column aliases.
fn rename_cols(cols: &mut [OutCol], aliases: &[ast::TableAliasColumnDef], rel: &str) -> Result<()> {
    if aliases.len() > cols.len() {
        return Err(Error::InvalidStatement(format!(
            "{rel} has {} columns available but {} columns specified",
            cols.len(),
            aliases.len()
        )));
    }
    for (c, a) in cols.iter_mut().zip(aliases) {
        c.name = ident(&a.name);
    }
    Ok(())
}
