//! AIDL files: a small tokenizer (comments dropped) that yields the package,
//! the interface or parcelable and its declarations, and AOSP's frozen-API
//! hash.

use std::path::Path;

/// The parts of an .aidl file that define its API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// `package a.b.c;`.
    pub package: String,
    /// Annotations before `interface` (e.g. `@VintfStability`).
    pub annotations: Vec<String>,
    /// `interface` or `parcelable`.
    pub kind: String,
    /// The interface (or parcelable) name.
    pub interface: String,
    /// Method declarations in order (transaction codes follow this order),
    /// or a parcelable's fields in order (the wire order), each as
    /// normalized tokens joined by spaces.
    pub methods: Vec<String>,
    /// Constant declarations, sorted (their order carries no meaning).
    pub constants: Vec<String>,
}

/// Splits AIDL text into tokens, dropping `//` and `/* */` comments.
pub fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(chars[start..i.min(chars.len())].iter().collect());
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '@' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '@'))
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// Parses the API of a single-interface or single-parcelable .aidl file.
/// Type names are compared
/// with the package prefix removed, because `--dumpapi` fully qualifies them.
pub fn parse_api(text: &str) -> Result<Api, String> {
    let toks = tokens(text);
    let mut it = toks.iter().peekable();
    let mut package = None;
    let mut annotations = Vec::new();
    let mut interface = None;
    let mut kind = String::new();
    while let Some(t) = it.next() {
        match t.as_str() {
            "package" => {
                package = it.next().cloned();
                if it.next().map(String::as_str) != Some(";") {
                    return Err("`package` is not followed by `name;`".into());
                }
            }
            "import" => {
                for t in it.by_ref() {
                    if t == ";" {
                        break;
                    }
                }
            }
            a if a.starts_with('@') => annotations.push(a.to_owned()),
            k @ ("interface" | "parcelable") => {
                kind = k.to_owned();
                interface = it.next().cloned();
                if it.next().map(String::as_str) != Some("{") {
                    return Err(format!("`{k} <Name>` is not followed by `{{`"));
                }
                break;
            }
            other => return Err(format!("unexpected token {other:?} before the interface")),
        }
    }
    let package = package.ok_or("no package line")?;
    let interface = interface.ok_or("no interface")?;
    let prefix = format!("{package}.");
    let mut methods = Vec::new();
    let mut constants = Vec::new();
    let mut decl: Vec<String> = Vec::new();
    let mut closed = false;
    for t in it {
        match t.as_str() {
            ";" => {
                let d = decl.join(" ");
                if decl.first().map(String::as_str) == Some("const") {
                    constants.push(d);
                } else {
                    methods.push(d);
                }
                decl.clear();
            }
            "}" if decl.is_empty() => {
                closed = true;
                break;
            }
            _ => decl.push(t.strip_prefix(&prefix).unwrap_or(t).to_owned()),
        }
    }
    if !closed {
        return Err(format!("interface {interface} is not closed"));
    }
    constants.sort();
    Ok(Api {
        package,
        annotations,
        kind,
        interface,
        methods,
        constants,
    })
}

/// AOSP's hash of a frozen version folder (system/tools/aidl/build/hash_gen.sh):
/// `(cd dir && find ./ -name "*.aidl" -print0 | LC_ALL=C sort -z |
///  xargs -0 sha1sum && echo <previous>) | sha1sum`, where `<previous>` is
/// the previous frozen version, or `latest-version` for the first one.
pub fn frozen_hash(dir: &Path, previous: &str) -> String {
    let mut listing = String::new();
    // files_under sorts bytewise, which is what LC_ALL=C sort -z does to the
    // "./"-prefixed paths find prints.
    for rel in crate::files_under(dir) {
        if !rel.ends_with(".aidl") {
            continue;
        }
        assert!(
            !rel.contains(['\\', '\n']),
            "{rel}: sha1sum would escape this name; not supported"
        );
        let bytes = std::fs::read(dir.join(&rel)).expect("readable .aidl");
        let digest = sha1_smol::Sha1::from(&bytes).digest().to_string();
        listing.push_str(&format!("{digest}  ./{rel}\n"));
    }
    listing.push_str(previous);
    listing.push('\n');
    sha1_smol::Sha1::from(listing.as_bytes())
        .digest()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_hash_equals_aosp_shell_pipeline() {
        // The literal hash_gen.sh pipeline, run on the repository's V1 dump.
        let dir = crate::repo_root().join("aidl/aidl_api/vendor.enea.buffer/1");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(
                "(find ./ -name \"*.aidl\" -print0 | LC_ALL=C sort -z | xargs -0 sha1sum \
                 && echo latest-version) | sha1sum | cut -d \" \" -f 1",
            )
            .current_dir(&dir)
            .output()
            .expect("sh runs");
        assert!(out.status.success());
        let shell = String::from_utf8(out.stdout).expect("utf-8");
        assert_eq!(frozen_hash(&dir, "latest-version"), shell.trim());
    }

    #[test]
    fn source_and_dump_forms_parse_to_the_same_api() {
        let src = "/* c */ package a.b;\n/** doc */\n@VintfStability\ninterface IFoo {\n  /** k */ const int K = 1;\n  // m\n  a.b.Bar get(in int x);\n}\n";
        let dump = "package a.b;\n@VintfStability\ninterface IFoo {\n  Bar get(in int x);\n  const int K = 1;\n}\n";
        assert_eq!(parse_api(src).unwrap(), parse_api(dump).unwrap());
        let api = parse_api(src).unwrap();
        assert_eq!(api.methods, ["Bar get ( in int x )"]);
        assert_eq!(api.constants, ["const int K = 1"]);
        assert_eq!(api.kind, "interface");
    }

    #[test]
    fn parcelables_parse_to_their_fields_in_order() {
        let src = "package a.b;\n@VintfStability\nparcelable P {\n  /** fd */ ParcelFileDescriptor fd;\n  long size;\n}\n";
        let api = parse_api(src).unwrap();
        assert_eq!(api.kind, "parcelable");
        assert_eq!(api.interface, "P");
        assert_eq!(api.methods, ["ParcelFileDescriptor fd", "long size"]);
        assert!(parse_api("package a.b;\nenum E { A }").is_err());
    }
}
