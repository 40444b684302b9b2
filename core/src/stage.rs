//! Writing steps as quarry writes them: a stage whose `ARG CACHE_ID` lands right before its first
//! use, and the apt layer with its cache mounts and repositories. `render` lays quarry's
//! Dockerfile out with these; other layouts (the cache benchmark's baselines) use them too.

use crate::model::Arch;
use crate::template;

/// Makes the image's own apt cache keep what it downloads, so the cache mounts pay off.
pub const APT_PRELUDE: &str = "RUN rm -f /etc/apt/apt.conf.d/docker-clean \\\n \
    && echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache";

/// An apt repository as its apt layer writes it: `[[apt_repositories]]` with the options filled
/// in and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// snake_case name, for the keyring and list file names.
    pub name: String,
    /// The signing key's URL.
    pub key_url: String,
    /// The `deb` line for every architecture (`None`), or one per architecture: each a template
    /// over [`template::APT_SOURCE_VARIABLES`] alone ([`apt_source_line`] fills them in).
    pub lines: Vec<(Option<Arch>, String)>,
    /// The fingerprints apt accepts signatures of; empty: the key as it arrives.
    pub fingerprints: Vec<String>,
}

/// One apt layer on `image`: repositories (if any), then the sorted, de-duplicated packages, with
/// the cache mounts of `image`. `owner` names the keyring and list files of repositories, whose
/// source lines must render ([`apt_source_line`]; `pieces` checks them, and panics here else).
pub fn apt_install_step(image: &str, packages: &[String], repositories: &[AptSource], owner: &str) -> String {
    let slug = image_slug(image);
    let mut packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    packages.sort_unstable();
    packages.dedup();
    let mut s = String::from("RUN ");
    s.push_str(&template::cache_mount_flag(&format!("apt-cache-{slug}"), "/var/cache/apt"));
    s.push_str(" \\\n    ");
    s.push_str(&template::cache_mount_flag(&format!("apt-lists-{slug}"), "/var/lib/apt/lists"));
    s.push_str(" \\\n    apt-get update");
    if !repositories.is_empty() {
        s.push_str(" \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl");
        s.push_str(" \\\n && install -d -m 0755 /etc/apt/keyrings");
        for repo in repositories {
            let keyring = keyring_path(owner, repo);
            // apt accepts only signatures of the pinned keys, whatever else the file holds.
            let signed_by = std::iter::once(keyring.clone())
                .chain(repo.fingerprints.iter().cloned())
                .collect::<Vec<_>>()
                .join(",");
            let list = format!("/etc/apt/sources.list.d/{owner}-{}.list", repo.name);
            s.push_str(&format!(" \\\n && curl -fsSL {} -o {keyring}", repo.key_url));
            // Checked when the pieces were made (`pieces`), and by codegen.
            let line = |line: &str| {
                apt_source_line(line, &signed_by).unwrap_or_else(|e| {
                    panic!("apt repository `{}`: its source line does not render: {e}", repo.name)
                })
            };
            match repo.lines.as_slice() {
                [(None, l)] => s.push_str(&format!(" \\\n && echo \"{}\" > {list}", line(l))),
                lines => {
                    s.push_str(" \\\n && case \"$(dpkg --print-architecture)\" in");
                    for (arch, l) in lines {
                        let arch = arch.map_or("*", Arch::key);
                        s.push_str(&format!(" \\\n      {arch}) echo \"{}\" > {list} ;;", line(l)));
                    }
                    s.push_str(&format!(
                        " \\\n      *) echo \"{owner}: the apt repository {} has no line for $(dpkg --print-architecture)\" >&2; exit 1 ;;",
                        repo.name
                    ));
                    s.push_str(" \\\n    esac");
                }
            }
        }
        s.push_str(" \\\n && apt-get update");
    }
    if !packages.is_empty() {
        s.push_str(
            " \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n      ",
        );
        s.push_str(&packages.join(" "));
    }
    s
}

/// Where a repository's key is stored: `.gpg` for binary keys, `.asc` for armored ones.
fn keyring_path(owner: &str, repo: &AptSource) -> String {
    let ext = if repo.key_url.ends_with(".gpg") { "gpg" } else { "asc" };
    format!("/etc/apt/keyrings/{owner}-{}.{ext}", repo.name)
}

/// The `deb` line, a template over [`template::APT_SOURCE_VARIABLES`] (the extension's options
/// already filled in, `pieces`): `keyring` is `signed-by`'s value (the keyring and the pinned
/// fingerprints), and the architecture, codename and release are shell expansions evaluated in
/// the image, so the same line serves every release.
pub fn apt_source_line(line: &str, signed_by: &str) -> Result<String, minijinja::Error> {
    let ctx = minijinja::context! {
        keyring => signed_by,
        arch => "$(dpkg --print-architecture)",
        codename => "$(. /etc/os-release && echo $VERSION_CODENAME)",
        os_release => "$(. /etc/os-release && echo $ID$VERSION_ID | tr -d .)",
    };
    template::render("apt_repositories/source", line, ctx)
}

/// `ubuntu:22.04` -> `ubuntu-22.04`: the image in a cache-mount id.
fn image_slug(image: &str) -> String {
    image.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

/// `# <text>` and its line end: the one way quarry writes a comment into a Dockerfile. Whatever
/// `text` holds, it is one line ([`crate::text::one_line`]): a newline in a description or a
/// reason cannot start an instruction.
pub fn comment(text: &str) -> String {
    format!("# {}\n", crate::text::one_line(text))
}

/// Writes one stage and tracks whether `ARG CACHE_ID` has been declared in it, so the ARG lands
/// right before the first instruction that uses it.
#[derive(Debug)]
pub struct StageWriter<'a> {
    out: &'a mut String,
    cache_arg_declared: bool,
    /// Instructions written so far, `FROM` included.
    written: usize,
}

impl<'a> StageWriter<'a> {
    /// Appends a blank line and `FROM <from> [AS <name>]` to `out`.
    pub fn new(out: &'a mut String, from: &str, name: Option<&str>) -> Self {
        out.push('\n');
        out.push_str("FROM ");
        out.push_str(from);
        if let Some(name) = name {
            out.push_str(" AS ");
            out.push_str(name);
        }
        out.push('\n');
        StageWriter { out, cache_arg_declared: false, written: 1 }
    }

    /// The instructions this writer wrote, its `FROM` included: what BuildKit must read back
    /// from its text ([`crate::render`] checks it).
    pub fn written(&self) -> usize {
        self.written
    }

    /// A `# ` comment line.
    pub fn comment(&mut self, text: &str) {
        self.out.push_str(&comment(text));
    }

    /// One instruction (possibly spanning continuation lines).
    pub fn step(&mut self, instruction: &str) {
        if !self.cache_arg_declared && instruction.contains("${CACHE_ID}") {
            self.out.push_str("ARG CACHE_ID\n");
            self.cache_arg_declared = true;
            self.written += 1;
        }
        self.written += 1;
        self.out.push_str(instruction.trim_end_matches(['\n', ' ', '\t']));
        self.out.push('\n');
    }

    /// A rendered template, checked ([`crate::template::check_snippet`]): split into
    /// instructions as BuildKit reads them, so `ARG CACHE_ID` lands right before the first one
    /// that uses it. Lines are written as they were checked: blank lines between instructions are
    /// dropped, and a line loses the `\r` of its line end and then its trailing spaces and tabs,
    /// which changes nothing BuildKit reads.
    pub fn snippet(&mut self, snippet: &str) {
        use quarry_buildkit::dockerfile::lines::{Line, Reader};
        let trim = |line: &str| line.trim_end_matches('\r').trim_end_matches([' ', '\t']).to_owned();
        for line in Reader::within(snippet, '\\').flatten() {
            match line {
                Line::Comment { raw, .. } => {
                    self.out.push_str(&trim(raw));
                    self.out.push('\n');
                }
                Line::Instruction(logical) => {
                    let lines: Vec<String> = logical.raw.iter().map(|l| trim(l)).collect();
                    self.step(&lines.join("\n"));
                }
                Line::Directive { .. } | Line::Blank { .. } => {}
            }
        }
    }
}
