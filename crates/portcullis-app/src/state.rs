//! The state directory (`state_dir`): the development issuer's private key, function
//! bootstraps. Created on first use with a `.gitignore` that keeps all of it out of version
//! control: a private key must never be committed by accident.

use std::path::Path;

const GITIGNORE: &str =
    "# Created by Portcullis: this directory holds private keys and generated files.\n*\n";

/// Creates `dir` (and its `.gitignore`) if it does not exist yet; an existing directory is left
/// as it is.
///
/// # Errors
/// The directory or the file cannot be created.
pub(crate) fn prepare(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(".gitignore"), GITIGNORE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_state_dir_ignores_itself_and_an_existing_one_is_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/.portcullis");
        super::prepare(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(".gitignore")).unwrap().lines().last(), Some("*"));
        std::fs::remove_file(dir.join(".gitignore")).unwrap();
        super::prepare(&dir).unwrap();
        assert!(!dir.join(".gitignore").exists(), "the user's own directory is not touched");
    }
}
