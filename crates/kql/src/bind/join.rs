//! `join` (all of KQL's kinds, with `innerunique` as the default) and `lookup`.

use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use vigil_catalog::OpenColumns;
use vigil_kql_functions::conversion::{coalesce_empty, convert};
use vigil_kql_functions::{KqlColumn, KqlType, TypedExpr};
use vigil_kql_syntax::ast::{self, BinaryOp, ExprKind};
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::operators::unknown_column;
use crate::error::{BindError, BindResult};
use crate::relation::{Relation, unique_name};

const LEFT: &str = "$left";
const RIGHT: &str = "$right";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftSemi,
    LeftAnti,
    RightSemi,
    RightAnti,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "innerunique" => Kind::InnerUnique,
            "inner" => Kind::Inner,
            "leftouter" => Kind::LeftOuter,
            "rightouter" => Kind::RightOuter,
            "fullouter" | "outer" => Kind::FullOuter,
            "leftsemi" | "semi" => Kind::LeftSemi,
            "leftanti" | "anti" | "leftantisemi" => Kind::LeftAnti,
            "rightsemi" => Kind::RightSemi,
            "rightanti" | "rightantisemi" => Kind::RightAnti,
            _ => return None,
        })
    }

    fn datafusion(self) -> JoinType {
        match self {
            Kind::InnerUnique | Kind::Inner => JoinType::Inner,
            Kind::LeftOuter => JoinType::Left,
            Kind::RightOuter => JoinType::Right,
            Kind::FullOuter => JoinType::Full,
            Kind::LeftSemi => JoinType::LeftSemi,
            Kind::LeftAnti => JoinType::LeftAnti,
            Kind::RightSemi => JoinType::RightSemi,
            Kind::RightAnti => JoinType::RightAnti,
        }
    }
}

/// A pair of key columns, left and right.
struct KeyPair {
    left: KqlColumn,
    right: KqlColumn,
}

impl Binder<'_> {
    pub(crate) fn bind_join(
        &mut self,
        left: Relation,
        options: &[ast::OperatorOption],
        right: &ast::Expr,
        on: &[ast::Expr],
    ) -> BindResult<Relation> {
        let kind = kind_option(
            "join",
            options,
            Kind::InnerUnique,
            &[
                Kind::InnerUnique,
                Kind::Inner,
                Kind::LeftOuter,
                Kind::RightOuter,
                Kind::FullOuter,
                Kind::LeftSemi,
                Kind::LeftAnti,
                Kind::RightSemi,
                Kind::RightAnti,
            ],
            "innerunique, inner, leftouter, rightouter, fullouter, leftsemi, leftanti, rightsemi or rightanti",
        )?;
        let mut left = left;
        let mut right = self.bind_tabular(right)?;
        let keys = key_pairs(&mut left, &mut right, on)?;
        let joined = join_plan(&left, &right, &keys, kind)?;
        let (exprs, columns) = match kind {
            Kind::LeftSemi | Kind::LeftAnti => side_columns(&left, LEFT, false, &[]),
            Kind::RightSemi | Kind::RightAnti => side_columns(&right, RIGHT, false, &[]),
            _ => {
                let (mut exprs, mut columns) =
                    side_columns(&left, LEFT, matches!(kind, Kind::RightOuter | Kind::FullOuter), &[]);
                for column in &right.columns {
                    let name = unique_name(&column.name, |n| columns.iter().any(|c: &KqlColumn| c.name == n));
                    exprs
                        .push(side_expr(RIGHT, column, matches!(kind, Kind::LeftOuter | Kind::FullOuter)).alias(&name));
                    columns.push(KqlColumn::new(name, column.ty));
                }
                (exprs, columns)
            }
        };
        let plan = LogicalPlanBuilder::from(joined).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
        let mut relation = Relation::new(plan, columns);
        relation.open = match kind {
            Kind::RightSemi | Kind::RightAnti => right.open,
            Kind::LeftSemi | Kind::LeftAnti => left.open,
            _ => OpenColumns::merge(left.open, right.open),
        };
        Ok(relation)
    }

    pub(crate) fn bind_lookup(
        &mut self,
        left: Relation,
        options: &[ast::OperatorOption],
        right: &ast::Expr,
        on: &[ast::Expr],
    ) -> BindResult<Relation> {
        let kind =
            kind_option("lookup", options, Kind::LeftOuter, &[Kind::LeftOuter, Kind::Inner], "leftouter or inner")?;
        let mut left = left;
        let mut right = self.bind_tabular(right)?;
        let keys = key_pairs(&mut left, &mut right, on)?;
        let joined = join_plan(&left, &right, &keys, kind)?;
        let (mut exprs, mut columns) = side_columns(&left, LEFT, false, &[]);
        let right_keys: Vec<&str> = keys.iter().map(|k| k.right.name.as_str()).collect();
        for column in right.columns.iter().filter(|c| !right_keys.contains(&c.name.as_str())) {
            let name = unique_name(&column.name, |n| columns.iter().any(|c: &KqlColumn| c.name == n));
            exprs.push(side_expr(RIGHT, column, kind == Kind::LeftOuter).alias(&name));
            columns.push(KqlColumn::new(name, column.ty));
        }
        let plan = LogicalPlanBuilder::from(joined).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
        Ok(Relation::new(plan, columns))
    }
}

/// The `kind=` option of `join` or `lookup`, which allow the kinds in `allowed`.
fn kind_option(
    operator: &str,
    options: &[ast::OperatorOption],
    default: Kind,
    allowed: &[Kind],
    expected: &str,
) -> BindResult<Kind> {
    let mut kind = default;
    for option in options.iter().filter(|o| o.name.name == "kind") {
        let name = option.value.as_name().unwrap_or_default();
        kind = Kind::parse(name).filter(|k| allowed.contains(k)).ok_or_else(|| {
            BindError::new(
                Code::BadArguments,
                option.value.span,
                format!("unknown {operator} kind '{name}'; expected {expected}"),
            )
        })?;
    }
    Ok(kind)
}

/// The equality conditions of `on`: `Key` (same name on both sides) or `$left.a == $right.b`.
/// A key the side lacks but its open part has is added to it.
fn key_pairs(left: &mut Relation, right: &mut Relation, on: &[ast::Expr]) -> BindResult<Vec<KeyPair>> {
    let mut pairs = Vec::new();
    for condition in on {
        collect_key_pairs(left, right, condition, &mut pairs)?;
    }
    if pairs.is_empty() {
        return Err(BindError::new(Code::BadArguments, Span::default(), "join needs at least one key column"));
    }
    Ok(pairs)
}

fn collect_key_pairs(
    left: &mut Relation,
    right: &mut Relation,
    condition: &ast::Expr,
    pairs: &mut Vec<KeyPair>,
) -> BindResult<()> {
    match &condition.kind {
        ExprKind::Name(ident) => {
            let l = key_column(left, ident)?;
            let r = key_column(right, ident)?;
            pairs.push(KeyPair { left: l, right: r });
            Ok(())
        }
        ExprKind::Binary { op: BinaryOp::And, left: a, right: b } => {
            collect_key_pairs(left, right, a, pairs)?;
            collect_key_pairs(left, right, b, pairs)
        }
        ExprKind::Binary { op: BinaryOp::Equal, left: a, right: b } => {
            let (side_a, name_a) = side_reference(a)?;
            let (side_b, name_b) = side_reference(b)?;
            let (left_name, right_name) = match (side_a, side_b) {
                (LEFT, RIGHT) => (name_a, name_b),
                (RIGHT, LEFT) => (name_b, name_a),
                _ => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        condition.span,
                        "a join condition compares a $left column with a $right column",
                    ));
                }
            };
            let l = key_column(left, left_name)?;
            let r = key_column(right, right_name)?;
            pairs.push(KeyPair { left: l, right: r });
            Ok(())
        }
        _ => Err(BindError::new(
            Code::Unsupported,
            condition.span,
            "join conditions must be column names or $left.column == $right.column",
        )),
    }
}

/// A key column of one side of a join, listed from the side's open part if need be.
fn key_column(side: &mut Relation, name: &ast::Ident) -> BindResult<KqlColumn> {
    match side.with_open_column(&name.name)? {
        Some(listed) => {
            *side = listed;
            Ok(side.column(&name.name).expect("listed").clone())
        }
        None => Err(unknown_column(&name.name, name.span, side)),
    }
}

fn side_reference(expr: &ast::Expr) -> BindResult<(&'static str, &ast::Ident)> {
    if let ExprKind::Member { target, name } = &expr.kind
        && let ExprKind::Name(side) = &target.kind
    {
        match side.name.as_str() {
            LEFT => return Ok((LEFT, name)),
            RIGHT => return Ok((RIGHT, name)),
            _ => {}
        }
    }
    Err(BindError::new(Code::BadArguments, expr.span, "expected $left.column or $right.column"))
}

fn qualified(side: &str, name: &str) -> Expr {
    Expr::Column(Column::new(Some(side), name))
}

/// A column of one side; strings from the side an outer join may leave empty read as "".
fn side_expr(side: &str, column: &KqlColumn, nullable: bool) -> Expr {
    let expr = qualified(side, &column.name);
    if nullable && column.ty == KqlType::String { coalesce_empty(expr) } else { expr }
}

fn side_columns(relation: &Relation, side: &str, nullable: bool, skip: &[&str]) -> (Vec<Expr>, Vec<KqlColumn>) {
    let columns: Vec<KqlColumn> =
        relation.columns.iter().filter(|c| !skip.contains(&c.name.as_str())).cloned().collect();
    let exprs = columns.iter().map(|c| side_expr(side, c, nullable).alias(&c.name)).collect();
    (exprs, columns)
}

/// The join of two relations aliased `$left` and `$right`. For `innerunique`, the left side
/// keeps one row per key first.
fn join_plan(
    left: &Relation,
    right: &Relation,
    keys: &[KeyPair],
    kind: Kind,
) -> BindResult<datafusion::logical_expr::LogicalPlan> {
    let mut left_plan = left.plan.clone();
    if kind == Kind::InnerUnique {
        let on: Vec<Expr> = keys.iter().map(|k| crate::relation::column_expr(&k.left.name)).collect();
        let select: Vec<Expr> = left.columns.iter().map(|c| crate::relation::column_expr(&c.name)).collect();
        left_plan = LogicalPlanBuilder::from(left_plan)
            .distinct_on(on, select, None)
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
    }
    let left_plan = LogicalPlanBuilder::from(left_plan).alias(LEFT).and_then(|b| b.build()).map_err(BindError::plan)?;
    let right_plan =
        LogicalPlanBuilder::from(right.plan.clone()).alias(RIGHT).and_then(|b| b.build()).map_err(BindError::plan)?;
    let conditions: Vec<Expr> = keys
        .iter()
        .map(|key| {
            let ty = KqlType::numeric_promotion(key.left.ty, key.right.ty).unwrap_or(key.left.ty);
            let l = convert(TypedExpr::new(qualified(LEFT, &key.left.name), key.left.ty), ty);
            let r = convert(TypedExpr::new(qualified(RIGHT, &key.right.name), key.right.ty), ty);
            l.eq(r)
        })
        .collect();
    LogicalPlanBuilder::from(left_plan)
        .join_on(right_plan, kind.datafusion(), conditions)
        .and_then(|b| b.build())
        .map_err(BindError::plan)
}
