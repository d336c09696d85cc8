//! What a job runs: the recipes that build its outputs, walked upstream for the recursive job
//! types, and executed for real when the emulator can do it without user code.
//!
//! - `NON_RECURSIVE_FORCED_BUILD` runs only the recipe producing each output.
//! - `RECURSIVE_BUILD` and `RECURSIVE_FORCED_BUILD` run every recipe upstream, sources first.
//!   The emulator keeps no modification times, so for it every dataset is out of date: a
//!   "smart" recursive build rebuilds as much as a forced one (the stricter reading).
//! - `RECURSIVE_MISSING_ONLY_BUILD` runs the upstream recipes whose outputs hold no data yet.
//!
//! Recipes run: `sync` copies the rows of its input into its output; `sql_query` runs its SQL
//! (with `${projectKey}` resolved) on the SQLite database of its first input's connection and
//! writes the result into its output. Storage: a dataset on a SQL connection with a
//! `params.table` is that table of the connection's SQLite database; a Filesystem dataset is
//! the file `out-s0.tsv` (excel-style TSV, no header, typed by the dataset's schema) under
//! `fs/CONNECTION/PATH` of the data dir. An output with no schema gets the produced one; an
//! output whose schema names other columns fails the job (schema mismatch). Other recipe
//! types (python, R, shell, visual recipes other than sync) are never run: the job fails, or
//! with `--code-recipes skip` the recipe is marked done unrun; the log says which.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::CodeRecipes;
use super::flow_state::{self, clean_path};
use super::router::App;
use super::sql;
use super::store::{self, Doc, paths};

/// The lines a job writes in its log, with their level, and its failure if any.
#[derive(Debug, Default, Clone)]
pub(crate) struct JobRun {
    pub lines: Vec<(String, String)>,
    pub failure: Option<String>,
}

impl JobRun {
    fn info(&mut self, msg: impl Into<String>) {
        self.lines.push(("INFO".into(), msg.into()));
    }
    fn warn(&mut self, msg: impl Into<String>) {
        self.lines.push(("WARN".into(), msg.into()));
    }
    fn fail(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        self.lines.push(("ERROR".into(), msg.clone()));
        self.failure = Some(msg);
    }
}

/// A snapshot holding only the connection types: enough to locate a dataset's data.
fn connections_snapshot(app: &App) -> Snapshot {
    let st = app.read();
    Snapshot {
        recipes: BTreeMap::new(),
        datasets: HashMap::new(),
        connection_types: st
            .connections
            .iter()
            .map(|(n, c)| {
                (
                    n.clone(),
                    c.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
                )
            })
            .collect(),
    }
}

/// Where a Filesystem dataset's files live in the emulator's file store (`CONNECTION/PATH`);
/// `None` for a dataset that is not file-based or cannot be located.
pub(crate) fn files_prefix(app: &App, project: &str, name: &str, doc: &Doc) -> Option<String> {
    match locate(&connections_snapshot(app), project, name, doc) {
        Ok(Location::Files { prefix }) => Some(prefix),
        _ => None,
    }
}

/// The data file of a Filesystem dataset, inside its folder.
const DATA_FILE: &str = "out-s0.tsv";

/// Where a dataset's rows live.
#[derive(Debug, Clone, PartialEq)]
enum Location {
    Sql { conn: String, table: String },
    Files { prefix: String },
}

/// One column of produced rows: name and DSS type.
type Columns = Vec<(String, String)>;
type Rows = Vec<Vec<Value>>;

/// Everything the executor reads from the state, taken once under the lock.
struct Snapshot {
    recipes: BTreeMap<String, Doc>,
    datasets: HashMap<(String, String), Arc<store::Stored>>,
    connection_types: HashMap<String, String>,
}

fn snapshot(app: &App, key: &str) -> Snapshot {
    let st = app.read();
    let recipes = st
        .projects
        .get(key)
        .map(|p| p.flow.recipes.clone())
        .unwrap_or_default();
    let mut datasets = HashMap::new();
    for (pk, p) in &st.projects {
        for (name, d) in &p.datasets {
            datasets.insert((pk.clone(), name.clone()), d.clone());
        }
    }
    let connection_types = st
        .connections
        .iter()
        .map(|(n, c)| {
            let ty = c.get("type").and_then(Value::as_str).unwrap_or("").to_string();
            (n.clone(), ty)
        })
        .collect();
    Snapshot {
        recipes,
        datasets,
        connection_types,
    }
}

/// The recipes to run for `outputs`, in order, or the failure (a cycle).
fn plan(
    snap: &Snapshot,
    key: &str,
    job_type: &str,
    outputs: &[(String, String)],
    run: &mut JobRun,
) -> Vec<String> {
    let mut producer: HashMap<(String, String), String> = HashMap::new();
    for (name, stored) in &snap.recipes {
        for r in flow_state::recipe_outputs(stored) {
            let (p, n) = flow_state::split_ref(key, &r);
            producer.insert((p.to_string(), n.to_string()), name.clone());
        }
    }
    let recursive = job_type.starts_with("RECURSIVE");
    let mut order: Vec<String> = Vec::new();
    let mut done: HashSet<String> = HashSet::new();
    for out in outputs {
        let Some(first) = producer.get(out) else {
            run.info(format!(
                "Dataset {}.{} is not built by any recipe: nothing to do",
                out.0, out.1
            ));
            continue;
        };
        if !recursive {
            if done.insert(first.clone()) {
                order.push(first.clone());
            }
            continue;
        }
        let mut stack: Vec<String> = Vec::new();
        if let Err(cycle) = visit(snap, key, &producer, first, &mut stack, &mut done, &mut order) {
            run.fail(format!("Cycle in the flow: {}", cycle.join(" -> ")));
            return Vec::new();
        }
    }
    order
}

/// Depth-first upstream walk: the producers of a recipe's inputs come before it.
fn visit(
    snap: &Snapshot,
    key: &str,
    producer: &HashMap<(String, String), String>,
    recipe: &str,
    stack: &mut Vec<String>,
    done: &mut HashSet<String>,
    order: &mut Vec<String>,
) -> Result<(), Vec<String>> {
    if done.contains(recipe) {
        return Ok(());
    }
    if let Some(pos) = stack.iter().position(|r| r == recipe) {
        let mut cycle = stack[pos..].to_vec();
        cycle.push(recipe.to_string());
        return Err(cycle);
    }
    stack.push(recipe.to_string());
    if let Some(stored) = snap.recipes.get(recipe) {
        for r in flow_state::recipe_inputs(stored) {
            let (p, n) = flow_state::split_ref(key, &r);
            if let Some(up) = producer.get(&(p.to_string(), n.to_string())) {
                visit(snap, key, producer, up, stack, done, order)?;
            }
        }
    }
    stack.pop();
    done.insert(recipe.to_string());
    order.push(recipe.to_string());
    Ok(())
}

/// Run the job building `outputs` (project key, dataset name) of project `key`.
pub(crate) async fn run_job(app: &App, key: &str, job_type: &str, outputs: &[(String, String)]) -> JobRun {
    let mut run = JobRun::default();
    let snap = snapshot(app, key);
    let order = plan(&snap, key, job_type, outputs, &mut run);
    if run.failure.is_some() {
        return run;
    }
    if order.is_empty() {
        return run;
    }
    run.info(format!("Recipes to run: {}", order.join(", ")));
    let missing_only = job_type == "RECURSIVE_MISSING_ONLY_BUILD";
    for name in &order {
        // Taken again before each recipe: the previous one may have set an output's schema.
        let snap = snapshot(app, key);
        let Some(stored) = snap.recipes.get(name) else {
            continue;
        };
        let def = flow_state::recipe_def(stored);
        let ty = def.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        if missing_only && outputs_hold_data(app, &snap, key, stored).await {
            run.info(format!(
                "Recipe {name} not run: its outputs already hold data (RECURSIVE_MISSING_ONLY_BUILD)"
            ));
            continue;
        }
        run.info(format!("Running recipe {name} (type {ty})"));
        let payload = stored.get("payload").and_then(Value::as_str).unwrap_or("");
        let result = match ty.as_str() {
            "sync" => run_sync(app, &snap, key, stored).await,
            "sql_query" => run_sql_query(app, &snap, key, stored, payload).await,
            other => match app.code_recipes {
                CodeRecipes::Fail => Err(format!(
                    "Recipe {name} was not run: the emulator does not execute {other} recipes, only sync and sql_query (start it with --code-recipes skip to mark such recipes done without running them)"
                )),
                CodeRecipes::Skip => {
                    run.warn(format!(
                            "Recipe {name} skipped without running: the emulator does not execute {other} recipes (--code-recipes skip); its outputs are left as they were"
                        ));
                    continue;
                }
            },
        };
        match result {
            Ok(messages) => {
                for m in messages {
                    run.info(m);
                }
                run.info(format!("Recipe {name} done"));
            }
            Err(reason) => {
                run.fail(reason);
                return run;
            }
        }
    }
    run
}

/// The dataset behind a ref, or the DSS-like failure.
fn dataset<'a>(
    snap: &'a Snapshot,
    key: &str,
    r: &str,
) -> Result<(String, String, &'a Arc<store::Stored>), String> {
    let (p, n) = flow_state::split_ref(key, r);
    snap.datasets
        .get(&(p.to_string(), n.to_string()))
        .map(|d| (p.to_string(), n.to_string(), d))
        .ok_or_else(|| format!("Dataset {p}.{n} does not exist"))
}

fn locate(snap: &Snapshot, project: &str, name: &str, doc: &Doc) -> Result<Location, String> {
    let params = doc.get("params").cloned().unwrap_or(json!({}));
    let ty = doc.get("type").and_then(Value::as_str).unwrap_or("");
    let conn = params.get("connection").and_then(Value::as_str).unwrap_or("");
    let conn_type = snap.connection_types.get(conn);
    if !conn.is_empty() && conn_type.is_none() {
        return Err(format!(
            "Dataset {project}.{name}: Connection '{conn}' does not exist"
        ));
    }
    let resolve = |s: &str| {
        s.replace("${projectKey}", project)
            .replace("${datasetName}", name)
    };
    if conn_type.is_some_and(|t| sql::is_sql_type(t)) || sql::is_sql_type(ty) {
        let table = params
            .get("table")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                format!("Dataset {project}.{name} has no table (params.table): the emulator only reads and writes SQL datasets in table mode")
            })?;
        return Ok(Location::Sql {
            conn: conn.to_string(),
            table: resolve(table),
        });
    }
    if ty == "Filesystem" || conn_type.is_some_and(|t| t == "Filesystem") {
        if conn.is_empty() {
            return Err(format!("Dataset {project}.{name} has no connection"));
        }
        let path = params.get("path").and_then(Value::as_str).unwrap_or("");
        let path = clean_path(&resolve(path))
            .map_err(|e| format!("Dataset {project}.{name}: {}", e.body.message))?;
        let prefix = if path.is_empty() {
            conn.to_string()
        } else {
            format!("{conn}/{path}")
        };
        return Ok(Location::Files { prefix });
    }
    Err(format!(
        "Dataset {project}.{name} is of type {ty}: the emulator only reads and writes SQL tables and Filesystem datasets"
    ))
}

/// The schema columns of a dataset (`[(name, type)]`), empty when it has none.
fn schema_of(doc: &Doc) -> Columns {
    doc.get("schema")
        .and_then(|s| s.get("columns"))
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some((
                        c.get("name")?.as_str()?.to_string(),
                        c.get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("string")
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn has_data(app: &App, loc: &Location) -> bool {
    match loc {
        Location::Sql { conn, table } => app.sql.table_exists(conn, table).await.unwrap_or(false),
        Location::Files { prefix } => app
            .files
            .get(&format!("{prefix}/{DATA_FILE}"))
            .await
            .ok()
            .flatten()
            .is_some(),
    }
}

async fn outputs_hold_data(app: &App, snap: &Snapshot, key: &str, stored: &Doc) -> bool {
    for r in flow_state::recipe_outputs(stored) {
        let Ok((p, n, doc)) = dataset(snap, key, &r) else {
            return false;
        };
        let Ok(loc) = locate(snap, &p, &n, doc) else {
            return false;
        };
        if !has_data(app, &loc).await {
            return false;
        }
    }
    true
}

/// The rows of a dataset, with its columns (the schema, or the types found in the data).
pub(crate) async fn read_rows(
    app: &App,
    project: &str,
    name: &str,
    doc: &Doc,
) -> Result<Option<(Columns, Rows)>, String> {
    let Ok(loc) = locate(&connections_snapshot(app), project, name, doc) else {
        return Ok(None);
    };
    read_at(app, project, name, doc, &loc).await.map(Some)
}

async fn read_at(
    app: &App,
    project: &str,
    name: &str,
    doc: &Doc,
    loc: &Location,
) -> Result<(Columns, Rows), String> {
    let schema = schema_of(doc);
    match loc {
        Location::Sql { conn, table } => {
            let exists = app
                .sql
                .table_exists(conn, table)
                .await
                .map_err(|e| e.body.message)?;
            if !exists {
                return Err(format!(
                    "Input dataset {project}.{name} is not ready: table \"{table}\" does not exist on connection {conn}"
                ));
            }
            let q = format!("SELECT * FROM {}", sql::quote_ident(table));
            let (cols, rows) = app
                .sql
                .query_rows(conn, &q)
                .await
                .map_err(|e| format!("Cannot read dataset {project}.{name}: {}", e.body.message))?;
            let found: Columns = cols.into_iter().map(|c| (c.name, c.column_type)).collect();
            let columns = if schema.len() == found.len() {
                schema
            } else {
                found
            };
            Ok((columns, rows))
        }
        Location::Files { prefix } => {
            let bytes = app
                .files
                .get(&format!("{prefix}/{DATA_FILE}"))
                .await
                .map_err(|e| e.body.message)?
                .ok_or_else(|| {
                    format!("Input dataset {project}.{name} is not ready: it holds no data (no file under {prefix})")
                })?;
            if schema.is_empty() {
                return Err(format!(
                    "Input dataset {project}.{name} has no schema: the emulator cannot read its files"
                ));
            }
            let text = String::from_utf8_lossy(&bytes);
            let rows = parse_tsv(&text)
                .into_iter()
                .map(|fields| {
                    schema
                        .iter()
                        .enumerate()
                        .map(|(i, (_, ty))| typed(fields.get(i).map(String::as_str), ty))
                        .collect()
                })
                .collect();
            Ok((schema, rows))
        }
    }
}

/// A TSV field as a JSON value of the column's type (empty is null).
fn typed(field: Option<&str>, ty: &str) -> Value {
    let Some(raw) = field.filter(|f| !f.is_empty()) else {
        return Value::Null;
    };
    match ty {
        "bigint" | "int" | "smallint" | "tinyint" => raw.parse::<i64>().map_or(json!(raw), |n| json!(n)),
        "double" | "float" => raw.parse::<f64>().map_or(json!(raw), |n| json!(n)),
        "boolean" => match raw {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(raw),
        },
        _ => json!(raw),
    }
}

/// Excel-style TSV: tab-separated, fields with a tab, quote or line break quoted, quotes doubled.
fn parse_tsv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '\t' => row.push(std::mem::take(&mut field)),
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            '\r' => {}
            c => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

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

fn to_tsv(rows: &Rows) -> String {
    let mut out = String::new();
    for row in rows {
        let fields: Vec<String> = row.iter().map(tsv_field).collect();
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

fn sqlite_type(ty: &str) -> &'static str {
    match ty {
        "bigint" | "int" | "smallint" | "tinyint" | "boolean" => "INTEGER",
        "double" | "float" => "REAL",
        _ => "TEXT",
    }
}

fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// Write `rows` into the output `r` of a recipe; returns the log messages.
async fn write_output(
    app: &App,
    snap: &Snapshot,
    key: &str,
    r: &str,
    append: bool,
    columns: &Columns,
    rows: &Rows,
) -> Result<Vec<String>, String> {
    let (p, n, doc) = dataset(snap, key, r)?;
    let loc = locate(snap, &p, &n, doc)?;
    let declared = schema_of(doc);
    if !declared.is_empty() {
        let want: Vec<String> = declared.iter().map(|(c, _)| c.to_ascii_lowercase()).collect();
        let got: Vec<String> = columns.iter().map(|(c, _)| c.to_ascii_lowercase()).collect();
        if want != got {
            return Err(format!(
                "Schema mismatch on output dataset {p}.{n}: its schema has columns [{}] but the recipe produces [{}]; update the output's schema",
                want.join(", "),
                got.join(", ")
            ));
        }
    }
    let columns_to_write = if declared.is_empty() {
        columns.clone()
    } else {
        declared.clone()
    };
    match &loc {
        Location::Sql { conn, table } => {
            let t = sql::quote_ident(table);
            let defs: Vec<String> = columns_to_write
                .iter()
                .map(|(c, ty)| format!("{} {}", sql::quote_ident(c), sqlite_type(ty)))
                .collect();
            let mut batch = String::from("BEGIN;\n");
            if append {
                batch.push_str(&format!(
                    "CREATE TABLE IF NOT EXISTS {t} ({});\n",
                    defs.join(", ")
                ));
            } else {
                batch.push_str(&format!(
                    "DROP TABLE IF EXISTS {t};\nCREATE TABLE {t} ({});\n",
                    defs.join(", ")
                ));
            }
            for chunk in rows.chunks(500) {
                let values: Vec<String> = chunk
                    .iter()
                    .map(|row| {
                        let v: Vec<String> = row.iter().map(sql_literal).collect();
                        format!("({})", v.join(", "))
                    })
                    .collect();
                batch.push_str(&format!("INSERT INTO {t} VALUES {};\n", values.join(", ")));
            }
            batch.push_str("COMMIT;");
            if let Err(err) = app.sql.execute_admin(conn, &batch).await {
                let _ = app.sql.execute_admin(conn, "ROLLBACK").await;
                return Err(format!(
                    "Cannot write dataset {p}.{n}: java.sql.SQLException: {}",
                    err.body.message
                ));
            }
        }
        Location::Files { prefix } => {
            let path = format!("{prefix}/{DATA_FILE}");
            let mut text = String::new();
            if append {
                if let Some(old) = app.files.get(&path).await.map_err(|e| e.body.message)? {
                    text.push_str(&String::from_utf8_lossy(&old));
                }
            } else {
                app.files.delete_all(prefix).await.map_err(|e| e.body.message)?;
            }
            text.push_str(&to_tsv(rows));
            app.files
                .put(&path, text.into_bytes())
                .await
                .map_err(|e| e.body.message)?;
        }
    }
    let mut messages = vec![format!("Wrote {} rows into dataset {p}.{n}", rows.len())];
    if declared.is_empty() {
        set_schema(app, &p, &n, columns).await;
        messages.push(format!("Schema of dataset {p}.{n} set from the recipe's output"));
    }
    Ok(messages)
}

/// Give an output dataset with no schema the produced one (DSS updates output schemas of
/// the recipes it can compute them for).
async fn set_schema(app: &App, project: &str, name: &str, columns: &Columns) {
    let pending = {
        let mut st = app.write();
        let Some(p) = st.projects.get_mut(project) else {
            return;
        };
        let Some(old) = p.datasets.get(name) else {
            return;
        };
        let mut doc = (**old).clone();
        let cols: Vec<Value> = columns
            .iter()
            .map(|(c, ty)| json!({"name": c, "type": ty}))
            .collect();
        doc.insert("schema".into(), json!({"columns": cols, "userModified": false}));
        store::bump_version(&mut doc, old.get("versionTag"), "admin");
        let pending = app
            .persist
            .put(paths::dataset(project, name), &Value::Object(doc.clone()));
        p.datasets.insert(name.to_string(), store::Stored::new(doc));
        pending
    };
    let _ = app.persist.run([pending]).await;
}

fn output_items(stored: &Doc) -> Vec<(String, bool)> {
    let def = flow_state::recipe_def(stored);
    let mut out = Vec::new();
    if let Some(Value::Object(roles)) = def.get("outputs") {
        for role in roles.values() {
            for item in role.get("items").and_then(Value::as_array).into_iter().flatten() {
                if let Some(r) = item.get("ref").and_then(Value::as_str) {
                    let append = item.get("appendMode").and_then(Value::as_bool).unwrap_or(false);
                    out.push((r.to_string(), append));
                }
            }
        }
    }
    out
}

async fn run_sync(app: &App, snap: &Snapshot, key: &str, stored: &Doc) -> Result<Vec<String>, String> {
    let inputs = flow_state::recipe_inputs(stored);
    let outputs = output_items(stored);
    let [input] = inputs.as_slice() else {
        return Err(format!(
            "A sync recipe needs exactly one input, this one has {}",
            inputs.len()
        ));
    };
    if outputs.is_empty() {
        return Err("A sync recipe needs an output".into());
    }
    let (p, n, doc) = dataset(snap, key, input)?;
    let loc = locate(snap, &p, &n, doc)?;
    let (columns, rows) = read_at(app, &p, &n, doc, &loc).await?;
    let mut messages = vec![format!("Read {} rows from dataset {p}.{n}", rows.len())];
    for (r, append) in outputs {
        messages.extend(write_output(app, snap, key, &r, append, &columns, &rows).await?);
    }
    Ok(messages)
}

async fn run_sql_query(
    app: &App,
    snap: &Snapshot,
    key: &str,
    stored: &Doc,
    payload: &str,
) -> Result<Vec<String>, String> {
    let inputs = flow_state::recipe_inputs(stored);
    let outputs = output_items(stored);
    let Some(first) = inputs.first() else {
        return Err("A SQL query recipe needs at least one input".into());
    };
    if outputs.is_empty() {
        return Err("A SQL query recipe needs an output".into());
    }
    let mut conn = None;
    for input in &inputs {
        let (p, n, doc) = dataset(snap, key, input)?;
        match locate(snap, &p, &n, doc)? {
            Location::Sql { conn: c, .. } => {
                if conn.is_none() {
                    conn = Some(c);
                }
            }
            Location::Files { .. } => {
                return Err(format!(
                    "Input dataset {p}.{n} is not a SQL dataset: a SQL query recipe reads SQL tables only"
                ));
            }
        }
    }
    let conn = conn.ok_or_else(|| format!("Input {first} is not a SQL dataset"))?;
    let query = payload.replace("${projectKey}", key);
    if query.trim().is_empty() {
        return Err("The SQL query of the recipe is empty".into());
    }
    let (cols, rows) = app.sql.query_rows(&conn, &query).await.map_err(|e| {
        format!(
            "SQL error on connection {conn}: java.sql.SQLException: {}",
            e.body.message
        )
    })?;
    let columns: Columns = cols.into_iter().map(|c| (c.name, c.column_type)).collect();
    let mut messages = vec![format!("Query returned {} rows on connection {conn}", rows.len())];
    for (r, append) in outputs {
        messages.extend(write_output(app, snap, key, &r, append, &columns, &rows).await?);
    }
    Ok(messages)
}

/// The columns a `sync` or `sql_query` recipe produces (for `schema-update`): the input's
/// schema (or the columns of its data), or the columns of the query's result.
pub(crate) async fn produced_schema(app: &App, key: &str, stored: &Doc) -> Result<Columns, String> {
    let snap = snapshot(app, key);
    let def = flow_state::recipe_def(stored);
    let ty = def.get("type").and_then(Value::as_str).unwrap_or("");
    let inputs = flow_state::recipe_inputs(stored);
    match ty {
        "sync" => {
            let input = inputs.first().ok_or("A sync recipe needs an input")?;
            let (p, n, doc) = dataset(&snap, key, input)?;
            let declared = schema_of(doc);
            if !declared.is_empty() {
                return Ok(declared);
            }
            let loc = locate(&snap, &p, &n, doc)?;
            Ok(read_at(app, &p, &n, doc, &loc).await?.0)
        }
        "sql_query" => {
            let input = inputs.first().ok_or("A SQL query recipe needs an input")?;
            let (p, n, doc) = dataset(&snap, key, input)?;
            let Location::Sql { conn, .. } = locate(&snap, &p, &n, doc)? else {
                return Err(format!("Input dataset {p}.{n} is not a SQL dataset"));
            };
            let payload = stored.get("payload").and_then(Value::as_str).unwrap_or("");
            let query = payload.replace("${projectKey}", key);
            if query.trim().is_empty() {
                return Err("The SQL query of the recipe is empty".into());
            }
            let (cols, _) = app
                .sql
                .query_rows(&conn, &query)
                .await
                .map_err(|e| format!("java.sql.SQLException: {}", e.body.message))?;
            Ok(cols.into_iter().map(|c| (c.name, c.column_type)).collect())
        }
        other => Err(format!(
            "Cannot compute the output schema of a {other} recipe: the emulator only computes it for sync and sql_query recipes"
        )),
    }
}

/// The declared schema columns of a dataset, for callers outside the executor.
pub(crate) fn declared_schema(doc: &Doc) -> Columns {
    schema_of(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_round_trip() {
        let rows = vec![
            vec![json!(1), json!("a\tb"), Value::Null],
            vec![json!(2), json!("say \"hi\""), json!(1.5)],
        ];
        let text = to_tsv(&rows);
        let parsed = parse_tsv(&text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], vec!["1", "a\tb", ""]);
        assert_eq!(parsed[1][1], "say \"hi\"");
        assert_eq!(typed(Some("2"), "bigint"), json!(2));
        assert_eq!(typed(Some(""), "bigint"), Value::Null);
        assert_eq!(typed(Some("1.5"), "double"), json!(1.5));
    }

    fn snap_with(recipes: &[(&str, &[&str], &[&str])]) -> Snapshot {
        let mut map = BTreeMap::new();
        for (name, ins, outs) in recipes {
            let items = |refs: &[&str]| json!({"main": {"items": refs.iter().map(|r| json!({"ref": r})).collect::<Vec<_>>()}});
            map.insert(
                name.to_string(),
                json!({"recipe": {"name": name, "type": "sync", "inputs": items(ins), "outputs": items(outs)}})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
        }
        Snapshot {
            recipes: map,
            datasets: HashMap::new(),
            connection_types: HashMap::new(),
        }
    }

    #[test]
    fn recursive_builds_walk_upstream_and_forced_ones_do_not() {
        let snap = snap_with(&[("r2", &["b"], &["c"]), ("r1", &["a"], &["b"])]);
        let out = vec![("K".to_string(), "c".to_string())];
        let mut run = JobRun::default();
        assert_eq!(
            plan(&snap, "K", "RECURSIVE_BUILD", &out, &mut run),
            vec!["r1", "r2"]
        );
        assert_eq!(
            plan(&snap, "K", "NON_RECURSIVE_FORCED_BUILD", &out, &mut run),
            vec!["r2"]
        );
        let source = vec![("K".to_string(), "a".to_string())];
        assert!(plan(&snap, "K", "RECURSIVE_BUILD", &source, &mut run).is_empty());
        assert!(run.failure.is_none());
    }

    #[test]
    fn a_cycle_fails_the_job_naming_it() {
        let snap = snap_with(&[("r1", &["b"], &["a"]), ("r2", &["a"], &["b"])]);
        let mut run = JobRun::default();
        let out = vec![("K".to_string(), "a".to_string())];
        assert!(plan(&snap, "K", "RECURSIVE_FORCED_BUILD", &out, &mut run).is_empty());
        let failure = run.failure.unwrap();
        assert!(failure.contains("r1 -> r2 -> r1"), "{failure}");
    }
}
