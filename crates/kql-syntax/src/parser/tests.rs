use super::parse;
use crate::ast::*;

fn parse_ok(source: &str) -> Query {
    let parsed = parse(source);
    assert!(parsed.diagnostics.is_empty(), "{source}\n{:#?}", parsed.diagnostics);
    parsed.query
}

#[test]
fn pipeline_with_operators() {
    let query = parse_ok(
        "SigninLogs | where ResultType == 0 and UserPrincipalName has 'admin' | summarize count() by bin(TimeGenerated, 1h)",
    );
    assert_eq!(query.statements.len(), 1);
}

#[test]
fn let_statements_and_functions() {
    let query = parse_ok("let x = 5; let f = (a:long, b:string = 'd') { a + 1 }; let T = view () { print 1 }; f(x)");
    assert_eq!(query.statements.len(), 4);
    let Statement::Let(LetStatement { value: LetValue::Function(function), .. }) = &query.statements[1] else {
        panic!()
    };
    assert_eq!(function.parameters.len(), 2);
    assert!(function.parameters[1].default.is_some());
}

#[test]
fn literals() {
    parse_ok(
        "print datetime(2017-01-01 10:00), 1.5h, dynamic({'a':[1,2]}), guid(74be27de-1e4e-49d9-b579-fe0b331d3642), int(null), real(-inf), time(1.02:03:04)",
    );
}

#[test]
fn hyphenated_operators_and_wildcards() {
    parse_ok(
        "T | project-away Ignore*, ['a b'] | mv-expand x to typeof(long) | top-nested 2 of a by max(b), top-nested of c by count()",
    );
}

#[test]
fn blank_line_separates_statements() {
    let query = parse_ok("T\n| take 1\n\n// second\nT2\n| count");
    assert_eq!(query.statements.len(), 2);
}

#[test]
fn join_and_lookup() {
    parse_ok("X | join kind=leftouter (Y | where a > 1) on $left.a == $right.b, c | lookup kind=inner Z on k");
}

#[test]
fn string_operators() {
    parse_ok(
        "T | where a !contains 'x' and b in~ ('a','b') and c !in (1,2) and d !between (1 .. 2) and e matches regex '^a' and f has_any (g)",
    );
}

#[test]
fn errors_do_not_stop_the_parse() {
    let parsed = parse("T | where x == | take 1 | projct a | summarize by");
    assert_eq!(parsed.diagnostics.len(), 3, "{:#?}", parsed.diagnostics);
    assert!(parsed.diagnostics[1].help.as_deref() == Some("did you mean 'project'?"));
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    let source = format!("print {}1{}", "(".repeat(5000), ")".repeat(5000));
    let parsed = parse(&source);
    assert!(!parsed.diagnostics.is_empty());
}
