//! Saved functions of a workspace: Log Analytics' saved searches with a function alias, which
//! Sentinel's parsers install. A function answers to its name and to its aliases (an ASIM
//! parser to `imDns` and to `_Im_Dns`).

use serde::Serialize;
use sqlx::Row;
use vigil_catalog::Function;

use crate::{Control, ControlError, Result, now_text};

/// A function as the workspace keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedFunction {
    pub name: String,
    /// Other names it answers to.
    pub aliases: Vec<String>,
    /// `functionParameters`: `a:string, b:int=5`.
    pub parameters: String,
    pub body: String,
    pub category: String,
    pub display_name: String,
    /// Where it came from (a parser file), for people.
    pub source: String,
}

impl SavedFunction {
    /// Every name the function answers to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The function under one of its names, as the binder takes it.
    pub fn as_function(&self, name: &str) -> Function {
        Function { name: name.to_string(), parameters: self.parameters.clone(), body: self.body.clone() }
    }
}

/// A KQL name: a letter or `_`, then letters, digits or `_`; at most 100.
pub(crate) fn validate_identifier(what: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = name.len() <= 100
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "invalid {what} '{name}': a letter or '_', then letters, digits or '_' (at most 100)"
        )))
    }
}

impl Control {
    /// Creates or replaces a function. Its names may not be taken by another function.
    pub async fn put_function(&self, workspace_id: &str, function: &SavedFunction) -> Result<()> {
        for name in function.names() {
            validate_identifier("function name", name)?;
        }
        if function.body.trim().is_empty() {
            return Err(ControlError::Invalid(format!("function '{}' has an empty body", function.name)));
        }
        let mut tx = self.begin().await?;
        let others = sqlx::query("SELECT name, aliases FROM functions WHERE workspace_id = ? AND name <> ?")
            .bind(workspace_id)
            .bind(&function.name)
            .fetch_all(&mut *tx)
            .await?;
        for row in &others {
            let other: String = row.get(0);
            let aliases: Vec<String> = serde_json::from_str(row.get::<&str, _>(1)).unwrap_or_default();
            if let Some(taken) =
                function.names().find(|name| *name == other || aliases.iter().any(|alias| alias == name))
            {
                return Err(ControlError::Conflict(format!(
                    "the name '{taken}' of function '{}' is already taken by function '{other}'",
                    function.name
                )));
            }
        }
        sqlx::query(
            "INSERT INTO functions (workspace_id, name, aliases, parameters, body, category, display_name, source,
                 updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (workspace_id, name) DO UPDATE SET aliases = excluded.aliases,
                 parameters = excluded.parameters, body = excluded.body, category = excluded.category,
                 display_name = excluded.display_name, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(workspace_id)
        .bind(&function.name)
        .bind(serde_json::to_string(&function.aliases).expect("strings serialize"))
        .bind(&function.parameters)
        .bind(&function.body)
        .bind(&function.category)
        .bind(&function.display_name)
        .bind(&function.source)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn functions(&self, workspace_id: &str) -> Result<Vec<SavedFunction>> {
        let rows = sqlx::query(
            "SELECT name, aliases, parameters, body, category, display_name, source FROM functions
             WHERE workspace_id = ? ORDER BY name",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(function_of_row).collect()
    }

    /// A function by its name or one of its aliases.
    pub async fn function(&self, workspace_id: &str, name: &str) -> Result<Option<SavedFunction>> {
        Ok(self.functions(workspace_id).await?.into_iter().find(|f| f.names().any(|n| n == name)))
    }

    pub async fn delete_function(&self, workspace_id: &str, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM functions WHERE workspace_id = ? AND name = ?")
            .bind(workspace_id)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }
}

fn function_of_row(row: &sqlx::sqlite::SqliteRow) -> Result<SavedFunction> {
    let name: String = row.get(0);
    let aliases = serde_json::from_str(row.get::<&str, _>(1))
        .map_err(|e| ControlError::unreadable(format!("the aliases of stored function '{name}'"), e))?;
    Ok(SavedFunction {
        name,
        aliases,
        parameters: row.get(2),
        body: row.get(3),
        category: row.get(4),
        display_name: row.get(5),
        source: row.get(6),
    })
}
