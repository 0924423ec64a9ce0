//! How calls name their result column when the query does not, following Kusto's
//! `ResultNameKind` of each function (the table of Kusto.Language's function symbols).

use crate::registry::ResultNaming;

/// Scalar functions whose result takes the name of their first argument (`tostring(x)` is `x`).
const FIRST_ARGUMENT: &[&str] = &[
    "abs",
    "acos",
    "asin",
    "atan",
    "atan2",
    "bin",
    "bin_at",
    "bin_auto",
    "binary_and",
    "binary_not",
    "binary_or",
    "binary_shift_left",
    "binary_shift_right",
    "binary_xor",
    "bitset_count_ones",
    "ceiling",
    "cos",
    "erf",
    "erfc",
    "exp",
    "exp10",
    "exp2",
    "floor",
    "format_bytes",
    "format_datetime",
    "format_timespan",
    "gamma",
    "log",
    "log10",
    "log2",
    "loggamma",
    "parse_csv",
    "parse_json",
    "parse_xml",
    "parsejson",
    "pow",
    "rand",
    "round",
    "series_fill_backward",
    "series_fill_const",
    "series_fill_forward",
    "series_fill_linear",
    "series_fir",
    "series_iir",
    "series_outliers",
    "sin",
    "split",
    "sqrt",
    "startofday",
    "tan",
    "tobool",
    "toboolean",
    "todatetime",
    "todecimal",
    "todouble",
    "todynamic",
    "toguid",
    "tohex",
    "toint",
    "tolong",
    "toobject",
    "toreal",
    "tostring",
    "totime",
    "totimespan",
    "datetime_utc_to_local",
    "datetime_local_to_utc",
];

pub fn scalar_naming(name: &str) -> ResultNaming {
    match name {
        "strlen" | "string_size" | "dcount_hll" | "percentile_tdigest" => ResultNaming::NameAndFirstArgument,
        "gettype" => ResultNaming::PrefixAndFirstArgument("type"),
        "repeat" => ResultNaming::PrefixAndFirstArgument("repeat"),
        "treepath" => ResultNaming::PrefixAndFirstArgument("tree"),
        "percentiles_array_tdigest" => ResultNaming::PrefixAndFirstArgument("percentile_tdigest"),
        "hll_merge" => ResultNaming::PrefixOnly("hll_merged_result"),
        "merge_tdigest" | "tdigest_merge" => ResultNaming::PrefixOnly("tdigests_merge_result"),
        "make_datetime" | "make_timespan" => ResultNaming::OnlyArgument,
        _ if FIRST_ARGUMENT.contains(&name) => ResultNaming::FirstArgument,
        _ => ResultNaming::None,
    }
}

pub fn aggregate_naming(name: &str) -> ResultNaming {
    match name {
        "make_list" | "make_list_if" | "make_list_with_nulls" | "makelist" => {
            ResultNaming::PrefixAndFirstArgument("list")
        }
        "make_set" | "make_set_if" | "makeset" => ResultNaming::PrefixAndFirstArgument("set"),
        "make_bag" | "make_bag_if" => ResultNaming::PrefixAndFirstArgument("bag"),
        "make_dictionary" => ResultNaming::PrefixAndFirstArgument("dictionary"),
        "buildschema" => ResultNaming::PrefixAndFirstArgument("schema"),
        "tdigest_merge" | "merge_tdigest" => ResultNaming::PrefixAndFirstArgument("merge_tdigests"),
        "take_anyif" | "binary_all_and" | "binary_all_or" | "binary_all_xor" => ResultNaming::FirstArgument,
        "arg_max" | "arg_min" | "take_any" | "percentile" | "percentiles" | "percentiles_array" | "percentilew"
        | "percentilesw" | "percentilesw_array" => ResultNaming::None,
        _ => ResultNaming::NameAndFirstArgument,
    }
}
