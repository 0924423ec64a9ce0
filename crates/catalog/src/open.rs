//! Tables whose columns are not all listed in advance.
//!
//! Log Analytics gives `AzureDiagnostics` and classic custom logs (tables written by the HTTP
//! Data Collector API) a column for each field a source sends, named with a suffix for its type:
//! `requestUri_s`, `httpStatusCode_d`. Queries and parsers name those columns before any row
//! has carried them (`column_ifexists` guards some, not all), so in Vigil a name with a type
//! suffix is a column of such a table from the start: it reads as empty until data brings it.

use vigil_kql_functions::{KqlColumn, KqlType};

/// How names a relation does not list resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenColumns {
    /// A name ending in a Log Analytics type suffix is a column of that type.
    Suffixed,
    /// Any name is a column of this type: the unpacked properties of a bag whose keys are not
    /// known yet (a watchlist the workspace does not have).
    Any(KqlType),
    /// A table whose schema nobody gave (a solution's parser reads it, its connector is not
    /// installed), or a fuzzy union with legs left out: any name is a column, of its suffix's
    /// type if it has one, else `dynamic`, which every operator takes.
    Unknown,
}

/// The type suffixes of Log Analytics' custom fields, and their types.
pub const TYPE_SUFFIXES: [(&str, KqlType); 5] = [
    ("_s", KqlType::String),
    ("_d", KqlType::Real),
    ("_b", KqlType::Bool),
    ("_t", KqlType::DateTime),
    ("_g", KqlType::Guid),
];

impl OpenColumns {
    /// The type of an unlisted column `name`, or `None` when `name` is not a column.
    pub fn type_of(self, name: &str) -> Option<KqlType> {
        match self {
            OpenColumns::Any(ty) => Some(ty),
            OpenColumns::Suffixed => suffix_type(name),
            OpenColumns::Unknown => Some(suffix_type(name).unwrap_or(KqlType::Dynamic)),
        }
    }

    /// How a table's openness is stored (`None` for the `Any` of a plugin's output, which no
    /// table has).
    pub fn stored_name(self) -> Option<&'static str> {
        match self {
            OpenColumns::Suffixed => Some("suffixed"),
            OpenColumns::Unknown => Some("unknown"),
            OpenColumns::Any(_) => None,
        }
    }

    pub fn from_stored_name(name: &str) -> Option<OpenColumns> {
        match name {
            "suffixed" => Some(OpenColumns::Suffixed),
            "unknown" => Some(OpenColumns::Unknown),
            _ => None,
        }
    }

    /// The openness of a relation made from several (a union, a join): open if any input is.
    pub fn merge(a: Option<OpenColumns>, b: Option<OpenColumns>) -> Option<OpenColumns> {
        match (a, b) {
            (Some(OpenColumns::Any(ty)), _) | (_, Some(OpenColumns::Any(ty))) => Some(OpenColumns::Any(ty)),
            (Some(OpenColumns::Unknown), _) | (_, Some(OpenColumns::Unknown)) => Some(OpenColumns::Unknown),
            (Some(OpenColumns::Suffixed), _) | (_, Some(OpenColumns::Suffixed)) => Some(OpenColumns::Suffixed),
            (None, None) => None,
        }
    }
}

/// The type a name's suffix gives it, for a name with something before the suffix.
pub fn suffix_type(name: &str) -> Option<KqlType> {
    TYPE_SUFFIXES.iter().find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix)).map(|(_, ty)| *ty)
}

/// The suffix Log Analytics gives a custom field of type `ty`: numbers are stored as `real`,
/// and values with no suffix of their own (dynamic, timespan) as their JSON text.
fn suffix_for(ty: KqlType) -> (&'static str, KqlType) {
    match ty {
        KqlType::Int | KqlType::Long | KqlType::Real | KqlType::Decimal => ("_d", KqlType::Real),
        KqlType::Bool => ("_b", KqlType::Bool),
        KqlType::DateTime => ("_t", KqlType::DateTime),
        KqlType::Guid => ("_g", KqlType::Guid),
        KqlType::String | KqlType::Dynamic | KqlType::Timespan => ("_s", KqlType::String),
    }
}

/// The column a field of type `ty` is stored in: its own name when it already carries the
/// suffix of its type, else the name with that suffix (`user` → `user_s`).
pub fn suffixed_column(field: &str, ty: KqlType) -> KqlColumn {
    let (suffix, stored) = suffix_for(ty);
    let name = if field.ends_with(suffix) && field.len() > suffix.len() {
        field.to_string()
    } else {
        format!("{field}{suffix}")
    };
    KqlColumn::new(name, stored)
}

/// Log Analytics' limit on the columns of a table that grows with its data.
pub const MAX_OPEN_TABLE_COLUMNS: usize = 500;

/// How rows with fields a table does not list are stored in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Growth {
    /// The fields as stored: renamed to their suffixed column where the table suffixes them.
    pub fields: Vec<KqlColumn>,
    /// Columns the table gains.
    pub added: Vec<KqlColumn>,
    /// Fields not stored: the table is closed, or at its limit of columns.
    pub dropped: Vec<String>,
}

/// How `fields` (a transform's output) land in a table with `columns` and openness `open`: a
/// closed table drops the fields it does not list (as Azure Monitor does), a suffixed one
/// stores each in the column of its name and type suffix, a table of unknown schema stores
/// them under their own names; a growing table stops at [`MAX_OPEN_TABLE_COLUMNS`].
pub fn grow(open: Option<OpenColumns>, columns: &[KqlColumn], fields: &[KqlColumn]) -> Growth {
    let mut growth = Growth::default();
    let has = |name: &str, added: &[KqlColumn]| columns.iter().chain(added).find(|c| c.name == name).cloned();
    for field in fields {
        if has(&field.name, &growth.added).is_some() {
            growth.fields.push(field.clone());
            continue;
        }
        let wanted = match open {
            None | Some(OpenColumns::Any(_)) => None,
            Some(OpenColumns::Suffixed) => Some(suffixed_column(&field.name, field.ty)),
            Some(OpenColumns::Unknown) => Some(field.clone()),
        };
        let Some(wanted) = wanted else {
            growth.dropped.push(field.name.clone());
            growth.fields.push(field.clone());
            continue;
        };
        let stored = match has(&wanted.name, &growth.added) {
            Some(existing) => Some(existing),
            None if columns.len() + growth.added.len() < MAX_OPEN_TABLE_COLUMNS => {
                growth.added.push(wanted.clone());
                Some(wanted)
            }
            None => None,
        };
        match stored {
            Some(column) => growth.fields.push(KqlColumn::new(column.name, field.ty)),
            None => {
                growth.dropped.push(field.name.clone());
                growth.fields.push(field.clone());
            }
        }
    }
    growth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_give_types() {
        assert_eq!(OpenColumns::Suffixed.type_of("requestUri_s"), Some(KqlType::String));
        assert_eq!(OpenColumns::Suffixed.type_of("httpStatusCode_d"), Some(KqlType::Real));
        assert_eq!(OpenColumns::Suffixed.type_of("id_g"), Some(KqlType::Guid));
        assert_eq!(OpenColumns::Suffixed.type_of("_s"), None);
        assert_eq!(OpenColumns::Suffixed.type_of("Resource"), None);
        assert_eq!(OpenColumns::Any(KqlType::String).type_of("anything"), Some(KqlType::String));
        assert_eq!(OpenColumns::Unknown.type_of("Count_d"), Some(KqlType::Real));
        assert_eq!(OpenColumns::Unknown.type_of("ActorName"), Some(KqlType::Dynamic));
    }

    #[test]
    fn fields_get_the_suffix_of_their_type_once() {
        assert_eq!(suffixed_column("user", KqlType::String), KqlColumn::new("user_s", KqlType::String));
        assert_eq!(suffixed_column("user_s", KqlType::String), KqlColumn::new("user_s", KqlType::String));
        assert_eq!(suffixed_column("count", KqlType::Long), KqlColumn::new("count_d", KqlType::Real));
        assert_eq!(suffixed_column("count_s", KqlType::Real), KqlColumn::new("count_s_d", KqlType::Real));
        assert_eq!(suffixed_column("props", KqlType::Dynamic), KqlColumn::new("props_s", KqlType::String));
    }

    fn col(name: &str, ty: KqlType) -> KqlColumn {
        KqlColumn::new(name, ty)
    }

    #[test]
    fn suffixed_tables_grow_a_column_per_new_field() {
        let table = [col("TimeGenerated", KqlType::DateTime), col("Category", KqlType::String)];
        let fields =
            [col("Category", KqlType::String), col("requestUri", KqlType::String), col("status", KqlType::Long)];
        let growth = grow(Some(OpenColumns::Suffixed), &table, &fields);
        assert_eq!(growth.added, vec![col("requestUri_s", KqlType::String), col("status_d", KqlType::Real)]);
        let names: Vec<&str> = growth.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Category", "requestUri_s", "status_d"]);
        assert_eq!(growth.fields[2].ty, KqlType::Long, "the field keeps its type; storing converts it");
        assert!(growth.dropped.is_empty());

        // Once grown, the same field lands in the same column.
        let grown: Vec<KqlColumn> = table.iter().cloned().chain(growth.added).collect();
        let again = grow(Some(OpenColumns::Suffixed), &grown, &fields);
        assert!(again.added.is_empty() && again.dropped.is_empty());
    }

    #[test]
    fn closed_tables_drop_and_growth_stops_at_the_limit() {
        let table = [col("TimeGenerated", KqlType::DateTime)];
        let closed = grow(None, &table, &[col("extra", KqlType::String)]);
        assert_eq!((closed.added.len(), closed.dropped.clone()), (0, vec!["extra".to_string()]));

        let full: Vec<KqlColumn> =
            (0..MAX_OPEN_TABLE_COLUMNS - 1).map(|i| col(&format!("c{i}_s"), KqlType::String)).collect();
        let fields = [col("one", KqlType::String), col("two", KqlType::String)];
        let growth = grow(Some(OpenColumns::Suffixed), &full, &fields);
        assert_eq!(growth.added, vec![col("one_s", KqlType::String)]);
        assert_eq!(growth.dropped, vec!["two".to_string()]);

        let unknown = grow(Some(OpenColumns::Unknown), &table, &[col("Actor", KqlType::Dynamic)]);
        assert_eq!(unknown.added, vec![col("Actor", KqlType::Dynamic)]);
    }
}
