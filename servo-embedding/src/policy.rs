//! What an app's webview may load and where it may navigate: only files inside its `ui/`
//! directory. Enforced in the embedder, not in page JS.

use url::Url;

/// The load policy of one app's webview.
#[derive(Clone, Debug)]
pub struct UiPolicy {
    base: Url,
}

impl UiPolicy {
    /// A policy for the UI rooted at `ui_dir` (absolute).
    pub fn new(ui_dir: &std::path::Path) -> Result<UiPolicy, String> {
        let base = Url::from_directory_path(ui_dir)
            .map_err(|()| format!("{} is not an absolute directory", ui_dir.display()))?;
        Ok(UiPolicy { base })
    }

    /// The UI's base URL (`file:///…/ui/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Whether the webview may fetch `url` (a document, script, image, …).
    pub fn may_load(&self, url: &Url) -> bool {
        self.is_inside_ui(url)
    }

    /// Whether the webview may navigate (any frame) to `url`.
    pub fn may_navigate(&self, url: &Url) -> bool {
        self.is_inside_ui(url) || url.as_str() == "about:blank"
    }

    /// Whether `url` is a file inside the app's `ui/`.
    pub fn is_inside_ui(&self, url: &Url) -> bool {
        if url.scheme() != "file" {
            return false;
        }
        // Normalised by the URL parser (no `..` survives), then compared by path prefix.
        url.path().starts_with(self.base.path()) && url.host().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ui_directory() {
        let p = UiPolicy::new(std::path::Path::new("/apps/counter/ui")).expect("policy");
        let ok = |s: &str| p.may_load(&Url::parse(s).expect("url"));
        assert!(ok("file:///apps/counter/ui/index.html"));
        assert!(ok("file:///apps/counter/ui/img/a.png"));
        assert!(!ok("weft://channel/post"));
        assert!(!ok("ws://127.0.0.1:9/channel/t"));
        assert!(!ok("http://127.0.0.1:9/"));
        assert!(!ok("file:///apps/counter/ui/../weft.toml"));
        assert!(!ok("file:///apps/counter/core.wasm"));
        assert!(!ok("file:///apps/counter/uix/index.html"));
        assert!(!ok("file:///etc/passwd"));
        assert!(!ok("https://example.com/"));
        assert!(!ok("data:text/html,hi"));
        assert!(p.may_navigate(&Url::parse("file:///apps/counter/ui/other.html").expect("url")));
        assert!(!p.may_navigate(&Url::parse("https://example.com/").expect("url")));
        assert!(!p.may_navigate(&Url::parse("ws://127.0.0.1:4000/channel/t").expect("url")));
    }
}
