//! Serverless Framework variables in `serverless.yml`: `${self:...}`, `${opt:stage}`,
//! `${opt:region}`, `${env:NAME}`, `${sls:stage}`, `${aws:region}`, `${aws:accountId}`,
//! `${param:NAME}`, with fallbacks (`${env:NAME, 'default'}`, `${opt:stage, self:provider.stage}`)
//! and nesting (`${self:custom.${sls:stage}.url}`)
//! (<https://www.serverless.com/framework/docs/providers/aws/guide/variables>).
//!
//! Sources that read the outside world (`file()`, `ssm:`, `cf:`, `s3:`) are not read: their
//! fallback applies, and they are reported either way.

use crate::source::{Cx, VKind, Val};

/// Variables nest at most this deep (a cycle stops here, reported).
const MAX_DEPTH: usize = 16;

/// Resolves variables against one `serverless.yml`.
pub(crate) struct Resolver<'r> {
    root: &'r Val,
    /// `${sls:stage}`: the `--stage` option, else `provider.stage`, else `dev`.
    pub(crate) stage: String,
    /// `${aws:region}`, `${opt:region}`: the region option, else `provider.region`, else us-east-1.
    pub(crate) region: String,
}

/// Why an expression has no value.
enum Miss {
    /// Not set (an unset environment variable, an absent `self:` path): a fallback applies.
    Unset,
    /// Reported already.
    Reported,
}

impl<'r> Resolver<'r> {
    /// A resolver for `root`; works out the stage and region first.
    pub(crate) fn new(cx: &mut Cx<'_>, root: &'r Val) -> Self {
        let mut r = Self { root, stage: String::new(), region: String::new() };
        r.stage = match &cx.options.stage {
            Some(s) => s.clone(),
            None => r.setting(cx, &["provider", "stage"]).unwrap_or_else(|| "dev".into()),
        };
        r.region = match &cx.options.region {
            Some(s) => s.clone(),
            None => r
                .setting(cx, &["provider", "region"])
                .unwrap_or_else(|| crate::options::DEFAULT_REGION.into()),
        };
        r
    }

    fn setting(&self, cx: &mut Cx<'_>, path: &[&str]) -> Option<String> {
        let v = path.iter().try_fold(self.root, |v, k| v.get(k))?;
        self.value(cx, v, 1)?.str().map(str::to_owned)
    }

    /// `v` with every variable in it resolved; entries whose variables cannot be resolved are
    /// left out (reported). `None` when `v` itself cannot be.
    pub(crate) fn resolve(&self, cx: &mut Cx<'_>, v: &Val) -> Option<Val> {
        self.value(cx, v, 0)
    }

    fn value(&self, cx: &mut Cx<'_>, v: &Val, depth: usize) -> Option<Val> {
        match &v.kind {
            VKind::Scalar { text, .. } if text.contains("${") => self.scalar(cx, v, text, depth),
            VKind::Scalar { .. } => Some(v.clone()),
            VKind::Seq(items) => {
                let items = items.iter().filter_map(|i| self.value(cx, i, depth)).collect();
                Some(Val { kind: VKind::Seq(items), ..v.clone() })
            }
            VKind::Map(entries) => {
                let entries = entries
                    .iter()
                    .filter_map(|(k, e)| self.value(cx, e, depth).map(|e| (k.clone(), e)))
                    .collect();
                Some(Val { kind: VKind::Map(entries), ..v.clone() })
            }
        }
    }

    /// A string with variables: a value of any type when it is one variable alone, else the
    /// string with each variable replaced.
    fn scalar(&self, cx: &mut Cx<'_>, at: &Val, text: &str, depth: usize) -> Option<Val> {
        if depth > MAX_DEPTH {
            cx.warn(at, format!("variables in {text:?} refer to each other in a cycle; left out"));
            return None;
        }
        if let Some(inner) = whole_variable(text) {
            return self.variable(cx, at, inner, depth);
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = closing(&rest[start..]) else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &rest[start + 2..start + end];
            let value = self.variable(cx, at, inner, depth)?;
            match value.str() {
                Some(s) => out.push_str(s),
                None => {
                    cx.warn(
                        at,
                        format!(
                            "`${{{inner}}}` is {}, which cannot be part of a string; left out",
                            value.describe()
                        ),
                    );
                    return None;
                }
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Some(Val::string_at(out, at))
    }

    /// `inner` of `${inner}`: alternatives separated by top-level commas, the first with a
    /// value wins.
    fn variable(&self, cx: &mut Cx<'_>, at: &Val, inner: &str, depth: usize) -> Option<Val> {
        for alternative in split_top_level(inner) {
            match self.alternative(cx, at, alternative.trim(), depth) {
                Ok(v) => return Some(v),
                Err(Miss::Unset) => continue,
                Err(Miss::Reported) => return None,
            }
        }
        // `${opt:stage}` alone, without the option, is the stage the service deploys to.
        match inner.trim() {
            "opt:stage" if !self.stage.is_empty() => return Some(Val::string_at(self.stage.clone(), at)),
            "opt:region" if !self.region.is_empty() => return Some(Val::string_at(self.region.clone(), at)),
            _ => {}
        }
        cx.warn(at, format!("`${{{inner}}}` has no value (and no fallback that has one); left out")).help(
            "set it, or give the value with ImportOptions (stage, region, parameters, environment lookup)",
        );
        None
    }

    fn alternative(&self, cx: &mut Cx<'_>, at: &Val, alt: &str, depth: usize) -> Result<Val, Miss> {
        if let Some(literal) = quoted(alt) {
            return Ok(Val::string_at(literal, at));
        }
        if !alt.is_empty() && (alt.parse::<f64>().is_ok() || alt == "true" || alt == "false") {
            return Ok(Val::string_at(alt, at));
        }
        if let Some(inner) = whole_variable(alt) {
            return self.variable(cx, at, inner, depth + 1).ok_or(Miss::Reported);
        }
        let reference = if alt.contains("${") {
            self.scalar(cx, at, alt, depth + 1)
                .and_then(|v| v.str().map(str::to_owned))
                .ok_or(Miss::Reported)?
        } else {
            alt.to_owned()
        };
        self.reference(cx, at, &reference, depth)
    }

    /// `source:address`.
    fn reference(&self, cx: &mut Cx<'_>, at: &Val, reference: &str, depth: usize) -> Result<Val, Miss> {
        let (source, address) = reference.split_once(':').unwrap_or((reference, ""));
        let found = match source {
            "self" => return self.self_reference(cx, address, depth),
            "opt" => match address {
                "stage" => cx.options.stage.clone(),
                "region" => cx.options.region.clone(),
                _ => None,
            },
            "env" => cx.options.env(address),
            "sls" if address == "stage" => Some(self.stage.clone()),
            "aws" if address == "region" => Some(self.region.clone()),
            "aws" if address == "accountId" => Some(cx.options.account_id().to_owned()),
            "param" => return self.param(cx, at, address, depth),
            _ => {
                let name = source.split('(').next().unwrap_or(source);
                cx.warn(at, format!("variable source `{name}` (in `${{{reference}}}`) is not read by an import; its fallback applies, if any"));
                None
            }
        };
        found.map(|s| Val::string_at(s, at)).ok_or(Miss::Unset)
    }

    /// `self:a.b.c` (empty: the whole file), resolved in turn.
    fn self_reference(&self, cx: &mut Cx<'_>, address: &str, depth: usize) -> Result<Val, Miss> {
        let target = address.split('.').filter(|k| !k.is_empty()).try_fold(self.root, |v, k| match &v.kind {
            VKind::Seq(items) => k.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => v.get(k),
        });
        let Some(target) = target else {
            return Err(Miss::Unset);
        };
        self.value(cx, target, depth + 1).ok_or(Miss::Reported)
    }

    /// `param:NAME`: the options' parameters, else `params.<stage>.NAME`, else
    /// `params.default.NAME` (Serverless Framework v4 stage parameters).
    fn param(&self, cx: &mut Cx<'_>, at: &Val, name: &str, depth: usize) -> Result<Val, Miss> {
        if let Some(v) = cx.options.parameters.get(name) {
            return Ok(Val::string_at(v.clone(), at));
        }
        let params = self.root.get("params").or_else(|| self.root.get("stages"));
        let found = [self.stage.as_str(), "default"].iter().find_map(|stage| {
            let section = params?.get(stage)?;
            section.get("params").unwrap_or(section).get(name)
        });
        match found {
            Some(v) => self.value(cx, v, depth + 1).ok_or(Miss::Reported),
            None => Err(Miss::Unset),
        }
    }
}

/// `inner` when `text` is exactly one `${inner}`.
fn whole_variable(text: &str) -> Option<&str> {
    let t = text.trim();
    if !t.starts_with("${") {
        return None;
    }
    (closing(t)? == t.len() - 1).then(|| &t[2..t.len() - 1])
}

/// The index of the `}` closing the `${` at the start of `s`, counting nested `${...}`.
fn closing(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// Splits at commas outside quotes and nested `${...}`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'$' && bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            None if c == b'}' => depth = depth.saturating_sub(1),
            None if c == b',' && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            None => {}
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

/// The text of a `'quoted'` or `"quoted"` literal.
fn quoted(s: &str) -> Option<&str> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    s.strip_prefix(q)?.strip_suffix(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ImportOptions;
    use crate::source;

    const SERVICE: &str = r#"
service: shop
params:
  prod: {domain: api.example.com}
  default: {domain: dev.example.com}
custom:
  stage: ${opt:stage, self:provider.stage}
  urls: {dev: "http://127.0.0.1:3000", prod: "https://shop.example.com"}
  settings: {a: 1}
  loop: ${self:custom.loop2}
  loop2: ${self:custom.loop}
provider:
  stage: dev
  region: ${opt:region, 'eu-central-1'}
values:
  service: ${self:service}
  stage: ${sls:stage}
  url: ${self:custom.urls.${self:custom.stage}}/orders
  env: ${env:SHOP_TOKEN, 'none'}
  env_set: ${env:HOME_DIR}
  param: https://${param:domain}/x
  region: ${aws:region}
  object: ${self:custom.settings}
  quoted_fallback: ${env:MISSING, "fall, back"}
  missing: ${env:MISSING}
  ssm: ${ssm:/shop/key, 'local-key'}
  cycle: ${self:custom.loop}
"#;

    fn resolve(key: &str, stage: Option<&str>) -> (Option<Val>, Vec<String>) {
        let mut options =
            ImportOptions::default().with_env(|n| (n == "HOME_DIR").then(|| "/home/me".to_owned()));
        options.stage = stage.map(str::to_owned);
        let mut cx = Cx::new("serverless.yml", &options);
        let root = source::parse(&mut cx, SERVICE).unwrap();
        let r = Resolver::new(&mut cx, &root);
        let v = root.get("values").and_then(|v| v.get(key)).unwrap();
        let out = r.resolve(&mut cx, v);
        (out, cx.diagnostics.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect())
    }

    fn text(key: &str, stage: Option<&str>) -> String {
        let (v, reports) = resolve(key, stage);
        assert!(reports.is_empty(), "{key}: {reports:?}");
        v.unwrap().str().unwrap().to_owned()
    }

    #[test]
    fn self_opt_sls_and_nested_variables_resolve() {
        assert_eq!(text("service", None), "shop");
        assert_eq!(text("stage", None), "dev");
        assert_eq!(text("stage", Some("prod")), "prod");
        assert_eq!(text("url", None), "http://127.0.0.1:3000/orders");
        assert_eq!(text("url", Some("prod")), "https://shop.example.com/orders");
        assert_eq!(text("region", None), "eu-central-1");
    }

    #[test]
    fn env_goes_through_the_lookup_and_falls_back() {
        assert_eq!(text("env", None), "none");
        assert_eq!(text("env_set", None), "/home/me");
        assert_eq!(text("quoted_fallback", None), "fall, back");
    }

    #[test]
    fn params_follow_the_stage() {
        assert_eq!(text("param", None), "https://dev.example.com/x");
        assert_eq!(text("param", Some("prod")), "https://api.example.com/x");
    }

    #[test]
    fn a_whole_variable_keeps_its_type() {
        let (v, _) = resolve("object", None);
        assert_eq!(v.unwrap().get("a").and_then(Val::str), Some("1"));
    }

    #[test]
    fn unset_unsupported_and_cyclic_variables_are_reported() {
        let (v, reports) = resolve("missing", None);
        assert!(v.is_none());
        assert_eq!(reports, ["25:12 `${env:MISSING}` has no value (and no fallback that has one); left out"]);
        let (v, reports) = resolve("ssm", None);
        assert_eq!(v.unwrap().str(), Some("local-key"));
        assert_eq!(
            reports,
            [
                "26:8 variable source `ssm` (in `${ssm:/shop/key}`) is not read by an import; its fallback applies, if any"
            ]
        );
        let (v, reports) = resolve("cycle", None);
        assert!(v.is_none());
        assert!(reports[0].contains("refer to each other in a cycle"), "{reports:?}");
    }
}
