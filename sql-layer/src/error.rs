//! The one error type of the SQL layer. Every variant carries a PostgreSQL-compatible
//! SQLSTATE code ([`Error::sqlstate`]) so clients can react by class: `23xxx` constraint
//! violations, `22xxx` bad data, `42xxx` bad statements, `40xxx` "retry the transaction".

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong executing SQL.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The statement text does not parse (42601).
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The statement parses but uses something Strata does not implement (0A000).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Unknown table or view (42P01).
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    /// Unknown column (42703).
    #[error("column \"{0}\" does not exist")]
    UndefinedColumn(String),
    /// Unknown index, sequence, savepoint target or other named object (42704).
    #[error("{kind} \"{name}\" does not exist")]
    UndefinedObject {
        /// What kind of object ("index", "sequence", ...).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// Unknown function, or no function of that name takes these argument types (42883).
    #[error("function {0} does not exist")]
    UndefinedFunction(String),
    /// A table, index, view, sequence or column of that name exists already (42P07 / 42701).
    #[error("{kind} \"{name}\" already exists")]
    DuplicateObject {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A column name matches more than one column in scope (42702).
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    /// Operand types do not fit the operation (42804).
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// A column is used outside GROUP BY / aggregates, or aggregates are nested (42803).
    #[error("grouping error: {0}")]
    Grouping(String),
    /// A structurally invalid statement: wrong number of values, bad ORDER BY position, ... (42601).
    #[error("invalid statement: {0}")]
    InvalidStatement(String),
    /// A table definition that cannot work (42P16).
    #[error("invalid table definition: {0}")]
    InvalidTableDefinition(String),
    /// Text that does not convert to the target type (22P02).
    #[error("invalid input syntax for type {ty}: \"{text}\"")]
    InvalidText {
        /// Target type.
        ty: String,
        /// The offending text.
        text: String,
    },
    /// A date or timestamp that does not exist or parse (22008).
    #[error("date/time value out of range or malformed: {0}")]
    DateTime(String),
    /// A number outside its type's range, including integer overflow (22003).
    #[error("{0} out of range")]
    OutOfRange(String),
    /// Division (or modulo) by zero (22012).
    #[error("division by zero")]
    DivisionByZero,
    /// A string longer than its VARCHAR(n)/CHAR(n) column (22001).
    #[error("value too long for type {0}")]
    StringTooLong(String),
    /// An argument value a function cannot take (22023).
    #[error("invalid parameter value: {0}")]
    InvalidParameter(String),
    /// A scalar subquery returned more than one row (21000).
    #[error("more than one row returned by a subquery used as an expression")]
    CardinalityViolation,
    /// NULL into a NOT NULL column (23502).
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// Duplicate key in a primary key or unique index (23505).
    #[error("duplicate key value violates unique constraint \"{0}\"")]
    UniqueViolation(String),
    /// A foreign key's referenced row is missing, or a referenced row is still referenced (23503).
    #[error("foreign key violation: {0}")]
    ForeignKeyViolation(String),
    /// A CHECK constraint evaluated to false (23514).
    #[error("new row for relation \"{table}\" violates check constraint \"{constraint}\"")]
    CheckViolation {
        /// Table name.
        table: String,
        /// Constraint name.
        constraint: String,
    },
    /// DROP of an object others depend on (2BP01).
    #[error("cannot drop {0} because other objects depend on it")]
    DependentObjects(String),
    /// Serialization failure: a concurrent transaction changed data this one read or wrote.
    /// Retry the whole transaction (40001).
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    /// This transaction was chosen as a deadlock victim and rolled back. Retry it (40P01).
    #[error("deadlock detected")]
    Deadlock,
    /// A row lock was not granted in time (or NOWAIT found it taken) (55P03).
    #[error("could not obtain lock on row")]
    LockNotAvailable,
    /// An earlier statement of this transaction failed; only ROLLBACK is accepted (25P02).
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    TransactionAborted,
    /// A command that is not allowed inside (or outside) a transaction block (25001 / 25P01).
    #[error("{0}")]
    TransactionState(String),
    /// ROLLBACK TO / RELEASE of an unknown savepoint (3B001).
    #[error("savepoint \"{0}\" does not exist")]
    NoSuchSavepoint(String),
    /// Wrong number or kind of bound parameters (42P02).
    #[error("parameter error: {0}")]
    Parameter(String),
    /// Stored bytes that do not decode: catalog or row corruption (XX001).
    #[error("data corrupted: {0}")]
    Corrupt(String),
    /// The storage engine failed (58030 for I/O, XX000 otherwise).
    #[error("storage error: {0}")]
    Storage(kv_api::Error),
}

impl Error {
    /// The SQLSTATE code of this error (five characters, as PostgreSQL uses them).
    ///
    /// ```
    /// assert_eq!(sql_layer::Error::DivisionByZero.sqlstate(), "22012");
    /// assert_eq!(sql_layer::Error::SerializationFailure.sqlstate(), "40001");
    /// ```
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::Syntax(_) | Error::InvalidStatement(_) => "42601",
            Error::Unsupported(_) => "0A000",
            Error::UndefinedTable(_) => "42P01",
            Error::UndefinedColumn(_) => "42703",
            Error::UndefinedObject { .. } => "42704",
            Error::UndefinedFunction(_) => "42883",
            Error::DuplicateObject { kind, .. } => match *kind {
                "column" => "42701",
                "table" | "relation" | "view" | "index" | "sequence" => "42P07",
                _ => "42710",
            },
            Error::AmbiguousColumn(_) => "42702",
            Error::TypeMismatch(_) => "42804",
            Error::Grouping(_) => "42803",
            Error::InvalidTableDefinition(_) => "42P16",
            Error::InvalidText { .. } => "22P02",
            Error::DateTime(_) => "22008",
            Error::OutOfRange(_) => "22003",
            Error::DivisionByZero => "22012",
            Error::StringTooLong(_) => "22001",
            Error::InvalidParameter(_) => "22023",
            Error::CardinalityViolation => "21000",
            Error::NotNullViolation { .. } => "23502",
            Error::UniqueViolation(_) => "23505",
            Error::ForeignKeyViolation(_) => "23503",
            Error::CheckViolation { .. } => "23514",
            Error::DependentObjects(_) => "2BP01",
            Error::SerializationFailure => "40001",
            Error::Deadlock => "40P01",
            Error::LockNotAvailable => "55P03",
            Error::TransactionAborted => "25P02",
            Error::TransactionState(_) => "25001",
            Error::NoSuchSavepoint(_) => "3B001",
            Error::Parameter(_) => "42P02",
            Error::Corrupt(_) => "XX001",
            Error::Storage(kv_api::Error::Storage(_)) => "58030",
            Error::Storage(_) => "XX000",
        }
    }

    /// True when running the whole transaction again may succeed: serialization failures,
    /// deadlocks and lock timeouts (SQLSTATE class 40, and 55P03).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::SerializationFailure | Error::Deadlock | Error::LockNotAvailable
        )
    }
}

impl From<kv_api::Error> for Error {
    fn from(e: kv_api::Error) -> Self {
        match e {
            kv_api::Error::Conflict => Error::SerializationFailure,
            kv_api::Error::Deadlock => Error::Deadlock,
            kv_api::Error::LockTimeout => Error::LockNotAvailable,
            other => Error::Storage(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_outcomes_map_to_sqlstates() {
        assert_eq!(Error::from(kv_api::Error::Conflict).sqlstate(), "40001");
        assert_eq!(Error::from(kv_api::Error::Deadlock).sqlstate(), "40P01");
        assert_eq!(Error::from(kv_api::Error::LockTimeout).sqlstate(), "55P03");
        assert!(Error::from(kv_api::Error::Conflict).is_retryable());
        assert_eq!(Error::from(kv_api::Error::Closed).sqlstate(), "XX000");
    }

    #[test]
    fn every_code_is_five_characters() {
        let errs = [
            Error::Syntax(String::new()),
            Error::DuplicateObject {
                kind: "column",
                name: "a".into(),
            },
            Error::DuplicateObject {
                kind: "table",
                name: "a".into(),
            },
            Error::NotNullViolation {
                table: "t".into(),
                column: "c".into(),
            },
            Error::DivisionByZero,
            Error::TransactionAborted,
        ];
        for e in errs {
            assert_eq!(e.sqlstate().len(), 5, "{e}");
        }
    }
}
