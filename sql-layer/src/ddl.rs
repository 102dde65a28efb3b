//! DDL: CREATE/DROP TABLE, INDEX, VIEW, SEQUENCE and ALTER TABLE. Each statement edits a copy
//! of the catalog inside the statement's transaction: the generation key is read with
//! `get_for_update` first (so concurrent DDL waits or conflicts), definitions are written
//! with the data they imply (index builds, row rewrites), and the new catalog is published
//! when the transaction commits.

use std::sync::Arc;

use sqlparser::ast;

use crate::bind::{ident, object_name, sql_type, Binder};
use crate::catalog::{
    self, keys, Catalog, CheckDef, ColumnDef, FkAction, ForeignKey, IndexDef, SequenceDef,
    TableDef, ViewDef,
};
use crate::codec;
use crate::dml::{compile, table_scope};
use crate::error::{Error, Result};
use crate::exec::{self, Cursor};
use crate::parse;
use crate::plan::Access;
use crate::session::StmtCtx;
use crate::store::{self, Row};
use crate::types::{DataType, Value};

/// Starts a DDL change: locks the generation key and returns the catalog to edit.
fn begin(ctx: &mut StmtCtx<'_>) -> Result<Catalog> {
    let g = ctx.kv.get_for_update(&ctx.shared.cat, keys::GENERATION)?;
    let (generation, next_id) = match g {
        Some(b) => catalog::decode_generation(&b)?,
        None => (0, 1),
    };
    let mut c = if generation == ctx.catalog.generation {
        ctx.catalog.clone()
    } else {
        ctx.shared.load_in(ctx.kv)?
    };
    c.generation = generation + 1;
    c.next_id = next_id.max(c.next_id).max(1);
    Ok(c)
}

fn save_generation(ctx: &mut StmtCtx<'_>, c: &Catalog) -> Result<()> {
    ctx.kv.put(
        &ctx.shared.cat,
        keys::GENERATION,
        catalog::encode_generation(c.generation, c.next_id),
    )?;
    Ok(())
}

fn save_table(ctx: &mut StmtCtx<'_>, c: &mut Catalog, t: TableDef) -> Result<()> {
    ctx.kv.put(
        &ctx.shared.cat,
        keys::table(t.id),
        catalog::encode_table(&t),
    )?;
    c.tables.insert(t.name.clone(), Arc::new(t));
    Ok(())
}

fn new_id(c: &mut Catalog) -> u32 {
    let id = c.next_id;
    c.next_id += 1;
    id
}

/// Runs a DDL statement; returns the catalog as this transaction now sees it.
pub(crate) fn execute(ctx: &mut StmtCtx<'_>, stmt: &ast::Statement) -> Result<Catalog> {
    let mut c = begin(ctx)?;
    match stmt {
        ast::Statement::CreateTable(ct) => create_table(ctx, &mut c, ct)?,
        ast::Statement::CreateIndex(ci) => create_index(ctx, &mut c, ci)?,
        ast::Statement::CreateView(cv) => create_view(ctx, &mut c, cv)?,
        ast::Statement::CreateSequence {
            temporary,
            if_not_exists,
            name,
            sequence_options,
        } => {
            if *temporary {
                return Err(Error::Unsupported("TEMPORARY sequences".into()));
            }
            let n = object_name(name)?;
            if c.name_taken(&n) {
                if *if_not_exists {
                    return Ok(c);
                }
                return Err(Error::DuplicateObject {
                    kind: "relation",
                    name: n,
                });
            }
            let (mut start, mut increment) = (None, 1i64);
            for o in sequence_options {
                let num = |e: &ast::Expr| -> Result<i64> {
                    let mut b = Binder::new(ctx.catalog);
                    let (x, _) = b.bind_const(e)?;
                    let cx = ctx.cx();
                    match x.eval(&[], &cx.env())? {
                        Value::Int(i) => Ok(i),
                        other => Err(Error::TypeMismatch(format!(
                            "sequence option must be an integer, not {}",
                            other.type_name()
                        ))),
                    }
                };
                match o {
                    ast::SequenceOptions::StartWith(e, _) => start = Some(num(e)?),
                    ast::SequenceOptions::IncrementBy(e, _) => increment = num(e)?,
                    ast::SequenceOptions::Cache(_) | ast::SequenceOptions::Cycle(false) => {}
                    other => return Err(Error::Unsupported(format!("sequence option {other}"))),
                }
            }
            if increment == 0 {
                return Err(Error::InvalidParameter("INCREMENT must not be zero".into()));
            }
            let id = new_id(&mut c);
            add_sequence(
                ctx,
                &mut c,
                SequenceDef {
                    id,
                    name: n,
                    start: start.unwrap_or(1),
                    increment,
                },
            )?;
        }
        ast::Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => {
            for n in names {
                drop_object(
                    ctx,
                    &mut c,
                    *object_type,
                    &object_name(n)?,
                    *if_exists,
                    *cascade,
                )?;
            }
        }
        ast::Statement::AlterTable(at) => alter_table(ctx, &mut c, at)?,
        _ => return Err(Error::Unsupported("DDL statement".into())),
    }
    save_generation(ctx, &c)?;
    Ok(c)
}

fn add_sequence(ctx: &mut StmtCtx<'_>, c: &mut Catalog, s: SequenceDef) -> Result<()> {
    ctx.kv.put(
        &ctx.shared.cat,
        keys::sequence(s.id),
        catalog::encode_sequence(&s),
    )?;
    ctx.shared.forget(&keys::sequence_hwm(s.id));
    c.sequences.insert(s.name.clone(), Arc::new(s));
    Ok(())
}

fn referential(a: &Option<ast::ReferentialAction>) -> FkAction {
    match a {
        None | Some(ast::ReferentialAction::NoAction) => FkAction::NoAction,
        Some(ast::ReferentialAction::Restrict) => FkAction::Restrict,
        Some(ast::ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ast::ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ast::ReferentialAction::SetDefault) => FkAction::SetDefault,
    }
}

fn index_columns(t: &TableDef, cols: &[ast::IndexColumn]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for ic in cols {
        if ic.operator_class.is_some() {
            return Err(Error::Unsupported("operator classes".into()));
        }
        let name = match &ic.column.expr {
            ast::Expr::Identifier(i) => ident(i),
            other => return Err(Error::Unsupported(format!("index on expression {other}"))),
        };
        if matches!(ic.column.options.sort, Some(ast::OrderBySort::Desc)) {
            // Scans can read any index in both orders; a DESC key is stored ascending.
        }
        let i = t
            .column_index(&name)
            .ok_or_else(|| Error::UndefinedColumn(name.clone()))?;
        if out.contains(&i) {
            return Err(Error::InvalidTableDefinition(format!(
                "column \"{name}\" appears twice in the key"
            )));
        }
        out.push(i);
    }
    Ok(out)
}

fn names_of(t: &TableDef, cols: &[usize]) -> String {
    cols.iter()
        .map(|&i| t.columns[i].name.as_str())
        .collect::<Vec<_>>()
        .join("_")
}

struct PendingFk {
    name: Option<String>,
    columns: Vec<usize>,
    table: String,
    referred: Vec<String>,
    on_delete: FkAction,
    on_update: FkAction,
}

fn resolve_fk(c: &Catalog, t: &TableDef, fk: PendingFk) -> Result<ForeignKey> {
    let parent: &TableDef = if fk.table == t.name {
        t
    } else {
        c.table(&fk.table)?
    };
    let ref_columns: Vec<usize> = if fk.referred.is_empty() {
        if parent.pk.is_empty() {
            return Err(Error::InvalidTableDefinition(format!(
                "there is no primary key for referenced table \"{}\"",
                parent.name
            )));
        }
        parent.pk.clone()
    } else {
        fk.referred
            .iter()
            .map(|n| {
                parent
                    .column_index(n)
                    .ok_or_else(|| Error::UndefinedColumn(n.clone()))
            })
            .collect::<Result<_>>()?
    };
    if ref_columns.len() != fk.columns.len() {
        return Err(Error::InvalidTableDefinition(
            "number of referencing and referenced columns for foreign key disagree".into(),
        ));
    }
    if ref_columns != parent.pk
        && !parent
            .indexes
            .iter()
            .any(|i| i.unique && i.columns == ref_columns)
    {
        return Err(Error::InvalidTableDefinition(format!(
            "there is no unique constraint matching given keys for referenced table \"{}\"",
            parent.name
        )));
    }
    for (&a, &b) in fk.columns.iter().zip(&ref_columns) {
        let (ta, tb) = (t.columns[a].ty, parent.columns[b].ty);
        if DataType::common(ta, tb).is_none() {
            return Err(Error::TypeMismatch(format!(
                "foreign key columns {} and {} are of incompatible types {ta} and {tb}",
                t.columns[a].name, parent.columns[b].name
            )));
        }
    }
    if matches!(fk.on_delete, FkAction::SetNull) || matches!(fk.on_update, FkAction::SetNull) {
        if let Some(&c) = fk.columns.iter().find(|&&c| !t.columns[c].nullable) {
            return Err(Error::InvalidTableDefinition(format!(
                "SET NULL on NOT NULL column \"{}\"",
                t.columns[c].name
            )));
        }
    }
    let name = fk
        .name
        .unwrap_or_else(|| format!("{}_{}_fkey", t.name, names_of(t, &fk.columns)));
    Ok(ForeignKey {
        name,
        columns: fk.columns,
        ref_table: parent.id,
        ref_columns,
        on_delete: fk.on_delete,
        on_update: fk.on_update,
    })
}

fn create_table(ctx: &mut StmtCtx<'_>, c: &mut Catalog, ct: &ast::CreateTable) -> Result<()> {
    if ct.or_replace
        || ct.temporary
        || ct.external
        || ct.query.is_some()
        || ct.like.is_some()
        || ct.clone.is_some()
        || ct.inherits.is_some()
        || ct.partition_of.is_some()
    {
        return Err(Error::Unsupported(
            "CREATE TABLE variant (TEMPORARY / AS / LIKE / OR REPLACE / INHERITS)".into(),
        ));
    }
    let name = object_name(&ct.name)?;
    if c.name_taken(&name) {
        if ct.if_not_exists && c.tables.contains_key(&name) {
            return Ok(());
        }
        return Err(Error::DuplicateObject {
            kind: "relation",
            name,
        });
    }
    let id = new_id(c);
    let mut t = TableDef {
        id,
        name: name.clone(),
        columns: Vec::new(),
        pk: Vec::new(),
        pk_name: format!("{name}_pkey"),
        indexes: Vec::new(),
        checks: Vec::new(),
        fks: Vec::new(),
        next_index_id: 1,
    };
    let mut uniques: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    let mut fks: Vec<PendingFk> = Vec::new();
    let mut checks: Vec<(Option<String>, String, Option<usize>)> = Vec::new();
    let mut serials = Vec::new();
    let mut pk_set = false;
    for cd in &ct.columns {
        let cname = ident(&cd.name);
        if t.column_index(&cname).is_some() {
            return Err(Error::DuplicateObject {
                kind: "column",
                name: cname,
            });
        }
        let (ty, serial) = sql_type(&cd.data_type)?;
        let pos = t.columns.len();
        let mut col = ColumnDef {
            name: cname.clone(),
            ty,
            nullable: true,
            default: None,
            fill: Value::Null,
        };
        if serial {
            serials.push(pos);
            col.nullable = false;
        }
        for opt in &cd.options {
            let cons_name = opt.name.as_ref().map(ident);
            match &opt.option {
                ast::ColumnOption::Null => col.nullable = true,
                ast::ColumnOption::NotNull => col.nullable = false,
                ast::ColumnOption::Default(e) => {
                    if serial {
                        return Err(Error::InvalidTableDefinition(format!(
                            "multiple default values specified for column \"{cname}\""
                        )));
                    }
                    col.default = Some(e.to_string());
                }
                ast::ColumnOption::PrimaryKey(_) => {
                    if pk_set {
                        return Err(Error::InvalidTableDefinition(format!(
                            "multiple primary keys for table \"{name}\" are not allowed"
                        )));
                    }
                    pk_set = true;
                    t.pk = vec![pos];
                    if let Some(n) = cons_name {
                        t.pk_name = n;
                    }
                    col.nullable = false;
                }
                ast::ColumnOption::Unique(_) => uniques.push((cons_name, vec![pos])),
                ast::ColumnOption::ForeignKey(fk) => fks.push(PendingFk {
                    name: cons_name.or_else(|| fk.name.as_ref().map(ident)),
                    columns: vec![pos],
                    table: object_name(&fk.foreign_table)?,
                    referred: fk.referred_columns.iter().map(ident).collect(),
                    on_delete: referential(&fk.on_delete),
                    on_update: referential(&fk.on_update),
                }),
                ast::ColumnOption::Check(ch) => checks.push((
                    cons_name.or_else(|| ch.name.as_ref().map(ident)),
                    ch.expr.to_string(),
                    Some(pos),
                )),
                other => return Err(Error::Unsupported(format!("column option {other}"))),
            }
        }
        t.columns.push(col);
    }
    if t.columns.is_empty() {
        return Err(Error::InvalidTableDefinition(
            "a table needs at least one column".into(),
        ));
    }
    for tc in &ct.constraints {
        match tc {
            ast::TableConstraint::PrimaryKey(pk) => {
                if pk_set {
                    return Err(Error::InvalidTableDefinition(format!(
                        "multiple primary keys for table \"{name}\" are not allowed"
                    )));
                }
                pk_set = true;
                t.pk = index_columns(&t, &pk.columns)?;
                if let Some(n) = &pk.name {
                    t.pk_name = ident(n);
                }
                for &i in &t.pk.clone() {
                    t.columns[i].nullable = false;
                }
            }
            ast::TableConstraint::Unique(u) => {
                uniques.push((u.name.as_ref().map(ident), index_columns(&t, &u.columns)?))
            }
            ast::TableConstraint::ForeignKey(fk) => fks.push(PendingFk {
                name: fk.name.as_ref().map(ident),
                columns: fk
                    .columns
                    .iter()
                    .map(|i| {
                        t.column_index(&ident(i))
                            .ok_or_else(|| Error::UndefinedColumn(ident(i)))
                    })
                    .collect::<Result<_>>()?,
                table: object_name(&fk.foreign_table)?,
                referred: fk.referred_columns.iter().map(ident).collect(),
                on_delete: referential(&fk.on_delete),
                on_update: referential(&fk.on_update),
            }),
            ast::TableConstraint::Check(ch) => {
                checks.push((ch.name.as_ref().map(ident), ch.expr.to_string(), None))
            }
            other => return Err(Error::Unsupported(format!("table constraint {other}"))),
        }
    }
    // SERIAL columns own a sequence.
    for pos in serials {
        let sname = format!("{name}_{}_seq", t.columns[pos].name);
        if c.name_taken(&sname) {
            return Err(Error::DuplicateObject {
                kind: "relation",
                name: sname,
            });
        }
        let sid = new_id(c);
        add_sequence(
            ctx,
            c,
            SequenceDef {
                id: sid,
                name: sname.clone(),
                start: 1,
                increment: 1,
            },
        )?;
        t.columns[pos].default = Some(format!("nextval('{sname}')"));
    }
    for (n, cols) in uniques {
        if cols == t.pk || t.indexes.iter().any(|i| i.columns == cols) {
            continue;
        }
        let iname = n.unwrap_or_else(|| format!("{name}_{}_key", names_of(&t, &cols)));
        if c.name_taken(&iname) || t.index(&iname).is_some() {
            return Err(Error::DuplicateObject {
                kind: "relation",
                name: iname,
            });
        }
        let iid = t.next_index_id;
        t.next_index_id += 1;
        t.indexes.push(IndexDef {
            id: iid,
            name: iname,
            columns: cols,
            unique: true,
        });
    }
    for (i, (n, sql, col)) in checks.into_iter().enumerate() {
        let cname = n.unwrap_or_else(|| match col {
            Some(p) => format!("{name}_{}_check", t.columns[p].name),
            None if i == 0 => format!("{name}_check"),
            None => format!("{name}_check{i}"),
        });
        t.checks.push(CheckDef { name: cname, sql });
    }
    for fk in fks {
        let f = resolve_fk(c, &t, fk)?;
        t.fks.push(f);
    }
    validate(c, &t)?;
    save_table(ctx, c, t)
}

/// Binds a table's defaults and checks once, so errors surface at DDL time.
fn validate(c: &Catalog, t: &TableDef) -> Result<()> {
    let comp = compile(c, t)?;
    for (d, col) in comp.defaults.iter().zip(&t.columns) {
        if let Some(crate::expr::Expr::Literal(v)) = d {
            exec::assign(v.clone(), col.ty)?;
        }
    }
    Ok(())
}

/// All rows of a table with their keys.
fn all_rows(ctx: &StmtCtx<'_>, t: &TableDef) -> Result<Vec<(Vec<u8>, Row)>> {
    let cx = ctx.cx();
    let env = cx.env();
    let mut cur = Cursor::new(t, &Access::default(), &env)?;
    let mut v = Vec::new();
    while let Some(r) = cur.next(&cx)? {
        v.push(r);
    }
    Ok(v)
}

/// Writes the entries of index `idx` for every row, enforcing uniqueness.
fn build_index(ctx: &mut StmtCtx<'_>, t: &TableDef, idx: &IndexDef) -> Result<()> {
    for (k, row) in all_rows(ctx, t)? {
        let pk = k[8..].to_vec();
        let (ik, unique_key) = store::index_entry(t, idx, &row, &pk)?;
        if unique_key && ctx.kv.get(&ctx.shared.data, &ik)?.is_some() {
            return Err(Error::UniqueViolation(idx.name.clone()));
        }
        ctx.kv.put(&ctx.shared.data, ik, &pk)?;
    }
    Ok(())
}

fn create_index(ctx: &mut StmtCtx<'_>, c: &mut Catalog, ci: &ast::CreateIndex) -> Result<()> {
    if ci.using.is_some()
        || !ci.include.is_empty()
        || ci.predicate.is_some()
        || ci.concurrently
        || !ci.with.is_empty()
        || ci.nulls_distinct == Some(false)
    {
        return Err(Error::Unsupported(
            "index options (USING / INCLUDE / WHERE / CONCURRENTLY / WITH)".into(),
        ));
    }
    let tname = object_name(&ci.table_name)?;
    let mut t = c.table(&tname)?.as_ref().clone();
    let cols = index_columns(&t, &ci.columns)?;
    let name = match &ci.name {
        Some(n) => object_name(n)?,
        None => format!("{tname}_{}_idx", names_of(&t, &cols)),
    };
    if c.name_taken(&name) {
        if ci.if_not_exists {
            return Ok(());
        }
        return Err(Error::DuplicateObject {
            kind: "relation",
            name,
        });
    }
    let idx = IndexDef {
        id: t.next_index_id,
        name,
        columns: cols,
        unique: ci.unique,
    };
    t.next_index_id += 1;
    build_index(ctx, &t, &idx)?;
    t.indexes.push(idx);
    save_table(ctx, c, t)
}

fn create_view(ctx: &mut StmtCtx<'_>, c: &mut Catalog, cv: &ast::CreateView) -> Result<()> {
    if cv.materialized || cv.temporary || cv.or_alter {
        return Err(Error::Unsupported("MATERIALIZED / TEMPORARY views".into()));
    }
    let name = object_name(&cv.name)?;
    if c.name_taken(&name) {
        if cv.if_not_exists {
            return Ok(());
        }
        if !(cv.or_replace && c.views.contains_key(&name)) {
            return Err(Error::DuplicateObject {
                kind: "relation",
                name,
            });
        }
    }
    let columns: Vec<String> = cv.columns.iter().map(|v| ident(&v.name)).collect();
    let sql = cv.query.to_string();
    let mut b = Binder::new(c);
    let qp = b.plan_query(&cv.query)?;
    if columns.len() > qp.cols.len() {
        return Err(Error::InvalidStatement(
            "CREATE VIEW specifies more column names than columns".into(),
        ));
    }
    let v = ViewDef {
        name: name.clone(),
        sql,
        columns,
    };
    ctx.kv
        .put(&ctx.shared.cat, keys::view(&name), catalog::encode_view(&v))?;
    c.views.insert(name, Arc::new(v));
    Ok(())
}

fn drop_table_data(ctx: &mut StmtCtx<'_>, id: u32) -> Result<()> {
    let start = codec::prefix(id, 0);
    let end = match id.checked_add(1) {
        Some(n) => codec::prefix(n, 0).to_vec(),
        None => vec![0xFF; 9],
    };
    ctx.kv.delete_range(&ctx.shared.data, start, end)?;
    Ok(())
}

fn owned_sequence(col: &ColumnDef) -> Option<String> {
    let d = col.default.as_deref()?;
    let inner = d.strip_prefix("nextval('")?.strip_suffix("')")?;
    Some(inner.to_string())
}

fn drop_object(
    ctx: &mut StmtCtx<'_>,
    c: &mut Catalog,
    kind: ast::ObjectType,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> Result<()> {
    match kind {
        ast::ObjectType::Table => {
            let Some(t) = c.tables.get(name).cloned() else {
                if if_exists {
                    return Ok(());
                }
                return Err(Error::UndefinedTable(name.to_string()));
            };
            let dependents: Vec<Arc<TableDef>> = c
                .referencing(t.id)
                .into_iter()
                .filter(|d| d.id != t.id)
                .collect();
            if !dependents.is_empty() {
                if !cascade {
                    return Err(Error::DependentObjects(format!(
                        "table {name} (referenced by {})",
                        dependents[0].name
                    )));
                }
                for d in dependents {
                    let mut d = d.as_ref().clone();
                    d.fks.retain(|f| f.ref_table != t.id);
                    save_table(ctx, c, d)?;
                }
            }
            drop_table_data(ctx, t.id)?;
            for col in &t.columns {
                if let Some(s) = owned_sequence(col) {
                    if let Some(seq) = c.sequences.remove(&s) {
                        ctx.kv.delete(&ctx.shared.cat, keys::sequence(seq.id))?;
                    }
                }
            }
            ctx.kv.delete(&ctx.shared.cat, keys::table(t.id))?;
            c.tables.remove(name);
        }
        ast::ObjectType::Index => {
            let Some(owner) = c.index_owner(name).cloned() else {
                if if_exists {
                    return Ok(());
                }
                return Err(Error::UndefinedObject {
                    kind: "index",
                    name: name.to_string(),
                });
            };
            let mut t = owner.as_ref().clone();
            let idx = t
                .index(name)
                .cloned()
                .ok_or_else(|| Error::UndefinedObject {
                    kind: "index",
                    name: name.to_string(),
                })?;
            if c.tables.values().any(|o| {
                o.fks
                    .iter()
                    .any(|f| f.ref_table == t.id && f.ref_columns == idx.columns)
                    && idx.unique
            }) && !cascade
            {
                return Err(Error::DependentObjects(format!(
                    "index {name} (a foreign key needs it)"
                )));
            }
            t.indexes.retain(|i| i.name != name);
            let start = codec::prefix(t.id, idx.id);
            let end = codec::prefix_end(&start).unwrap_or_else(|| vec![0xFF; 9]);
            ctx.kv.delete_range(&ctx.shared.data, start, end)?;
            save_table(ctx, c, t)?;
        }
        ast::ObjectType::View => {
            if c.views.remove(name).is_none() {
                if if_exists {
                    return Ok(());
                }
                return Err(Error::UndefinedTable(name.to_string()));
            }
            ctx.kv.delete(&ctx.shared.cat, keys::view(name))?;
        }
        ast::ObjectType::Sequence => {
            let Some(s) = c.sequences.remove(name) else {
                if if_exists {
                    return Ok(());
                }
                return Err(Error::UndefinedObject {
                    kind: "sequence",
                    name: name.to_string(),
                });
            };
            ctx.kv.delete(&ctx.shared.cat, keys::sequence(s.id))?;
        }
        other => return Err(Error::Unsupported(format!("DROP {other}"))),
    }
    Ok(())
}

/// Rewrites every row and index entry of `t` after a change of its column layout.
fn rewrite(
    ctx: &mut StmtCtx<'_>,
    old: &TableDef,
    new: &TableDef,
    map: impl Fn(Row) -> Row,
) -> Result<()> {
    let rows = all_rows(ctx, old)?;
    drop_table_data(ctx, old.id)?;
    for (k, r) in rows {
        let pk = k[8..].to_vec();
        let row = map(r);
        ctx.kv.put(
            &ctx.shared.data,
            store::row_key(new, &pk),
            store::encode_row(new, &row),
        )?;
        for idx in &new.indexes {
            let (ik, _) = store::index_entry(new, idx, &row, &pk)?;
            ctx.kv.put(&ctx.shared.data, ik, &pk)?;
        }
    }
    Ok(())
}

fn alter_table(ctx: &mut StmtCtx<'_>, c: &mut Catalog, at: &ast::AlterTable) -> Result<()> {
    let name = object_name(&at.name)?;
    let Some(orig) = c.tables.get(&name).cloned() else {
        if at.if_exists {
            return Ok(());
        }
        return Err(Error::UndefinedTable(name));
    };
    let mut t = orig.as_ref().clone();
    for op in &at.operations {
        use ast::AlterTableOperation as O;
        match op {
            O::AddColumn {
                if_not_exists,
                column_def,
                column_position,
                ..
            } => {
                if column_position.is_some() {
                    return Err(Error::Unsupported("column position".into()));
                }
                let cname = ident(&column_def.name);
                if t.column_index(&cname).is_some() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(Error::DuplicateObject {
                        kind: "column",
                        name: cname,
                    });
                }
                let (ty, serial) = sql_type(&column_def.data_type)?;
                if serial {
                    return Err(Error::Unsupported("ADD COLUMN of a serial type".into()));
                }
                let mut col = ColumnDef {
                    name: cname.clone(),
                    ty,
                    nullable: true,
                    default: None,
                    fill: Value::Null,
                };
                for o in &column_def.options {
                    match &o.option {
                        ast::ColumnOption::Null => col.nullable = true,
                        ast::ColumnOption::NotNull => col.nullable = false,
                        ast::ColumnOption::Default(e) => col.default = Some(e.to_string()),
                        other => {
                            return Err(Error::Unsupported(format!("ADD COLUMN option {other}")))
                        }
                    }
                }
                if let Some(d) = &col.default {
                    let mut b = Binder::new(c);
                    let (x, _) = b.bind_const(&parse::parse_expr(d)?)?;
                    if !x.is_row_independent() {
                        return Err(Error::Unsupported(
                            "ADD COLUMN with a volatile default".into(),
                        ));
                    }
                    let cx = ctx.cx();
                    col.fill = exec::assign(x.eval(&[], &cx.env())?, ty)?;
                }
                if !col.nullable && col.fill.is_null() && !all_rows(ctx, &t)?.is_empty() {
                    return Err(Error::NotNullViolation {
                        table: t.name.clone(),
                        column: cname,
                    });
                }
                t.columns.push(col);
            }
            O::DropColumn {
                column_names,
                if_exists,
                drop_behavior,
                ..
            } => {
                let cascade = matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                for n in column_names {
                    let cname = ident(n);
                    let Some(pos) = t.column_index(&cname) else {
                        if *if_exists {
                            continue;
                        }
                        return Err(Error::UndefinedColumn(cname));
                    };
                    if t.columns.len() == 1 {
                        return Err(Error::InvalidTableDefinition(
                            "cannot drop the only column".into(),
                        ));
                    }
                    if t.pk.contains(&pos) {
                        return Err(Error::DependentObjects(format!(
                            "column {cname} (part of the primary key)"
                        )));
                    }
                    if t.fks.iter().any(|f| f.columns.contains(&pos)) && !cascade {
                        return Err(Error::DependentObjects(format!(
                            "column {cname} (used by a foreign key)"
                        )));
                    }
                    if c.tables.values().any(|o| {
                        o.fks
                            .iter()
                            .any(|f| f.ref_table == t.id && f.ref_columns.contains(&pos))
                    }) {
                        return Err(Error::DependentObjects(format!(
                            "column {cname} (referenced by a foreign key)"
                        )));
                    }
                    let before = t.clone();
                    let shift = |i: usize| if i > pos { i - 1 } else { i };
                    t.columns.remove(pos);
                    t.indexes.retain(|i| !i.columns.contains(&pos));
                    t.fks.retain(|f| !f.columns.contains(&pos));
                    for i in &mut t.indexes {
                        i.columns = i.columns.iter().map(|&x| shift(x)).collect();
                    }
                    for f in &mut t.fks {
                        f.columns = f.columns.iter().map(|&x| shift(x)).collect();
                    }
                    t.pk = t.pk.iter().map(|&x| shift(x)).collect();
                    // CHECKs that mention the column go with it.
                    let mut keep = Vec::new();
                    for ch in std::mem::take(&mut t.checks) {
                        let mut b = Binder::new(c);
                        b.set_scope(table_scope(&t, &t.name));
                        if b.bind_bool(&parse::parse_expr(&ch.sql)?, "CHECK").is_ok() {
                            keep.push(ch);
                        }
                    }
                    t.checks = keep;
                    rewrite(ctx, &before, &t, |mut r| {
                        r.remove(pos);
                        r
                    })?;
                }
            }
            O::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let (old, new) = (ident(old_column_name), ident(new_column_name));
                let pos = t
                    .column_index(&old)
                    .ok_or_else(|| Error::UndefinedColumn(old.clone()))?;
                if t.column_index(&new).is_some() {
                    return Err(Error::DuplicateObject {
                        kind: "column",
                        name: new,
                    });
                }
                t.columns[pos].name = new;
                for ch in &t.checks {
                    let mut b = Binder::new(c);
                    b.set_scope(table_scope(&t, &t.name));
                    if b.bind_bool(&parse::parse_expr(&ch.sql)?, "CHECK").is_err() {
                        return Err(Error::Unsupported(format!(
                            "renaming a column used by CHECK constraint \"{}\"",
                            ch.name
                        )));
                    }
                }
            }
            O::RenameTable { table_name } => {
                let new = match table_name {
                    ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => {
                        object_name(n)?
                    }
                };
                if c.name_taken(&new) {
                    return Err(Error::DuplicateObject {
                        kind: "relation",
                        name: new,
                    });
                }
                c.tables.remove(&t.name);
                t.name = new;
            }
            O::AddConstraint { constraint, .. } => {
                match constraint {
                    ast::TableConstraint::Unique(u) => {
                        let cols = index_columns(&t, &u.columns)?;
                        let iname =
                            u.name.as_ref().map(ident).unwrap_or_else(|| {
                                format!("{}_{}_key", t.name, names_of(&t, &cols))
                            });
                        if c.name_taken(&iname) || t.index(&iname).is_some() {
                            return Err(Error::DuplicateObject {
                                kind: "relation",
                                name: iname,
                            });
                        }
                        let idx = IndexDef {
                            id: t.next_index_id,
                            name: iname,
                            columns: cols,
                            unique: true,
                        };
                        t.next_index_id += 1;
                        build_index(ctx, &t, &idx)?;
                        t.indexes.push(idx);
                    }
                    ast::TableConstraint::Check(ch) => {
                        let cname =
                            ch.name.as_ref().map(ident).unwrap_or_else(|| {
                                format!("{}_check{}", t.name, t.checks.len() + 1)
                            });
                        t.checks.push(CheckDef {
                            name: cname.clone(),
                            sql: ch.expr.to_string(),
                        });
                        let comp = compile(c, &t)?;
                        let rows = all_rows(ctx, &t)?;
                        let cx = ctx.cx();
                        if let Some((_, e)) = comp.checks.last() {
                            for (_, r) in &rows {
                                if e.eval(r, &cx.env())?.truth()? == Some(false) {
                                    return Err(Error::CheckViolation {
                                        table: t.name.clone(),
                                        constraint: cname,
                                    });
                                }
                            }
                        }
                    }
                    ast::TableConstraint::ForeignKey(fk) => {
                        let pending = PendingFk {
                            name: fk.name.as_ref().map(ident),
                            columns: fk
                                .columns
                                .iter()
                                .map(|i| {
                                    t.column_index(&ident(i))
                                        .ok_or_else(|| Error::UndefinedColumn(ident(i)))
                                })
                                .collect::<Result<_>>()?,
                            table: object_name(&fk.foreign_table)?,
                            referred: fk.referred_columns.iter().map(ident).collect(),
                            on_delete: referential(&fk.on_delete),
                            on_update: referential(&fk.on_update),
                        };
                        let f = resolve_fk(c, &t, pending)?;
                        let parent = if f.ref_table == t.id {
                            Arc::new(t.clone())
                        } else {
                            c.table_by_id(f.ref_table)
                                .cloned()
                                .ok_or_else(|| Error::UndefinedTable("referenced table".into()))?
                        };
                        for (_, r) in all_rows(ctx, &t)? {
                            if f.columns.iter().any(|&i| r[i].is_null()) {
                                continue;
                            }
                            let found = all_rows(ctx, &parent)?.iter().any(|(_, p)| {
                                f.columns.iter().zip(&f.ref_columns).all(|(&a, &b)| {
                                    r[a].sql_cmp(&p[b]) == Some(std::cmp::Ordering::Equal)
                                })
                            });
                            if !found {
                                return Err(Error::ForeignKeyViolation(format!("insert or update on table \"{}\" violates foreign key constraint \"{}\"", t.name, f.name)));
                            }
                        }
                        t.fks.push(f);
                    }
                    other => return Err(Error::Unsupported(format!("ADD {other}"))),
                }
            }
            O::DropConstraint {
                name: cn,
                if_exists,
                ..
            } => {
                let cn = ident(cn);
                let before = (t.checks.len(), t.fks.len(), t.indexes.len());
                t.checks.retain(|x| x.name != cn);
                t.fks.retain(|x| x.name != cn);
                if let Some(idx) = t.index(&cn).cloned() {
                    let start = codec::prefix(t.id, idx.id);
                    let end = codec::prefix_end(&start).unwrap_or_else(|| vec![0xFF; 9]);
                    ctx.kv.delete_range(&ctx.shared.data, start, end)?;
                    t.indexes.retain(|i| i.name != cn);
                }
                if before == (t.checks.len(), t.fks.len(), t.indexes.len()) && !if_exists {
                    return Err(Error::UndefinedObject {
                        kind: "constraint",
                        name: cn,
                    });
                }
            }
            O::AlterColumn { column_name, op } => {
                let cname = ident(column_name);
                let pos = t
                    .column_index(&cname)
                    .ok_or_else(|| Error::UndefinedColumn(cname.clone()))?;
                match op {
                    ast::AlterColumnOperation::SetNotNull => {
                        if all_rows(ctx, &t)?.iter().any(|(_, r)| r[pos].is_null()) {
                            return Err(Error::NotNullViolation {
                                table: t.name.clone(),
                                column: cname,
                            });
                        }
                        t.columns[pos].nullable = false;
                    }
                    ast::AlterColumnOperation::DropNotNull => {
                        if t.pk.contains(&pos) {
                            return Err(Error::InvalidTableDefinition(format!(
                                "column \"{cname}\" is in a primary key"
                            )));
                        }
                        t.columns[pos].nullable = true;
                    }
                    ast::AlterColumnOperation::SetDefault { value } => {
                        t.columns[pos].default = Some(value.to_string())
                    }
                    ast::AlterColumnOperation::DropDefault => t.columns[pos].default = None,
                    other => return Err(Error::Unsupported(format!("ALTER COLUMN {other}"))),
                }
            }
            other => return Err(Error::Unsupported(format!("ALTER TABLE {other}"))),
        }
    }
    validate(c, &t)?;
    save_table(ctx, c, t)
}

fn type_sql(t: DataType) -> String {
    t.sql_name()
}

/// The schema as CREATE statements, optionally for one table or view.
pub(crate) fn schema_sql(c: &Catalog, only: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for t in c
        .tables
        .values()
        .filter(|t| only.is_none_or(|o| o == t.name))
    {
        let mut parts: Vec<String> = t
            .columns
            .iter()
            .map(|col| {
                let mut s = format!("  {} {}", col.name, type_sql(col.ty));
                if !col.nullable
                    && !t
                        .pk
                        .contains(&t.column_index(&col.name).unwrap_or(usize::MAX))
                {
                    s.push_str(" NOT NULL");
                }
                if let Some(d) = &col.default {
                    s.push_str(&format!(" DEFAULT {d}"));
                }
                s
            })
            .collect();
        if !t.pk.is_empty() {
            parts.push(format!(
                "  CONSTRAINT {} PRIMARY KEY ({})",
                t.pk_name,
                t.pk.iter()
                    .map(|&i| t.columns[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for ch in &t.checks {
            parts.push(format!("  CONSTRAINT {} CHECK ({})", ch.name, ch.sql));
        }
        for f in &t.fks {
            let parent = c.table_by_id(f.ref_table);
            let pname = parent.map_or("?".to_string(), |p| p.name.clone());
            let pcols = parent.map_or(String::new(), |p| {
                f.ref_columns
                    .iter()
                    .map(|&i| p.columns[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            let act = |a: FkAction, w: &str| match a {
                FkAction::NoAction => String::new(),
                FkAction::Restrict => format!(" ON {w} RESTRICT"),
                FkAction::Cascade => format!(" ON {w} CASCADE"),
                FkAction::SetNull => format!(" ON {w} SET NULL"),
                FkAction::SetDefault => format!(" ON {w} SET DEFAULT"),
            };
            parts.push(format!(
                "  CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {pname} ({pcols}){}{}",
                f.name,
                f.columns
                    .iter()
                    .map(|&i| t.columns[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                act(f.on_delete, "DELETE"),
                act(f.on_update, "UPDATE")
            ));
        }
        out.push(format!(
            "CREATE TABLE {} (\n{}\n);",
            t.name,
            parts.join(",\n")
        ));
        for i in &t.indexes {
            out.push(format!(
                "CREATE {}INDEX {} ON {} ({});",
                if i.unique { "UNIQUE " } else { "" },
                i.name,
                t.name,
                i.columns
                    .iter()
                    .map(|&x| t.columns[x].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for v in c
        .views
        .values()
        .filter(|v| only.is_none_or(|o| o == v.name))
    {
        let cols = if v.columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.columns.join(", "))
        };
        out.push(format!("CREATE VIEW {}{cols} AS {};", v.name, v.sql));
    }
    out
}
