//! Android init .rc files, tokenized the way init's parser does: `#` starts a
//! comment at the start of a token, `\` at end of line continues it, and the
//! keywords `service`, `on` and `import` start a new section.

/// One `service` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// `service <name> ...`.
    pub name: String,
    /// The executable path.
    pub path: String,
    /// Arguments after the path.
    pub args: Vec<String>,
    /// Option lines in order, each split into words (`["user", "nobody"]`).
    pub options: Vec<Vec<String>>,
}

impl Service {
    /// The words after `keyword` on its (first) option line.
    pub fn option(&self, keyword: &str) -> Option<&[String]> {
        self.options
            .iter()
            .find(|o| o.first().map(String::as_str) == Some(keyword))
            .map(|o| &o[1..])
    }

    /// All option lines starting with `keyword`, without the keyword.
    pub fn options_named<'a>(
        &'a self,
        keyword: &'a str,
    ) -> impl Iterator<Item = &'a [String]> + 'a {
        self.options
            .iter()
            .filter(move |o| o.first().map(String::as_str) == Some(keyword))
            .map(|o| &o[1..])
    }
}

/// Splits .rc text into logical lines of words.
fn logical_lines(text: &str) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for raw in text.lines() {
        let (body, continued) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        for word in body.split_whitespace() {
            if word.starts_with('#') {
                break;
            }
            current.push(word.to_owned());
        }
        if !continued && !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Every `service` section of an .rc file.
pub fn services(text: &str) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    let mut in_service = false;
    for words in logical_lines(text) {
        match words[0].as_str() {
            "service" => {
                let name = words.get(1).cloned().unwrap_or_default();
                let path = words.get(2).cloned().unwrap_or_default();
                out.push(Service {
                    name,
                    path,
                    args: words.iter().skip(3).cloned().collect(),
                    options: Vec::new(),
                });
                in_service = true;
            }
            "on" | "import" => in_service = false,
            _ if in_service => out.last_mut().expect("in a service").options.push(words),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_comments_and_continuations() {
        let rc = "# c\nservice a /bin/a x \\\n  y\n    user nobody # trailing\n    # class core\non boot\n    user root\nservice b /bin/b\n";
        let s = services(rc);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].args, ["x", "y"]);
        assert_eq!(s[0].option("user"), Some(&["nobody".to_owned()][..]));
        assert_eq!(s[0].option("class"), None);
        assert_eq!(s[0].options.len(), 1);
        assert_eq!(s[1].path, "/bin/b");
    }
}
