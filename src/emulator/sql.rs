//! SQL queries, executed for real: every connection whose type is SQL-like (PostgreSQL, MySQL,
//! Snowflake, SQLServer, Oracle, Redshift, JDBC, SQLite, ...) is backed by its own SQLite
//! database, `sql/CONNECTION.sqlite` in the data dir (in memory without a data dir), opened on
//! first use. The SQL dialect is therefore SQLite's.
//!
//! `POST /sql/queries/` runs the pre-queries, the query and the post-queries at once and keeps
//! the rows until `finish-streaming`; it answers `{queryId, hasResults, schema: [columns]}`.
//! `GET /sql/queries/{id}/stream` streams the rows as TSV, excel style, without header
//! (`format=tsv-excel-noheader`, the default; `tsv-excel-header` adds the column names first) or
//! as a JSON array of arrays (`format=json`). At most 256 results wait for `finish-streaming`;
//! beyond, the oldest is dropped.
//! Column types come from the values of the result (`bigint`, `double`, `string`).
//! Privilege: RUN_CODE (on the query's project when it names one).

use axum::routing;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use crate::wire::{SqlColumn, SqlQueryRequest, SqlQueryStarted};

/// The default stream format of the Python client.
pub(crate) const TSV_FORMAT: &str = "tsv-excel-noheader";
/// The same with a first line of column names (SQL query streams only).
const TSV_HEADER_FORMAT: &str = "tsv-excel-header";
const SQL_ERROR: &str = "java.sql.SQLException";

/// Connection types backed by a SQL database.
const SQL_TYPES: [&str; 22] = [
    "PostgreSQL",
    "MySQL",
    "Snowflake",
    "SQLServer",
    "Oracle",
    "Redshift",
    "JDBC",
    "SQLite",
    "Vertica",
    "Greenplum",
    "Teradata",
    "SAPHANA",
    "Netezza",
    "BigQuery",
    "Athena",
    "Synapse",
    "FabricWarehouse",
    "Databricks",
    "DatabricksLakebase",
    "hiveserver2",
    "Trino",
    "DB2",
];

pub(crate) fn is_sql_type(ty: &str) -> bool {
    SQL_TYPES.iter().any(|t| t.eq_ignore_ascii_case(ty))
}

/// A SQL identifier quoted for SQLite.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

type Rows = Vec<Vec<Value>>;

struct QueryResult {
    columns: Vec<SqlColumn>,
    rows: Rows,
}

/// Results not yet finished are dropped, oldest first, beyond this many: a client that never
/// calls `finish-streaming` must not grow the emulator's memory without bound.
const MAX_PENDING_RESULTS: usize = 256;

/// Results waiting for `finish-streaming`, in start order.
#[derive(Default)]
struct Pending {
    order: std::collections::VecDeque<String>,
    by_id: HashMap<String, QueryResult>,
}

impl Pending {
    fn insert(&mut self, id: String, result: QueryResult) {
        while self.by_id.len() >= MAX_PENDING_RESULTS {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_id.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, result);
    }

    fn remove(&mut self, id: &str) -> Option<QueryResult> {
        let found = self.by_id.remove(id)?;
        self.order.retain(|x| x != id);
        Some(found)
    }
}

/// The SQLite databases of the SQL connections and the results waiting to be streamed.
pub(crate) struct SqlEngine {
    dir: Option<PathBuf>,
    dbs: Mutex<HashMap<String, Arc<Mutex<rusqlite::Connection>>>>,
    results: Mutex<Pending>,
}

fn sql_error(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, SQL_ERROR, err.to_string())
}

impl SqlEngine {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        SqlEngine {
            dir,
            dbs: Mutex::new(HashMap::new()),
            results: Mutex::new(Pending::default()),
        }
    }

    fn db(&self, conn: &str) -> Result<Arc<Mutex<rusqlite::Connection>>, ApiError> {
        let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = dbs.get(conn) {
            return Ok(db.clone());
        }
        let opened = match &self.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|err| ApiError::internal(format!("cannot create {}: {err}", dir.display())))?;
                rusqlite::Connection::open(dir.join(format!("{conn}.sqlite")))
            }
            None => rusqlite::Connection::open_in_memory(),
        }
        .map_err(sql_error)?;
        let db = Arc::new(Mutex::new(opened));
        dbs.insert(conn.to_string(), db.clone());
        Ok(db)
    }

    /// Run `f` on the database of `conn` off the async threads.
    async fn with_db<T: Send + 'static>(
        &self,
        conn: &str,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.db(conn)?;
        tokio::task::spawn_blocking(move || {
            let mut guard = db.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|err| ApiError::internal(format!("SQL task failed: {err}")))?
    }

    /// Columns and rows of one statement.
    pub(crate) async fn query_rows(&self, conn: &str, sql: &str) -> Result<(Vec<SqlColumn>, Rows), ApiError> {
        let sql = sql.to_string();
        self.with_db(conn, move |db| run_statement(db, &sql)).await
    }

    /// Run statements whose results are not wanted (DDL, clearing a table).
    pub(crate) async fn execute_admin(&self, conn: &str, sql: &str) -> Result<(), ApiError> {
        let sql = sql.to_string();
        self.with_db(conn, move |db| db.execute_batch(&sql).map_err(sql_error))
            .await
    }

    pub(crate) async fn table_exists(&self, conn: &str, table: &str) -> Result<bool, ApiError> {
        let table = table.to_string();
        self.with_db(conn, move |db| {
            db.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type IN ('table','view') AND name = ?1",
                [&table],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(sql_error)
        })
        .await
    }

    /// Close and delete the database of a deleted connection.
    pub(crate) async fn forget(&self, conn: &str) -> Result<(), ApiError> {
        let removed = self.dbs.lock().unwrap_or_else(|e| e.into_inner()).remove(conn);
        drop(removed);
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{conn}.sqlite"));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(ApiError::internal(format!(
                        "cannot remove {}: {err}",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

fn run_statement(db: &mut rusqlite::Connection, sql: &str) -> Result<(Vec<SqlColumn>, Rows), ApiError> {
    let mut stmt = db.prepare(sql).map_err(sql_error)?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let width = names.len();
    let mut rows: Rows = Vec::new();
    let mut cursor = stmt.query([]).map_err(sql_error)?;
    while let Some(row) = cursor.next().map_err(sql_error)? {
        let mut out = Vec::with_capacity(width);
        for i in 0..width {
            out.push(match row.get_ref(i).map_err(sql_error)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(n) => json!(n),
                rusqlite::types::ValueRef::Real(f) => json!(f),
                rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                rusqlite::types::ValueRef::Blob(b) => json!(hex::encode(b)),
            });
        }
        rows.push(out);
    }
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let ty = rows
                .iter()
                .map(|r| &r[i])
                .find(|v| !v.is_null())
                .map_or("string", |v| match v {
                    Value::Number(n) if n.is_i64() => "bigint",
                    Value::Number(_) => "double",
                    _ => "string",
                });
            SqlColumn {
                name,
                column_type: ty.to_string(),
            }
        })
        .collect();
    Ok((columns, rows))
}

/// Refuse a stream format the emulator does not write.
pub(crate) fn check_format(format: &str) -> Result<(), ApiError> {
    if format == TSV_FORMAT || format == "json" {
        Ok(())
    } else {
        Err(ApiError::illegal(format!(
            "Unsupported format '{format}' (supported: {TSV_FORMAT}, json)"
        )))
    }
}

/// Rows in the requested format.
pub(crate) fn render_rows(format: &str, rows: &Rows) -> Response {
    if format == "json" {
        return http::json(rows);
    }
    let mut out = String::new();
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            out.push_str(&tsv_field(v));
        }
        out.push('\n');
    }
    http::text("text/tab-separated-values; charset=utf-8", out)
}

/// One field, excel style: quoted when it holds a tab, a quote or a line break; quotes doubled.
fn tsv_field(v: &Value) -> String {
    let raw = match v {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if raw.contains(['\t', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw
    }
}

pub(crate) async fn start(app: &App, req: &Req) -> ApiResult {
    let body: SqlQueryRequest = http::body_typed(&req.body, "SQL query")?;
    req.caller.require_run_code(body.project_key.as_deref())?;
    let conn = {
        let st = app.read();
        let conn = match (&body.connection, &body.database, &body.dataset_full_name) {
            (Some(c), _, _) | (None, Some(c), _) => c.clone(),
            (None, None, Some(full)) => {
                let (pk, name) = full.split_once('.').ok_or_else(|| {
                    ApiError::illegal(format!("datasetFullName '{full}' must be PROJECTKEY.datasetName"))
                })?;
                let ds = st
                    .project(pk)?
                    .datasets
                    .get(name)
                    .ok_or_else(|| super::store::dataset_not_found(pk, name))?;
                ds.get("params")
                    .and_then(|p| p.get("connection"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ApiError::illegal(format!("Dataset {full} is neither of sql nor hdfs type"))
                    })?
                    .to_string()
            }
            (None, None, None) => {
                return Err(ApiError::illegal(
                    "SQL query: one of 'connection', 'database' or 'datasetFullName' is required",
                ));
            }
        };
        let ty = st
            .connections
            .get(&conn)
            .ok_or_else(|| ApiError::no_connection(&conn))?
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !is_sql_type(&ty) {
            return Err(ApiError::illegal(format!(
                "Connection '{conn}' is of type {ty}, neither of sql nor hdfs type"
            )));
        }
        conn
    };
    let pre = body.pre_queries.clone().unwrap_or_default();
    let post = body.post_queries.clone().unwrap_or_default();
    let query = body.query.clone();
    let (columns, rows) = app
        .sql
        .with_db(&conn, move |db| {
            for q in &pre {
                db.execute_batch(q).map_err(sql_error)?;
            }
            let result = run_statement(db, &query)?;
            for q in &post {
                db.execute_batch(q).map_err(sql_error)?;
            }
            Ok(result)
        })
        .await?;
    let query_id = format!("{:032x}", rand::random::<u128>());
    let has_results = !columns.is_empty();
    app.sql.results.lock().unwrap_or_else(|e| e.into_inner()).insert(
        query_id.clone(),
        QueryResult {
            columns: columns.clone(),
            rows,
        },
    );
    Ok(http::json(&SqlQueryStarted {
        query_id,
        has_results,
        schema: columns,
    }))
}

fn unknown_query(id: &str) -> ApiError {
    ApiError::not_found(format!("SQL query '{id}' does not exist or was finished"))
}

pub(crate) fn stream(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_run_code(None)?;
    let format = req.query.get("format").unwrap_or(TSV_FORMAT);
    if format != TSV_HEADER_FORMAT {
        check_format(format)?;
    }
    let results = app.sql.results.lock().unwrap_or_else(|e| e.into_inner());
    let result = results.by_id.get(id).ok_or_else(|| unknown_query(id))?;
    if format == TSV_HEADER_FORMAT {
        let header: Vec<Value> = result.columns.iter().map(|c| json!(c.name)).collect();
        let mut all = Vec::with_capacity(result.rows.len() + 1);
        all.push(header);
        all.extend(result.rows.iter().cloned());
        return Ok(render_rows(TSV_FORMAT, &all));
    }
    Ok(render_rows(format, &result.rows))
}

pub(crate) fn finish(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_run_code(None)?;
    app.sql
        .results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id)
        .ok_or_else(|| unknown_query(id))?;
    Ok(http::empty())
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The SQL area's routes.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .route(
            "/sql/queries",
            routing::post(|a: Api| async move { start(&a.app, &a.req).await }),
        )
        .route(
            "/sql/queries/{queryId}/stream",
            routing::get(|Params(id): Params<String>, a: Api| async move { stream(&a.app, &a.req, &id) }),
        )
        .route(
            "/sql/queries/{queryId}/finish-streaming",
            routing::get(|Params(id): Params<String>, a: Api| async move { finish(&a.app, &a.req, &id) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_is_excel_style() {
        assert_eq!(tsv_field(&json!("plain")), "plain");
        assert_eq!(tsv_field(&json!("a\tb")), "\"a\tb\"");
        assert_eq!(tsv_field(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(tsv_field(&Value::Null), "");
        assert_eq!(tsv_field(&json!(1.5)), "1.5");
    }

    #[test]
    fn unfinished_results_are_bounded() {
        let mut pending = Pending::default();
        for i in 0..(MAX_PENDING_RESULTS + 3) {
            pending.insert(
                i.to_string(),
                QueryResult {
                    columns: Vec::new(),
                    rows: Vec::new(),
                },
            );
        }
        assert_eq!(pending.by_id.len(), MAX_PENDING_RESULTS);
        assert!(pending.remove("0").is_none());
        assert!(pending.remove(&(MAX_PENDING_RESULTS + 2).to_string()).is_some());
    }

    #[tokio::test]
    async fn queries_run_on_sqlite() {
        let engine = SqlEngine::new(None);
        engine
            .execute_admin(
                "c",
                "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, NULL);",
            )
            .await
            .unwrap();
        let (cols, rows) = engine
            .query_rows("c", "SELECT a, b FROM t ORDER BY a")
            .await
            .unwrap();
        assert_eq!(cols[0].column_type, "bigint");
        assert_eq!(cols[1].column_type, "string");
        assert_eq!(
            rows,
            vec![vec![json!(1), json!("x")], vec![json!(2), Value::Null]]
        );
        assert!(engine.table_exists("c", "t").await.unwrap());
        assert!(!engine.table_exists("other", "t").await.unwrap());
        assert!(is_sql_type("postgresql") && !is_sql_type("Filesystem"));
    }
}
