//! The console's files, embedded in the binary: one HTML page, one script, one stylesheet, no
//! library (see `assets/console/README.md`). The page needs no token to load (it holds no data);
//! everything it shows comes from `/api`, which does.

/// One embedded file.
pub(crate) struct Asset {
    /// The file's bytes.
    pub(crate) body: &'static [u8],
    /// Its `content-type`.
    pub(crate) content_type: &'static str,
}

const INDEX: Asset = Asset {
    body: include_bytes!("../../assets/console/index.html"),
    content_type: "text/html; charset=utf-8",
};
const SCRIPT: Asset = Asset {
    body: include_bytes!("../../assets/console/app.js"),
    content_type: "text/javascript; charset=utf-8",
};
const STYLE: Asset =
    Asset { body: include_bytes!("../../assets/console/app.css"), content_type: "text/css; charset=utf-8" };

/// The asset served at `path` (`/ui`, `/ui/`, `/ui/index.html`, `/ui/app.js`, `/ui/app.css`).
pub(crate) fn get(path: &str) -> Option<&'static Asset> {
    match path {
        "/ui" | "/ui/" | "/ui/index.html" => Some(&INDEX),
        "/ui/app.js" => Some(&SCRIPT),
        "/ui/app.css" => Some(&STYLE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assets_stay_small_and_need_nothing_the_policy_forbids() {
        let total: usize = [&INDEX, &SCRIPT, &STYLE].iter().map(|a| a.body.len()).sum();
        assert!(total < 300 * 1024, "console assets are {total} bytes");
        let html = std::str::from_utf8(INDEX.body).expect("UTF-8");
        // No inline script or style, no inline handlers: the page runs under `script-src 'self'`
        // and `style-src 'self'`.
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains(" style="), "style attribute");
        assert!(!html.contains(" on"), "inline handler or stray ` on`");
        for script in html.match_indices("<script") {
            let tag = &html[script.0..html[script.0..].find('>').map_or(html.len(), |e| script.0 + e)];
            assert!(tag.contains("src=\"/ui/"), "inline script: {tag}");
        }
        // Nothing from another origin.
        for asset in [&INDEX, &SCRIPT, &STYLE] {
            let text = std::str::from_utf8(asset.body).expect("UTF-8");
            assert!(!text.contains("https://"), "a remote URL in an asset");
            assert!(!text.contains("eval("), "eval");
        }
    }
}
