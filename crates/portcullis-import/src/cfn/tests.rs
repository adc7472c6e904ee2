use indexmap::IndexMap;

use super::*;
use crate::options::ImportOptions;
use crate::source;

const TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
  Origins: {Type: CommaDelimitedList, Default: "https://a.example, https://b.example"}
  NoDefault: {Type: String}
Mappings:
  Env: {dev: {Issuer: "https://dev.idp.example"}}
Resources:
  AuthFn: {Type: AWS::Serverless::Function}
  Api: {Type: AWS::Serverless::HttpApi}
  Table: {Type: AWS::DynamoDB::Table}
Values:
  ref_param: !Ref Stage
  ref_list: !Ref Origins
  ref_function: {Ref: AuthFn}
  ref_api: !Ref Api
  ref_region: !Ref AWS::Region
  getatt_short: !GetAtt AuthFn.Arn
  getatt_long: {"Fn::GetAtt": [AuthFn, Arn]}
  sub: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthFn.Arn}/invocations"
  sub_vars: !Sub ["${Scheme}://${Host}/${!stageVariables.path}", {Scheme: https, Host: !Ref Stage}]
  join: !Join ["", ["https://", !Ref Stage, ".example.com"]]
  select: !Select [1, !Ref Origins]
  find: !FindInMap [Env, !Ref Stage, Issuer]
  nested:
    keep: x
    drop: !Ref AWS::NoValue
    unresolved: !GetAtt Table.Arn
  bad_if: !If [IsProd, a, b]
  bad_ref: !Ref NoDefault
"#;

fn resolve(key: &str, overrides: &[(&str, &str)]) -> (Result<Val, Unresolved>, Vec<String>) {
    let mut options = ImportOptions::default();
    options.region = Some("eu-west-1".into());
    options.parameters =
        overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<IndexMap<_, _>>();
    let mut cx = Cx::new("template.yaml", &options);
    let root = source::parse(&mut cx, TEMPLATE).unwrap();
    let template = Template::new(&mut cx, &root, &options.parameters);
    let value = root.get("Values").and_then(|v| v.get(key)).unwrap();
    let resolved = template.resolve(&mut cx, value);
    let reports = cx.diagnostics.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect();
    (resolved, reports)
}

fn text(key: &str) -> String {
    let (v, reports) = resolve(key, &[]);
    assert!(reports.is_empty(), "{key}: {reports:?}");
    v.unwrap().str().unwrap().to_owned()
}

#[test]
fn refs_resolve_to_parameters_pseudo_parameters_and_resources() {
    assert_eq!(text("ref_param"), "dev");
    assert_eq!(text("ref_function"), "AuthFn");
    assert_eq!(text("ref_api"), "Api");
    assert_eq!(text("ref_region"), "eu-west-1");
    let (list, _) = resolve("ref_list", &[]);
    assert_eq!(list.unwrap().strings().unwrap(), ["https://a.example", "https://b.example"]);
}

#[test]
fn overrides_win_over_defaults() {
    let (v, _) = resolve("ref_param", &[("Stage", "prod")]);
    assert_eq!(v.unwrap().str(), Some("prod"));
}

#[test]
fn getatt_arn_of_a_function_is_its_lambda_arn() {
    assert_eq!(text("getatt_short"), "arn:aws:lambda:eu-west-1:123456789012:function:AuthFn");
    assert_eq!(text("getatt_long"), "arn:aws:lambda:eu-west-1:123456789012:function:AuthFn");
}

#[test]
fn sub_join_select_and_find_in_map_build_strings() {
    assert_eq!(
        text("sub"),
        "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:AuthFn/invocations"
    );
    assert_eq!(text("sub_vars"), "https://dev/${stageVariables.path}");
    assert_eq!(text("join"), "https://dev.example.com");
    assert_eq!(text("select"), "https://b.example");
    assert_eq!(text("find"), "https://dev.idp.example");
}

#[test]
fn no_value_drops_silently_and_other_resources_are_reported() {
    let (v, reports) = resolve("nested", &[]);
    let v = v.unwrap();
    assert_eq!(v.entries().iter().map(|(k, _)| k.text.as_str()).collect::<Vec<_>>(), ["keep"]);
    assert_eq!(
        reports,
        [
            "28:25 `Fn::GetAtt Table.Arn` cannot be resolved: only a function's Arn of this template can; left out"
        ]
    );
}

#[test]
fn conditions_and_parameters_without_default_are_reported_at_their_position() {
    let (v, reports) = resolve("bad_if", &[]);
    assert_eq!(v, Err(Unresolved::Reported));
    assert_eq!(
        reports,
        ["29:15 intrinsic `Fn::If` cannot be resolved (conditions are not evaluated); left out"]
    );
    let (_, reports) = resolve("bad_ref", &[]);
    assert_eq!(
        reports,
        ["30:17 `Ref NoDefault` names no parameter (with a Default) or resource of this template; left out"]
    );
}
