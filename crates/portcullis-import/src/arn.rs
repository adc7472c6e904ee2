//! Lambda function ARNs, as integrations and authorizers name functions: the function ARN
//! itself, or API Gateway's invocation URI around it.

/// The function an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionRef {
    /// The function name (the native function's name).
    pub(crate) name: String,
    /// A version or alias after the name (`:live`, `:$LATEST`), if any.
    pub(crate) qualifier: Option<String>,
}

/// Why an ARN names no function Portcullis can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnError {
    /// Not a Lambda function ARN or invocation URI.
    NotLambda,
    /// The name depends on a stage variable (`function:${stageVariables.fn}`), known only per
    /// request on AWS.
    StageVariable,
}

const INVOCATION_PREFIX: &str = ":lambda:path/2015-03-31/functions/";
const INVOCATION_SUFFIX: &str = "/invocations";

/// The function named by `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` or by
/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/<that>/invocations`.
pub(crate) fn function(uri: &str) -> Result<FunctionRef, ArnError> {
    let uri = uri.trim();
    let arn = match uri.find(INVOCATION_PREFIX) {
        Some(i) if uri.starts_with("arn:") => {
            let inner = &uri[i + INVOCATION_PREFIX.len()..];
            inner.strip_suffix(INVOCATION_SUFFIX).unwrap_or(inner)
        }
        _ => uri,
    };
    let parts: Vec<&str> = arn.split(':').collect();
    // arn : partition : lambda : region : account : function : name [: qualifier]
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" {
        return Err(ArnError::NotLambda);
    }
    let name = parts[6];
    if name.contains("${") || parts.get(7).is_some_and(|q| q.contains("${")) {
        return Err(ArnError::StageVariable);
    }
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ArnError::NotLambda);
    }
    Ok(FunctionRef { name: name.to_owned(), qualifier: parts.get(7).map(|q| q.to_string()) })
}

/// The ARN of a function of this account, as `Fn::GetAtt Function.Arn` resolves.
pub(crate) fn of_function(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(uri: &str) -> Result<(String, Option<String>), ArnError> {
        function(uri).map(|f| (f.name, f.qualifier))
    }

    #[test]
    fn every_documented_form_names_the_function() {
        assert_eq!(
            name("arn:aws:lambda:us-east-2:123456789012:function:HelloWorld"),
            Ok(("HelloWorld".into(), None))
        );
        assert_eq!(
            name(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:TestSimpleProxy/invocations"
            ),
            Ok(("TestSimpleProxy".into(), None))
        );
        assert_eq!(
            name(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:APIGateway-Request-Authorizer:vtwo/invocations"
            ),
            Ok(("APIGateway-Request-Authorizer".into(), Some("vtwo".into())))
        );
        assert_eq!(name("arn:aws-cn:lambda:cn-north-1:123456789012:function:f_1"), Ok(("f_1".into(), None)));
    }

    #[test]
    fn other_uris_name_no_function() {
        assert_eq!(name("https://example.com/x"), Err(ArnError::NotLambda));
        assert_eq!(name("arn:aws:apigateway:us-east-1:dynamodb:action/PutItem"), Err(ArnError::NotLambda));
        assert_eq!(
            name("arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}"),
            Err(ArnError::StageVariable)
        );
    }
}
