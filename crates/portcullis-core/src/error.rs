//! Walking an error's chain of sources: one place, for every stage that asks "was this caused
//! by ...?" or logs a failure with its causes.

use std::error::Error;
use std::fmt;

/// Whether `error`, or any error in its chain of sources, is an `E`.
pub fn is_caused_by<E: Error + 'static>(error: &(dyn Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<E>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// An error and its sources, `: `-separated, for one log line.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut current = self.0.source();
        while let Some(e) = current {
            write!(f, ": {e}")?;
            current = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_chain_is_walked_and_printed() {
        let error = Outer(std::io::Error::other("inner"));
        assert!(is_caused_by::<std::io::Error>(&error));
        assert!(!is_caused_by::<fmt::Error>(&error));
        assert_eq!(ErrorChain(&error).to_string(), "outer: inner");
    }
}
