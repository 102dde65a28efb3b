//! INSERT (VALUES / SELECT, ON CONFLICT), UPDATE and DELETE with RETURNING; constraint
//! enforcement (NOT NULL, CHECK, PRIMARY KEY, UNIQUE, FOREIGN KEY with its ON DELETE /
//! ON UPDATE actions) and index maintenance.
//!
//! Every statement first reads the rows it will change, then writes, so it never sees its own
//! writes mid-scan. Under READ COMMITTED each target row is locked (`get_for_update`), re-read
//! and re-checked against the WHERE clause before it is changed, as PostgreSQL does.

use std::sync::Arc;

use sqlparser::ast;

use crate::bind::{ident, object_name, Binder, ScopeCol};
use crate::catalog::{Catalog, FkAction, TableDef};
use crate::codec;
use crate::error::{Error, Result};
use crate::exec::{self, Cursor};
use crate::expr::Expr;
use crate::parse;
use crate::plan::{Access, Plan};
use crate::rows::{Column, Outcome, Rows};
use crate::session::{check_params, StmtCtx};
use crate::store::{self, Row};
use crate::types::Value;

/// The scope of one table's row for binding (qualified by `alias`).
pub(crate) fn table_scope(t: &TableDef, alias: &str) -> Vec<ScopeCol> {
    t.columns
        .iter()
        .map(|c| ScopeCol {
            qual: Some(alias.to_string()),
            name: c.name.clone(),
            ty: c.ty,
            hidden: false,
        })
        .collect()
}

/// Bound per-table expressions a write needs: defaults and checks.
pub(crate) struct Compiled {
    pub defaults: Vec<Option<Expr>>,
    pub checks: Vec<(String, Expr)>,
}

pub(crate) fn compile(catalog: &Catalog, t: &TableDef) -> Result<Compiled> {
    let mut b = Binder::new(catalog);
    let mut defaults = Vec::with_capacity(t.columns.len());
    for c in &t.columns {
        defaults.push(match &c.default {
            Some(sql) => Some(b.bind_const(&parse::parse_expr(sql)?)?.0),
            None => None,
        });
    }
    b.set_scope(table_scope(t, &t.name));
    let mut checks = Vec::new();
    for c in &t.checks {
        checks.push((
            c.name.clone(),
            b.bind_bool(&parse::parse_expr(&c.sql)?, "CHECK")?,
        ));
    }
    Ok(Compiled { defaults, checks })
}

fn returning(
    b: &mut Binder<'_>,
    items: &Option<Vec<ast::SelectItem>>,
    t: &TableDef,
) -> Result<Option<(Vec<Expr>, Vec<Column>)>> {
    let Some(items) = items else { return Ok(None) };
    let mut exprs = Vec::new();
    let mut cols = Vec::new();
    for it in items {
        match it {
            ast::SelectItem::UnnamedExpr(e) => {
                let (x, ty) = b.bind(e)?;
                exprs.push(x);
                cols.push(Column {
                    name: crate::bind::output_name(e),
                    ty,
                });
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let (x, ty) = b.bind(expr)?;
                exprs.push(x);
                cols.push(Column {
                    name: ident(alias),
                    ty,
                });
            }
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                for (i, c) in t.columns.iter().enumerate() {
                    exprs.push(Expr::Column(i));
                    cols.push(Column {
                        name: c.name.clone(),
                        ty: c.ty,
                    });
                }
            }
            other => return Err(Error::Unsupported(format!("RETURNING {other}"))),
        }
    }
    Ok(Some((exprs, cols)))
}

/// Runs an INSERT, UPDATE or DELETE.
pub(crate) fn execute(ctx: &mut StmtCtx<'_>, stmt: &ast::Statement) -> Result<Outcome> {
    match stmt {
        ast::Statement::Insert(i) => insert(ctx, i),
        ast::Statement::Update(u) => update(ctx, u),
        ast::Statement::Delete(d) => delete(ctx, d),
        _ => Err(Error::Unsupported("statement".into())),
    }
}

fn finish(tag: &str, count: u64, ret: Option<(Vec<Expr>, Vec<Column>)>, out: Vec<Row>) -> Outcome {
    match ret {
        Some((_, columns)) => Outcome::Rows(Rows { columns, rows: out }),
        None => Outcome::Command {
            tag: if tag == "INSERT" {
                format!("INSERT 0 {count}")
            } else {
                format!("{tag} {count}")
            },
            rows: count,
        },
    }
}

fn eval_returning(
    ctx: &StmtCtx<'_>,
    ret: &Option<(Vec<Expr>, Vec<Column>)>,
    row: &[Value],
    out: &mut Vec<Row>,
) -> Result<()> {
    if let Some((exprs, _)) = ret {
        let cx = ctx.cx();
        let env = cx.env();
        out.push(
            exprs
                .iter()
                .map(|e| e.eval(row, &env))
                .collect::<Result<_>>()?,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Constraint checks and writes

fn check_row(ctx: &StmtCtx<'_>, t: &TableDef, comp: &Compiled, row: &[Value]) -> Result<()> {
    for (c, v) in t.columns.iter().zip(row) {
        if !c.nullable && v.is_null() {
            return Err(Error::NotNullViolation {
                table: t.name.clone(),
                column: c.name.clone(),
            });
        }
    }
    if !comp.checks.is_empty() {
        let cx = ctx.cx();
        let env = cx.env();
        for (name, e) in &comp.checks {
            if e.eval(row, &env)?.truth()? == Some(false) {
                return Err(Error::CheckViolation {
                    table: t.name.clone(),
                    constraint: name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Checks the referenced row of every foreign key whose columns changed (all, if `old` is None).
fn check_parents(
    ctx: &mut StmtCtx<'_>,
    t: &TableDef,
    row: &[Value],
    old: Option<&[Value]>,
) -> Result<()> {
    for fk in &t.fks {
        if fk.columns.iter().any(|&c| row[c].is_null()) {
            continue;
        }
        if let Some(o) = old {
            if fk.columns.iter().all(|&c| o[c] == row[c]) {
                continue;
            }
        }
        let parent = ctx
            .catalog
            .table_by_id(fk.ref_table)
            .cloned()
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "foreign key {} references a missing table",
                    fk.name
                ))
            })?;
        let vals: Vec<Value> = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(&c, &p)| exec::assign(row[c].clone(), parent.columns[p].ty))
            .collect::<Result<_>>()?;
        let found = if fk.ref_columns == parent.pk {
            let mut suffix = Vec::new();
            for (v, &p) in vals.iter().zip(&parent.pk) {
                codec::encode_key(&mut suffix, v, parent.columns[p].ty)?;
            }
            ctx.kv
                .get_for_share(&ctx.shared.data, store::row_key(&parent, &suffix))?
                .is_some()
        } else {
            let idx = parent
                .indexes
                .iter()
                .find(|i| i.unique && i.columns == fk.ref_columns)
                .ok_or_else(|| {
                    Error::Corrupt(format!("foreign key {} has no unique target", fk.name))
                })?;
            let mut full = vec![Value::Null; parent.columns.len()];
            for (v, &p) in vals.iter().zip(&fk.ref_columns) {
                full[p] = v.clone();
            }
            let (k, _) = store::index_entry(&parent, idx, &full, &[])?;
            ctx.kv.get_for_share(&ctx.shared.data, k)?.is_some()
        };
        if !found {
            return Err(Error::ForeignKeyViolation(format!(
                "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                t.name, fk.name
            )));
        }
    }
    Ok(())
}

/// Which unique constraint a new row collides with, and the colliding row's key.
enum Collision {
    None,
    Hit { constraint: String, key: Vec<u8> },
}

fn find_collision(
    ctx: &mut StmtCtx<'_>,
    t: &TableDef,
    row: &[Value],
    pk: &[u8],
    old: Option<(&[u8], &[Value])>,
) -> Result<Collision> {
    let rk = store::row_key(t, pk);
    let pk_changed = old.is_none_or(|(ok, _)| ok != rk.as_slice());
    if pk_changed && ctx.kv.get_for_update(&ctx.shared.data, &rk)?.is_some() {
        return Ok(Collision::Hit {
            constraint: t.pk_name.clone(),
            key: rk,
        });
    }
    for idx in t.indexes.iter().filter(|i| i.unique) {
        let (k, unique_key) = store::index_entry(t, idx, row, pk)?;
        if !unique_key {
            continue;
        }
        if let Some((_, orow)) = old {
            if idx.columns.iter().all(|&c| orow[c] == row[c]) {
                continue;
            }
        }
        if let Some(v) = ctx.kv.get_for_update(&ctx.shared.data, &k)? {
            return Ok(Collision::Hit {
                constraint: idx.name.clone(),
                key: store::row_key(t, &v),
            });
        }
    }
    Ok(Collision::None)
}

fn put_row(ctx: &mut StmtCtx<'_>, t: &TableDef, row: &[Value], pk: &[u8]) -> Result<()> {
    ctx.kv.put(
        &ctx.shared.data,
        store::row_key(t, pk),
        store::encode_row(t, row),
    )?;
    for idx in &t.indexes {
        let (k, _) = store::index_entry(t, idx, row, pk)?;
        ctx.kv.put(&ctx.shared.data, k, pk)?;
    }
    Ok(())
}

fn pk_of_key<'k>(t: &TableDef, key: &'k [u8]) -> &'k [u8] {
    let _ = t;
    &key[8.min(key.len())..]
}

/// Deletes one row (with its index entries), applying ON DELETE actions of referencing keys.
fn delete_row(
    ctx: &mut StmtCtx<'_>,
    t: &TableDef,
    key: &[u8],
    row: &[Value],
    depth: usize,
) -> Result<()> {
    if depth > 64 {
        return Err(Error::InvalidStatement(
            "foreign key cascades nested too deep".into(),
        ));
    }
    referencing_actions(ctx, t, row, None, depth)?;
    let pk = pk_of_key(t, key).to_vec();
    ctx.kv.delete(&ctx.shared.data, key)?;
    for idx in &t.indexes {
        let (k, _) = store::index_entry(t, idx, row, &pk)?;
        ctx.kv.delete(&ctx.shared.data, k)?;
    }
    Ok(())
}

/// Rows of `child` whose `cols` equal `vals`.
fn matching_rows(
    ctx: &StmtCtx<'_>,
    child: &TableDef,
    cols: &[usize],
    vals: &[Value],
) -> Result<Vec<(Vec<u8>, Row)>> {
    let mut access = Access::default();
    let lits = |order: &[usize]| -> Option<Vec<Expr>> {
        order
            .iter()
            .map(|c| {
                cols.iter()
                    .position(|x| x == c)
                    .map(|i| Expr::Literal(vals[i].clone()))
            })
            .collect()
    };
    if child.pk.len() >= cols.len() {
        if let Some(eq) = lits(&child.pk[..cols.len()]) {
            access.eq = eq;
        }
    }
    if access.eq.is_empty() {
        if let Some(idx) = child
            .indexes
            .iter()
            .find(|i| i.columns.len() >= cols.len() && lits(&i.columns[..cols.len()]).is_some())
        {
            access.index = Some(idx.id);
            access.eq = lits(&idx.columns[..cols.len()]).unwrap_or_default();
        }
    }
    let cx = ctx.cx();
    let env = cx.env();
    let mut cur = Cursor::new(child, &access, &env)?;
    let mut out = Vec::new();
    while let Some((k, r)) = cur.next(&cx)? {
        if cols
            .iter()
            .zip(vals)
            .all(|(&c, v)| r[c].sql_cmp(v) == Some(std::cmp::Ordering::Equal))
        {
            out.push((k, r));
        }
    }
    Ok(out)
}

/// ON DELETE (`new` None) / ON UPDATE actions for the tables referencing `t`'s `old` row.
fn referencing_actions(
    ctx: &mut StmtCtx<'_>,
    t: &TableDef,
    old: &[Value],
    new: Option<&[Value]>,
    depth: usize,
) -> Result<()> {
    let children = ctx.catalog.referencing(t.id);
    for child in children {
        for fk in child.fks.iter().filter(|f| f.ref_table == t.id) {
            let vals: Vec<Value> = fk.ref_columns.iter().map(|&c| old[c].clone()).collect();
            if vals.iter().any(Value::is_null) {
                continue;
            }
            if let Some(n) = new {
                if fk.ref_columns.iter().all(|&c| old[c] == n[c]) {
                    continue;
                }
            }
            let action = if new.is_some() {
                fk.on_update
            } else {
                fk.on_delete
            };
            let rows = matching_rows(ctx, &child, &fk.columns, &vals)?;
            if rows.is_empty() {
                continue;
            }
            match action {
                FkAction::NoAction | FkAction::Restrict => {
                    return Err(Error::ForeignKeyViolation(format!(
                        "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                        t.name, fk.name, child.name
                    )))
                }
                FkAction::Cascade => {
                    for (k, r) in rows {
                        match new {
                            None => delete_row(ctx, &child, &k, &r, depth + 1)?,
                            Some(n) => {
                                let mut nr = r.clone();
                                for (&c, &p) in fk.columns.iter().zip(&fk.ref_columns) {
                                    nr[c] = exec::assign(n[p].clone(), child.columns[c].ty)?;
                                }
                                let comp = compile(ctx.catalog, &child)?;
                                update_row(ctx, &child, &comp, &k, &r, nr, depth + 1)?;
                            }
                        }
                    }
                }
                FkAction::SetNull | FkAction::SetDefault => {
                    let comp = compile(ctx.catalog, &child)?;
                    for (k, r) in rows {
                        let mut nr = r.clone();
                        for &c in &fk.columns {
                            nr[c] = match (&comp.defaults[c], action) {
                                (Some(d), FkAction::SetDefault) => {
                                    let cx = ctx.cx();
                                    exec::assign(d.eval(&[], &cx.env())?, child.columns[c].ty)?
                                }
                                _ => Value::Null,
                            };
                        }
                        update_row(ctx, &child, &comp, &k, &r, nr, depth + 1)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Replaces row `old` (at `key`) with `new`, keeping indexes and constraints.
fn update_row(
    ctx: &mut StmtCtx<'_>,
    t: &TableDef,
    comp: &Compiled,
    key: &[u8],
    old: &[Value],
    new: Row,
    depth: usize,
) -> Result<Row> {
    if depth > 64 {
        return Err(Error::InvalidStatement(
            "foreign key cascades nested too deep".into(),
        ));
    }
    check_row(ctx, t, comp, &new)?;
    check_parents(ctx, t, &new, Some(old))?;
    let old_pk = pk_of_key(t, key).to_vec();
    let new_pk = if t.pk.is_empty() {
        old_pk.clone()
    } else {
        store::pk_suffix(t, &new, None)?
    };
    if let Collision::Hit { constraint, .. } =
        find_collision(ctx, t, &new, &new_pk, Some((key, old)))?
    {
        return Err(Error::UniqueViolation(constraint));
    }
    referencing_actions(ctx, t, old, Some(&new), depth)?;
    if new_pk != old_pk {
        ctx.kv.delete(&ctx.shared.data, key)?;
    }
    for idx in &t.indexes {
        let (ok, _) = store::index_entry(t, idx, old, &old_pk)?;
        let (nk, _) = store::index_entry(t, idx, &new, &new_pk)?;
        if ok != nk || new_pk != old_pk {
            ctx.kv.delete(&ctx.shared.data, ok)?;
        }
    }
    put_row(ctx, t, &new, &new_pk)?;
    Ok(new)
}

// ---------------------------------------------------------------------------------------
// INSERT

enum ConflictPlan {
    Error,
    Nothing(Option<String>),
    Update {
        arbiter: String,
        sets: Vec<(usize, Expr)>,
        filter: Option<Expr>,
    },
}

fn arbiter(t: &TableDef, target: &Option<ast::ConflictTarget>) -> Result<Option<String>> {
    match target {
        None => Ok(None),
        Some(ast::ConflictTarget::Columns {
            predicate: Some(_), ..
        }) => Err(Error::Unsupported("ON CONFLICT ... WHERE".into())),
        Some(ast::ConflictTarget::OnConstraint(n)) => {
            let n = object_name(n)?;
            if n == t.pk_name || t.index(&n).is_some_and(|i| i.unique) {
                Ok(Some(n))
            } else {
                Err(Error::UndefinedObject {
                    kind: "constraint",
                    name: n,
                })
            }
        }
        Some(ast::ConflictTarget::Columns {
            columns: cols,
            predicate: None,
        }) => {
            let mut idx: Vec<usize> = cols
                .iter()
                .map(|c| {
                    t.column_index(&ident(c))
                        .ok_or_else(|| Error::UndefinedColumn(ident(c)))
                })
                .collect::<Result<_>>()?;
            idx.sort_unstable();
            let mut pk = t.pk.clone();
            pk.sort_unstable();
            if !pk.is_empty() && pk == idx {
                return Ok(Some(t.pk_name.clone()));
            }
            for i in t.indexes.iter().filter(|i| i.unique) {
                let mut c = i.columns.clone();
                c.sort_unstable();
                if c == idx {
                    return Ok(Some(i.name.clone()));
                }
            }
            Err(Error::InvalidStatement(
                "there is no unique or exclusion constraint matching the ON CONFLICT specification"
                    .into(),
            ))
        }
    }
}

fn insert(ctx: &mut StmtCtx<'_>, ins: &ast::Insert) -> Result<Outcome> {
    if ins.or.is_some()
        || ins.ignore
        || ins.overwrite
        || ins.partitioned.is_some()
        || !ins.after_columns.is_empty()
        || ins.replace_into
        || !ins.assignments.is_empty()
    {
        return Err(Error::Unsupported("this INSERT form".into()));
    }
    let name = match &ins.table {
        ast::TableObject::TableName(n) => object_name(n)?,
        _ => return Err(Error::Unsupported("INSERT into a table function".into())),
    };
    let t = match ctx.catalog.tables.get(&name) {
        Some(t) => Arc::clone(t),
        None if ctx.catalog.views.contains_key(&name) => {
            return Err(Error::Unsupported(format!(
                "cannot insert into view \"{name}\""
            )))
        }
        None => return Err(Error::UndefinedTable(name)),
    };
    let alias = ins
        .table_alias
        .as_ref()
        .map(|a| ident(&a.alias))
        .unwrap_or_else(|| t.name.clone());
    let targets: Vec<usize> = if ins.columns.is_empty() {
        (0..t.columns.len()).collect()
    } else {
        let mut v = Vec::new();
        for c in &ins.columns {
            let n = object_name(c)?;
            let i = t
                .column_index(&n)
                .ok_or_else(|| Error::UndefinedColumn(n.clone()))?;
            if v.contains(&i) {
                return Err(Error::InvalidStatement(format!(
                    "column \"{n}\" specified more than once"
                )));
            }
            v.push(i);
        }
        v
    };
    let comp = compile(ctx.catalog, &t)?;
    // Source rows (None = DEFAULT).
    let source = ins
        .source
        .as_ref()
        .ok_or_else(|| Error::Unsupported("INSERT ... DEFAULT VALUES".into()))?;
    let mut b = Binder::new(ctx.catalog);
    let rows: Vec<Vec<Option<Value>>> = match &*source.body {
        ast::SetExpr::Values(v)
            if source.order_by.is_none()
                && source.limit_clause.is_none()
                && source.with.is_none() =>
        {
            let mut exprs = Vec::new();
            for r in &v.rows {
                if r.content.len() != targets.len() {
                    return Err(Error::InvalidStatement(format!(
                        "INSERT has {} expressions but {} target columns",
                        r.content.len(),
                        targets.len()
                    )));
                }
                let mut row = Vec::new();
                for e in &r.content {
                    let is_default = matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
                    row.push(if is_default { None } else { Some(b.bind(e)?.0) });
                }
                exprs.push(row);
            }
            check_params(&b, ctx.params)?;
            let cx = ctx.cx();
            let env = cx.env();
            exprs
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|e| e.as_ref().map(|e| e.eval(&[], &env)).transpose())
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?
        }
        _ => {
            let qp = b.plan_query(source)?;
            check_params(&b, ctx.params)?;
            if qp.cols.len() != targets.len() {
                return Err(Error::InvalidStatement(format!(
                    "INSERT has {} expressions but {} target columns",
                    qp.cols.len(),
                    targets.len()
                )));
            }
            let cx = ctx.cx();
            exec::collect(&qp.plan, &cx.env())?
                .into_iter()
                .map(|r| r.into_iter().map(Some).collect())
                .collect()
        }
    };
    // ON CONFLICT.
    let conflict = match &ins.on {
        None => ConflictPlan::Error,
        Some(ast::OnInsert::OnConflict(oc)) => {
            let arb = arbiter(&t, &oc.conflict_target)?;
            match &oc.action {
                ast::OnConflictAction::DoNothing => ConflictPlan::Nothing(arb),
                ast::OnConflictAction::DoUpdate(du) => {
                    let arbiter = arb.ok_or_else(|| Error::InvalidStatement("ON CONFLICT DO UPDATE requires inference specification or constraint name".into()))?;
                    let mut scope = table_scope(&t, &alias);
                    scope.extend(table_scope(&t, "excluded"));
                    b.set_scope(scope);
                    let sets = assignments(&mut b, &t, &du.assignments)?;
                    let filter = du
                        .selection
                        .as_ref()
                        .map(|w| b.bind_bool(w, "WHERE"))
                        .transpose()?;
                    ConflictPlan::Update {
                        arbiter,
                        sets,
                        filter,
                    }
                }
            }
        }
        Some(_) => return Err(Error::Unsupported("ON DUPLICATE KEY UPDATE".into())),
    };
    b.set_scope(table_scope(&t, &alias));
    let ret = returning(&mut b, &ins.returning, &t)?;
    let mut out = Vec::new();
    let mut count = 0u64;
    for src in rows {
        let mut row = vec![Value::Null; t.columns.len()];
        let mut given = vec![false; t.columns.len()];
        for (&c, v) in targets.iter().zip(src) {
            if let Some(v) = v {
                row[c] = exec::assign(v, t.columns[c].ty)?;
                given[c] = true;
            }
        }
        for (c, d) in comp.defaults.iter().enumerate() {
            if !given[c] {
                if let Some(d) = d {
                    let cx = ctx.cx();
                    row[c] = exec::assign(d.eval(&[], &cx.env())?, t.columns[c].ty)?;
                }
            }
        }
        check_row(ctx, &t, &comp, &row)?;
        let rowid = if t.pk.is_empty() {
            Some(ctx.shared.next_rowid(t.id)?)
        } else {
            None
        };
        let pk = store::pk_suffix(&t, &row, rowid)?;
        match find_collision(ctx, &t, &row, &pk, None)? {
            Collision::None => {}
            Collision::Hit { constraint, key } => match &conflict {
                ConflictPlan::Nothing(None) => continue,
                ConflictPlan::Nothing(Some(a)) if *a == constraint => continue,
                ConflictPlan::Update {
                    arbiter,
                    sets,
                    filter,
                } if *arbiter == constraint => {
                    let Some(bytes) = ctx.kv.get_for_update(&ctx.shared.data, &key)? else {
                        continue;
                    };
                    let existing = store::decode_row(&t, &bytes)?;
                    let mut both = existing.clone();
                    both.extend(row.iter().cloned());
                    let new = {
                        let cx = ctx.cx();
                        let env = cx.env();
                        if let Some(f) = filter {
                            if !f.test(&both, &env)? {
                                continue;
                            }
                        }
                        let mut new = existing.clone();
                        for (c, e) in sets {
                            new[*c] = exec::assign(e.eval(&both, &env)?, t.columns[*c].ty)?;
                        }
                        new
                    };
                    let new = update_row(ctx, &t, &comp, &key, &existing, new, 0)?;
                    eval_returning(ctx, &ret, &new, &mut out)?;
                    count += 1;
                    continue;
                }
                _ => return Err(Error::UniqueViolation(constraint)),
            },
        }
        check_parents(ctx, &t, &row, None)?;
        put_row(ctx, &t, &row, &pk)?;
        eval_returning(ctx, &ret, &row, &mut out)?;
        count += 1;
    }
    Ok(finish("INSERT", count, ret, out))
}

fn assignments(
    b: &mut Binder<'_>,
    t: &TableDef,
    list: &[ast::Assignment],
) -> Result<Vec<(usize, Expr)>> {
    let mut sets = Vec::new();
    for a in list {
        let col = match &a.target {
            ast::AssignmentTarget::ColumnName(n) => {
                let parts: Vec<String> =
                    n.0.iter().filter_map(|p| p.as_ident()).map(ident).collect();
                parts.last().cloned().unwrap_or_default()
            }
            ast::AssignmentTarget::Tuple(_) => {
                return Err(Error::Unsupported("SET (a, b) = ...".into()))
            }
        };
        let i = t
            .column_index(&col)
            .ok_or_else(|| Error::UndefinedColumn(col.clone()))?;
        if sets.iter().any(|(c, _)| *c == i) {
            return Err(Error::InvalidStatement(format!(
                "multiple assignments to same column \"{col}\""
            )));
        }
        let is_default = matches!(&a.value, ast::Expr::Identifier(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case("default"));
        let e = if is_default {
            match &t.columns[i].default {
                Some(sql) => b.bind_const(&parse::parse_expr(sql)?)?.0,
                None => Expr::Literal(Value::Null),
            }
        } else {
            b.bind(&a.value)?.0
        };
        sets.push((i, e));
    }
    Ok(sets)
}

// ---------------------------------------------------------------------------------------
// UPDATE / DELETE

fn target_table(ctx: &StmtCtx<'_>, tf: &ast::TableFactor) -> Result<(Arc<TableDef>, String)> {
    match tf {
        ast::TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let n = object_name(name)?;
            let t = match ctx.catalog.tables.get(&n) {
                Some(t) => Arc::clone(t),
                None if ctx.catalog.views.contains_key(&n) => {
                    return Err(Error::Unsupported(format!("cannot change view \"{n}\"")))
                }
                None => return Err(Error::UndefinedTable(n)),
            };
            let a = alias
                .as_ref()
                .map(|a| ident(&a.name))
                .unwrap_or_else(|| t.name.clone());
            Ok((t, a))
        }
        other => Err(Error::Unsupported(format!("target {other}"))),
    }
}

/// Plans the scan of a single-table UPDATE/DELETE.
fn target_scan(
    b: &mut Binder<'_>,
    t: &Arc<TableDef>,
    alias: &str,
    selection: Option<&ast::Expr>,
) -> Result<(Plan, Option<Expr>)> {
    b.set_scope(table_scope(t, alias));
    let mut conds = Vec::new();
    let mut full = None;
    if let Some(w) = selection {
        let pred = b.bind_bool(w, "WHERE")?;
        if pred.has_subquery() {
            full = Some(pred);
        } else {
            full = Some(pred.copy());
            crate::bind::conjuncts(pred, &mut conds);
        }
    }
    let plan = crate::bind::scan(
        Arc::clone(t),
        if full.as_ref().is_some_and(Expr::has_subquery) {
            Vec::new()
        } else {
            conds
        },
    );
    Ok((plan, full))
}

/// Reads the target rows (key, row) of an UPDATE/DELETE, then locks and re-checks them.
fn target_rows(
    ctx: &mut StmtCtx<'_>,
    plan: &Plan,
    pred: Option<&Expr>,
) -> Result<Vec<(Vec<u8>, Row)>> {
    let Plan::Scan { table, access, .. } = plan else {
        return Err(Error::Corrupt("target plan".into()));
    };
    let candidates = {
        let cx = ctx.cx();
        let env = cx.env();
        let mut cur = Cursor::new(table, access, &env)?;
        let mut v = Vec::new();
        while let Some((k, r)) = cur.next(&cx)? {
            if pred.map_or(Ok(true), |p| p.test(&r, &env))? {
                v.push((k, r));
            }
        }
        v
    };
    if !ctx.kv.is_pessimistic() {
        return Ok(candidates);
    }
    let mut out = Vec::with_capacity(candidates.len());
    for (k, r) in candidates {
        let Some(bytes) = ctx.kv.get_for_update(&ctx.shared.data, &k)? else {
            continue;
        };
        let latest = store::decode_row(table, &bytes)?;
        if latest != r {
            let cx = ctx.cx();
            if !pred.map_or(Ok(true), |p| p.test(&latest, &cx.env()))? {
                continue;
            }
        }
        out.push((k, latest));
    }
    Ok(out)
}

fn update(ctx: &mut StmtCtx<'_>, u: &ast::Update) -> Result<Outcome> {
    if u.from.is_some()
        || !u.table.joins.is_empty()
        || u.or.is_some()
        || u.limit.is_some()
        || !u.order_by.is_empty()
        || u.output.is_some()
    {
        return Err(Error::Unsupported("UPDATE ... FROM / joins / LIMIT".into()));
    }
    let (t, alias) = target_table(ctx, &u.table.relation)?;
    let mut b = Binder::new(ctx.catalog);
    let (plan, pred) = target_scan(&mut b, &t, &alias, u.selection.as_ref())?;
    let sets = assignments(&mut b, &t, &u.assignments)?;
    let ret = returning(&mut b, &u.returning, &t)?;
    check_params(&b, ctx.params)?;
    let comp = compile(ctx.catalog, &t)?;
    let targets = target_rows(ctx, &plan, pred.as_ref())?;
    let mut out = Vec::new();
    let mut count = 0;
    for (k, old) in targets {
        let new = {
            let cx = ctx.cx();
            let env = cx.env();
            let mut new = old.clone();
            for (c, e) in &sets {
                new[*c] = exec::assign(e.eval(&old, &env)?, t.columns[*c].ty)?;
            }
            new
        };
        let new = update_row(ctx, &t, &comp, &k, &old, new, 0)?;
        eval_returning(ctx, &ret, &new, &mut out)?;
        count += 1;
    }
    Ok(finish("UPDATE", count, ret, out))
}

fn delete(ctx: &mut StmtCtx<'_>, d: &ast::Delete) -> Result<Outcome> {
    if !d.tables.is_empty()
        || d.using.is_some()
        || d.limit.is_some()
        || !d.order_by.is_empty()
        || d.output.is_some()
    {
        return Err(Error::Unsupported(
            "DELETE ... USING / LIMIT / multi-table".into(),
        ));
    }
    let from = match &d.from {
        ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
    };
    let [twj] = from.as_slice() else {
        return Err(Error::Unsupported("DELETE from several tables".into()));
    };
    if !twj.joins.is_empty() {
        return Err(Error::Unsupported("DELETE with joins".into()));
    }
    let (t, alias) = target_table(ctx, &twj.relation)?;
    let mut b = Binder::new(ctx.catalog);
    let (plan, pred) = target_scan(&mut b, &t, &alias, d.selection.as_ref())?;
    let ret = returning(&mut b, &d.returning, &t)?;
    check_params(&b, ctx.params)?;
    let targets = target_rows(ctx, &plan, pred.as_ref())?;
    let mut out = Vec::new();
    let mut count = 0;
    for (k, old) in targets {
        // A cascade earlier in this statement may have removed it already.
        if ctx.kv.get(&ctx.shared.data, &k)?.is_none() {
            continue;
        }
        delete_row(ctx, &t, &k, &old, 0)?;
        eval_returning(ctx, &ret, &old, &mut out)?;
        count += 1;
    }
    Ok(finish("DELETE", count, ret, out))
}

/// EXPLAIN text of a statement.
pub(crate) fn explain(catalog: &Catalog, stmt: &ast::Statement) -> Result<String> {
    let mut b = Binder::new(catalog);
    match stmt {
        ast::Statement::Query(q) => Ok(b.plan_query(q)?.plan.explain()),
        ast::Statement::Update(u) => {
            let ast::TableFactor::Table { name, .. } = &u.table.relation else {
                return Err(Error::Unsupported("EXPLAIN of this UPDATE".into()));
            };
            let t = Arc::clone(catalog.table(&object_name(name)?)?);
            let (plan, _) = target_scan(&mut b, &t, &t.name.clone(), u.selection.as_ref())?;
            Ok(format!("Update on {}\n{}", t.name, indent(&plan.explain())))
        }
        ast::Statement::Delete(d) => {
            let from = match &d.from {
                ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
            };
            let Some(ast::TableFactor::Table { name, .. }) = from.first().map(|t| &t.relation)
            else {
                return Err(Error::Unsupported("EXPLAIN of this DELETE".into()));
            };
            let t = Arc::clone(catalog.table(&object_name(name)?)?);
            let (plan, _) = target_scan(&mut b, &t, &t.name.clone(), d.selection.as_ref())?;
            Ok(format!("Delete on {}\n{}", t.name, indent(&plan.explain())))
        }
        ast::Statement::Insert(i) => {
            let name = match &i.table {
                ast::TableObject::TableName(n) => object_name(n)?,
                _ => return Err(Error::Unsupported("EXPLAIN of this INSERT".into())),
            };
            let src = match &i.source {
                Some(q) => b.plan_query(q)?.plan.explain(),
                None => String::new(),
            };
            Ok(format!("Insert on {name}\n{}", indent(&src)))
        }
        _ => Err(Error::Unsupported("EXPLAIN of this statement".into())),
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}
