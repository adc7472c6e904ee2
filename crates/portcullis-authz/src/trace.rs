//! What an authorizer records of its checks when asked to: every check in order, passed or
//! failed, with what it saw. `portcullis explain` (and the console's explain) run the real
//! authorize stage with a recording trace, so what they show is what serving does; on the
//! request path the trace is off and each check costs one branch.

use std::fmt;

/// One check of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What was checked (`token`, `signature`, `iss`, `identity`, `answer`, `rule`, ...).
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check == NOTE {
            return write!(f, "note {}", self.detail);
        }
        write!(f, "{} {:<10} {}", if self.passed { "ok  " } else { "FAIL" }, self.check, self.detail)
    }
}

/// The `check` of a [`Trace::note`].
const NOTE: &str = "note";

/// Another route an answer may be reused for (a Lambda authorizer's cached answer), by its
/// route key and request ARN: a recording trace notes which of them the answer would deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    /// The route key, for the note.
    pub route_key: String,
    /// The ARN a request to it has.
    pub arn: String,
}

/// A decision's record: off (the request path) or recording.
#[derive(Debug, Default)]
pub struct Trace {
    steps: Option<Vec<Step>>,
    siblings: Vec<Sibling>,
}

impl Trace {
    /// Records nothing.
    pub fn off() -> Self {
        Trace::default()
    }

    /// Records every check; `siblings` are the other routes a cached answer would serve.
    pub fn recording(siblings: Vec<Sibling>) -> Self {
        Trace { steps: Some(Vec::new()), siblings }
    }

    /// Whether checks are recorded (an authorizer then bypasses shortcuts that would skip
    /// checks, such as a cache of verified tokens, but never ones that change the decision).
    pub fn is_on(&self) -> bool {
        self.steps.is_some()
    }

    /// Records a passed check; `detail` is only built when recording.
    pub fn pass(&mut self, check: &'static str, detail: impl FnOnce() -> String) {
        if let Some(steps) = &mut self.steps {
            steps.push(Step { check, passed: true, detail: detail() });
        }
    }

    /// Records a failed check.
    pub fn fail(&mut self, check: &'static str, detail: impl FnOnce() -> String) {
        if let Some(steps) = &mut self.steps {
            steps.push(Step { check, passed: false, detail: detail() });
        }
    }

    /// Records something worth knowing that is not a check (a cached answer that other routes
    /// would be denied by, say).
    pub fn note(&mut self, detail: impl FnOnce() -> String) {
        if let Some(steps) = &mut self.steps {
            steps.push(Step { check: NOTE, passed: true, detail: detail() });
        }
    }

    /// The other routes a cached answer would serve (empty unless recording).
    pub fn siblings(&self) -> &[Sibling] {
        &self.siblings
    }

    /// The steps recorded, in order.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_off_trace_records_nothing_and_builds_no_detail() {
        let mut trace = Trace::off();
        trace.pass("x", || unreachable!("the detail of an off trace is never built"));
        assert!(trace.into_steps().is_empty());
        let mut trace = Trace::recording(Vec::new());
        trace.pass("a", || "seen".into());
        trace.fail("b", || "wrong".into());
        let steps = trace.into_steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].to_string(), "FAIL b          wrong");
    }
}
