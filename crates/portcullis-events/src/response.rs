//! Turning a function's output into an HTTP response: payload 2.0
//! (docs/aws-compatibility.md#response-parsing) and 1.0 (the same section).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

/// Why a function's output is not a valid response. Every variant becomes
/// `500 {"message":"Internal Server Error"}` on an HTTP API
/// (docs/aws-compatibility.md#response-parsing, #lambda-integration-failures).
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// Payload 1.0 output that is not JSON.
    #[error("the function output is not JSON")]
    NotJson,
    /// Payload 1.0 output that is JSON but not an object.
    #[error("the function output is not a JSON object")]
    NotAnObject,
    /// Payload 1.0 output without `statusCode`.
    #[error("the function output has no statusCode")]
    MissingStatusCode,
    /// `statusCode` is not an integer from 100 to 599.
    #[error("statusCode is not an integer from 100 to 599")]
    InvalidStatusCode,
    /// `headers` or `multiValueHeaders` is not an object of the right value types.
    #[error("{0} is not an object of strings")]
    InvalidHeaderMap(&'static str),
    /// A header name or value that HTTP cannot carry.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// `cookies` is not an array of strings, or a cookie cannot be a header value.
    #[error("cookies is not an array of valid strings")]
    InvalidCookies,
    /// `body` is neither a string nor null.
    #[error("body is not a string")]
    InvalidBody,
    /// `isBase64Encoded` is not a boolean.
    #[error("isBase64Encoded is not a boolean")]
    InvalidBase64Flag,
    /// `isBase64Encoded` is true but `body` is not base64.
    #[error("body is not valid base64")]
    InvalidBase64,
}

/// Content type when a full-form response has none: AWS's emulator's HTTP API default (AWS
/// itself does not document one).
const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Parses a payload 2.0 function output (docs/aws-compatibility.md#response-parsing).
///
/// A JSON object with a `statusCode` key is the full form: `statusCode`, `headers` (string
/// values; numbers and booleans are accepted as their text), `cookies` (one `Set-Cookie` each),
/// `body`, `isBase64Encoded`; `multiValueHeaders` is ignored. Anything else — strings, arrays,
/// numbers, objects without `statusCode`, even invalid JSON — is inferred as `200`,
/// `content-type: application/json`, body = the raw output (a JSON string is unwrapped), the
/// emulator's refinement of the documented rule.
///
/// # Errors
/// A full-form response with a bad field: see [`ResponseError`].
pub fn response_v2(output: &[u8]) -> Result<Response<Bytes>, ResponseError> {
    // Only an object can be the full form: a derived `Deserialize` also reads a JSON array as the
    // struct's fields in order, which made `[204]` a 204 and `[0]` an error.
    if output.trim_ascii_start().starts_with(b"{")
        && let Ok(form) = serde_json::from_slice::<TypedFullForm>(output)
    {
        return typed_full_form(form);
    }
    response_v2_from_value(output)
}

/// [`response_v2`] through a `serde_json::Value`: every output, every error.
fn response_v2_from_value(output: &[u8]) -> Result<Response<Bytes>, ResponseError> {
    let object = match serde_json::from_slice::<Value>(output) {
        Ok(Value::Object(map)) if map.contains_key("statusCode") => map,
        Ok(Value::String(text)) => return Ok(inferred(Bytes::from(text))),
        _ => return Ok(inferred(Bytes::copy_from_slice(output))),
    };
    let mut response = full_form(&object)?;
    match object.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cookies)) => set_cookies(&mut response, cookies.iter().map(Value::as_str))?,
        Some(_) => return Err(ResponseError::InvalidCookies),
    }
    default_content_type(&mut response);
    Ok(response)
}

/// A 2.0 full-form output whose fields all have their expected types. Parsing into this first
/// skips building a `serde_json::Value` (a map with owned keys) for the common answer: under
/// callgrind the `Value` parse and drop were 6k of the 8k instructions of a `{"statusCode":200,
/// "body":"ok"}` response. Anything this does not take (no or `null` `statusCode`, a
/// field of another type, a duplicate key, not an object, not JSON) goes the `Value` way, which
/// decides between full form and inferred and names the error: so both ways give the same answer.
#[derive(serde::Deserialize)]
struct TypedFullForm {
    #[serde(rename = "statusCode")]
    status_code: u64,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(default)]
    cookies: Option<Vec<String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default, rename = "isBase64Encoded")]
    is_base64_encoded: Option<bool>,
}

/// [`TypedFullForm`] as a response, with the checks of [`full_form`] in the same order.
fn typed_full_form(form: TypedFullForm) -> Result<Response<Bytes>, ResponseError> {
    let status = status_code(Some(form.status_code))?;
    let base64 = form.is_base64_encoded.unwrap_or(false);
    let body = match form.body {
        None => Bytes::new(),
        Some(text) if base64 => decode_base64(&text)?,
        Some(text) => Bytes::from(text),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(headers) = &form.headers {
        set_headers(&mut response, headers)?;
    }
    if let Some(cookies) = &form.cookies {
        set_cookies(&mut response, cookies.iter().map(|c| Some(c.as_str())))?;
    }
    default_content_type(&mut response);
    Ok(response)
}

/// One `Set-Cookie` per cookie; `None` stands for a cookie that is not a string.
fn set_cookies<'c>(
    response: &mut Response<Bytes>,
    cookies: impl Iterator<Item = Option<&'c str>>,
) -> Result<(), ResponseError> {
    for cookie in cookies {
        let value =
            cookie.and_then(|c| HeaderValue::from_str(c).ok()).ok_or(ResponseError::InvalidCookies)?;
        response.headers_mut().append(SET_COOKIE, value);
    }
    Ok(())
}

/// Parses a payload 1.0 function output (docs/aws-compatibility.md#response-parsing): a JSON object
/// with `statusCode`, `headers`, `multiValueHeaders` (whose values win for a name in both), `body`
/// and `isBase64Encoded`.
///
/// # Errors
/// Not a JSON object, no `statusCode`, or a bad field: see [`ResponseError`].
pub fn response_v1(output: &[u8]) -> Result<Response<Bytes>, ResponseError> {
    let object = match serde_json::from_slice::<Value>(output) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ResponseError::NotAnObject),
        Err(_) => return Err(ResponseError::NotJson),
    };
    if !object.contains_key("statusCode") {
        return Err(ResponseError::MissingStatusCode);
    }
    let mut response = full_form(&object)?;
    match object.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(multi)) => {
            for (name, values) in multi {
                let name = header_name(name)?;
                if is_framing(&name) {
                    continue;
                }
                let values = match values {
                    Value::Array(values) => values,
                    Value::Null => continue,
                    _ => return Err(ResponseError::InvalidHeaderMap("multiValueHeaders")),
                };
                // multiValueHeaders win over headers for the same name
                // (docs/aws-compatibility.md#response-parsing).
                response.headers_mut().remove(&name);
                for value in values {
                    let value = header_value(&name, value, "multiValueHeaders")?;
                    response.headers_mut().append(name.clone(), value);
                }
            }
        }
        Some(_) => return Err(ResponseError::InvalidHeaderMap("multiValueHeaders")),
    }
    default_content_type(&mut response);
    Ok(response)
}

fn inferred(body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `statusCode`, `headers`, `body`, `isBase64Encoded`: the fields both formats share. Framing
/// headers the function sets (`content-length`, `transfer-encoding`, `connection`) are dropped:
/// the gateway frames the response itself, and a wrong length from a function must not corrupt
/// the connection.
fn full_form(object: &Map<String, Value>) -> Result<Response<Bytes>, ResponseError> {
    let status = status_code(object.get("statusCode").and_then(Value::as_u64))?;
    let base64 = match object.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(ResponseError::InvalidBase64Flag),
    };
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) if base64 => decode_base64(text)?,
        Some(Value::String(text)) => Bytes::copy_from_slice(text.as_bytes()),
        Some(_) => return Err(ResponseError::InvalidBody),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => set_headers(&mut response, headers)?,
        Some(_) => return Err(ResponseError::InvalidHeaderMap("headers")),
    }
    Ok(response)
}

/// `statusCode`: an integer from 100 to 599.
fn status_code(code: Option<u64>) -> Result<StatusCode, ResponseError> {
    code.and_then(|code| u16::try_from(code).ok())
        .filter(|code| (100..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ResponseError::InvalidStatusCode)
}

fn decode_base64(text: &str) -> Result<Bytes, ResponseError> {
    Ok(Bytes::from(STANDARD.decode(text.trim()).map_err(|_| ResponseError::InvalidBase64)?))
}

/// The `headers` object: framing headers and `null` values skipped, a later name replacing an
/// earlier one.
fn set_headers(response: &mut Response<Bytes>, headers: &Map<String, Value>) -> Result<(), ResponseError> {
    for (name, value) in headers {
        let name = header_name(name)?;
        if value.is_null() || is_framing(&name) {
            continue;
        }
        let value = header_value(&name, value, "headers")?;
        response.headers_mut().insert(name, value);
    }
    Ok(())
}

fn default_content_type(response: &mut Response<Bytes>) {
    if !response.headers().contains_key(CONTENT_TYPE) {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    }
}

fn header_name(name: &str) -> Result<HeaderName, ResponseError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| ResponseError::InvalidHeader(name.to_owned()))
}

fn is_framing(name: &HeaderName) -> bool {
    name == http::header::CONTENT_LENGTH
        || name == http::header::TRANSFER_ENCODING
        || name == http::header::CONNECTION
}

fn header_value(name: &HeaderName, value: &Value, field: &'static str) -> Result<HeaderValue, ResponseError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(ResponseError::InvalidHeaderMap(field)),
    };
    HeaderValue::from_str(&text).map_err(|_| ResponseError::InvalidHeader(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response<Bytes>) -> &str {
        std::str::from_utf8(r.body()).unwrap()
    }

    #[test]
    fn full_form_sets_status_headers_cookies_and_body() {
        let r = response_v2(
            br#"{"statusCode":201,"headers":{"content-type":"application/json","x-a":"1","x-n":5},
                "cookies":["sid=abc; HttpOnly; Path=/","theme=dark"],"body":"{}","isBase64Encoded":false}"#,
        )
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(r.headers()["x-n"], "5");
        let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["sid=abc; HttpOnly; Path=/", "theme=dark"]);
        assert_eq!(body(&r), "{}");
    }

    #[test]
    fn full_form_without_content_type_gets_the_emulator_default() {
        let r = response_v2(br#"{"statusCode":200,"body":"Hello user!"}"#).unwrap();
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(body(&r), "Hello user!");
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let r = response_v2(br#"{"statusCode":200,"body":"AAEC/w==","isBase64Encoded":true}"#).unwrap();
        assert_eq!(&r.body()[..], &[0, 1, 2, 255]);
        assert!(matches!(
            response_v2(br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#),
            Err(ResponseError::InvalidBase64)
        ));
    }

    /// The typed fast path and the `Value` path agree on every output, valid or not.
    #[test]
    fn typed_and_value_parsing_give_the_same_answer() {
        let outputs: &[&[u8]] = &[
            br#"{"statusCode":200,"body":"ok"}"#,
            br#"{"statusCode":201,"headers":{"x-a":"1","x-n":5,"x-b":true,"x-z":null,"content-length":"9"},"cookies":["a=1","b=2"],"body":"{\"k\":\"v\"}"}"#,
            br#"{"statusCode":200,"body":"AAEC/w==","isBase64Encoded":true}"#,
            br#"{"statusCode":200,"body":" AAEC ","isBase64Encoded":true}"#,
            br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
            br#"{"statusCode":200,"body":null,"isBase64Encoded":null,"headers":null,"cookies":null}"#,
            br#"{"statusCode":700,"body":"!!","isBase64Encoded":true}"#,
            br#"{"statusCode":99}"#,
            br#"{"statusCode":200.0}"#,
            br#"{"statusCode":"200"}"#,
            br#"{"statusCode":null,"body":"x"}"#,
            br#"{"statusCode":200,"statusCode":404}"#,
            br#"{"statusCode":200,"body":5}"#,
            br#"{"statusCode":200,"isBase64Encoded":"yes"}"#,
            br#"{"statusCode":200,"headers":[]}"#,
            br#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
            br#"{"statusCode":200,"headers":{"x":"a\nb"}}"#,
            br#"{"statusCode":200,"headers":{"x":[1]}}"#,
            br#"{"statusCode":200,"cookies":"a=1"}"#,
            br#"{"statusCode":200,"cookies":[1]}"#,
            br#"{"statusCode":200,"cookies":["a\n=1"]}"#,
            br#"{"statusCode":200,"multiValueHeaders":{"x":["1"]},"other":{"deep":[1,2]}}"#,
            br#"{"body":"no status"}"#,
            br#""just a string""#,
            br#"[1,2]"#,
            br#"42"#,
            b"not json",
            br#"{"statusCode":200} trailing"#,
            br#"[0]"#,
            br#"[204]"#,
            br#" [302,{"location":"https://example.com"}]"#,
        ];
        let view = |r: Result<Response<Bytes>, ResponseError>| match r {
            Ok(r) => format!("{} {:?} {:?}", r.status(), r.headers(), r.body()),
            Err(e) => format!("error {e:?}"),
        };
        for output in outputs {
            assert_eq!(
                view(response_v2(output)),
                view(response_v2_from_value(output)),
                "{}",
                String::from_utf8_lossy(output)
            );
        }
    }

    #[test]
    fn multi_value_headers_are_ignored_in_2_0() {
        let r = response_v2(br#"{"statusCode":200,"multiValueHeaders":{"x-m":["a","b"]}}"#).unwrap();
        assert!(!r.headers().contains_key("x-m"));
    }

    #[test]
    fn output_without_status_code_is_inferred_as_200_json() {
        for (output, expected) in [
            (&br#""Hello from Lambda!""#[..], "Hello from Lambda!"),
            (br#"{"message":"hi"}"#, r#"{"message":"hi"}"#),
            (br#"[1,2]"#, "[1,2]"),
            (br#"42"#, "42"),
            (br#"not json {"#, "not json {"),
            (br#"null"#, "null"),
        ] {
            let r = response_v2(output).unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(body(&r), expected);
        }
    }

    #[test]
    fn bad_full_forms_are_errors() {
        for output in [
            &br#"{"statusCode":"200"}"#[..],
            br#"{"statusCode":99}"#,
            br#"{"statusCode":600}"#,
            br#"{"statusCode":2.5}"#,
            br#"{"statusCode":200,"body":{"a":1}}"#,
            br#"{"statusCode":200,"headers":[]}"#,
            br#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
            br#"{"statusCode":200,"headers":{"x":"a\nb"}}"#,
            br#"{"statusCode":200,"cookies":"a=1"}"#,
            br#"{"statusCode":200,"isBase64Encoded":"yes"}"#,
        ] {
            assert!(response_v2(output).is_err(), "{}", String::from_utf8_lossy(output));
        }
    }

    #[test]
    fn v1_multi_value_headers_win() {
        let r = response_v1(
            br#"{"statusCode":200,"headers":{"x-h":"single","content-type":"text/html"},
                "multiValueHeaders":{"X-H":["a","b"],"Set-Cookie":["a=1","b=2"]},"body":"<p>"}"#,
        )
        .unwrap();
        let xh: Vec<_> = r.headers().get_all("x-h").iter().collect();
        assert_eq!(xh, ["a", "b"]);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert_eq!(r.headers()["content-type"], "text/html");
        assert_eq!(body(&r), "<p>");
    }

    #[test]
    fn v1_requires_an_object_with_status_code() {
        assert!(matches!(response_v1(b"\"hi\""), Err(ResponseError::NotAnObject)));
        assert!(matches!(response_v1(b"{"), Err(ResponseError::NotJson)));
        assert!(matches!(response_v1(b"{\"body\":\"x\"}"), Err(ResponseError::MissingStatusCode)));
        let r = response_v1(br#"{"statusCode":204}"#).unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert!(r.body().is_empty());
    }
}
