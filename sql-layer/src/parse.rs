//! SQL text → sqlparser AST. The PostgreSQL dialect is tried first; text it rejects is tried
//! with the generic dialect before the PostgreSQL error is reported.

use sqlparser::ast;
use sqlparser::dialect::{GenericDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use crate::error::{Error, Result};

/// Parses a script of statements.
pub fn parse(sql: &str) -> Result<Vec<ast::Statement>> {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(v) => Ok(v),
        Err(pg) => {
            Parser::parse_sql(&GenericDialect {}, sql).map_err(|_| Error::Syntax(pg.to_string()))
        }
    }
}

/// Parses one query (view bodies).
pub fn parse_query(sql: &str) -> Result<ast::Query> {
    let mut stmts = parse(sql)?;
    match (stmts.pop(), stmts.is_empty()) {
        (Some(ast::Statement::Query(q)), true) => Ok(*q),
        _ => Err(Error::Corrupt(format!(
            "stored view text is not one query: {sql}"
        ))),
    }
}

/// Parses one expression (DEFAULT and CHECK text).
pub fn parse_expr(sql: &str) -> Result<ast::Expr> {
    let dialect = PostgreSqlDialect {};
    let mut p = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| Error::Syntax(e.to_string()))?;
    p.parse_expr().map_err(|e| Error::Syntax(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_errors() {
        assert_eq!(parse("SELECT 1; SELECT 2").unwrap().len(), 2);
        let e = parse("SELEC 1").unwrap_err();
        assert_eq!(e.sqlstate(), "42601");
        assert!(parse_expr("a + 1 > 2").is_ok());
        assert!(parse_query("SELECT 1").is_ok());
        assert!(parse_query("DELETE FROM t").is_err());
    }
}
