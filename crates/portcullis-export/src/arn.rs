//! The Lambda invocation URI of a function, as integrations (`uri`) and Lambda authorizers
//! (`authorizerUri`) name it:
//! `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:NAME/invocations`.

/// The invocation URI of function `name` of `account` in `region`.
pub(crate) fn invocation_uri(region: &str, account: &str, name: &str) -> String {
    let partition = partition(region);
    format!(
        "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/arn:{partition}:lambda:{region}:{account}:function:{name}/invocations"
    )
}

/// The AWS partition a Region belongs to: `aws-cn` for China, `aws-us-gov` for GovCloud.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_uris_follow_awss_form_and_partition() {
        assert_eq!(
            invocation_uri("us-east-1", "123456789012", "orders"),
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:orders/invocations"
        );
        assert_eq!(
            invocation_uri("cn-north-1", "123456789012", "f"),
            "arn:aws-cn:apigateway:cn-north-1:lambda:path/2015-03-31/functions/arn:aws-cn:lambda:cn-north-1:123456789012:function:f/invocations"
        );
        assert!(
            invocation_uri("us-gov-west-1", "123456789012", "f").starts_with("arn:aws-us-gov:apigateway:")
        );
    }
}
