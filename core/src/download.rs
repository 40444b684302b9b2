//! The one RUN step core writes for each declared download (`[[builder.downloads]]`): pick the
//! machine's URL, download, verify, extract, set the mode, run the check.
//!
//! Every value from metadata reaches the shell single-quoted and checked: URLs by
//! [`rules::is_https_url`] after rendering, hashes as hex, member patterns and paths by their
//! rules, so no quote, `$` or newline from data can reach the step.

use crate::error::Error;
use crate::fill::{render_template, template_error};
use crate::model::{Arch, ArchUrl, ChecksumFormat, Download, Extract, Template, Verify};
use crate::resolve::ResolvedExtension;
use crate::rules;
use crate::template::Slot;

impl Download {
    /// How it is verified, in words (`quarry show`, the step's comment): for an unverified
    /// download, the reason its metadata gives.
    pub fn verification(&self) -> String {
        verification(self)
    }

    /// The JSON key of how it is verified: `checksum_file`, `pinned` or `none`.
    pub fn verify_key(&self) -> &'static str {
        match self.verify {
            Verify::ChecksumFile { .. } => "checksum_file",
            Verify::Pinned { .. } => "pinned",
            Verify::None { .. } => "none",
        }
    }
}

fn verification(d: &Download) -> String {
    match d.verify {
        Verify::ChecksumFile { format: ChecksumFormat::Hash, .. } => {
            "checked against upstream's .sha256 file".to_owned()
        }
        Verify::ChecksumFile { format: ChecksumFormat::Sha256sum, .. } => {
            "checked against upstream's checksum list".to_owned()
        }
        Verify::Pinned { .. } => "checked against a sha256 pinned in its metadata".to_owned(),
        Verify::None { reason } => format!("not verified: {reason}"),
    }
}

/// The RUN step of download `d` of the resolved extension `r`, with its comment line.
pub(crate) fn step(r: &ResolvedExtension, d: &Download) -> Result<String, Error> {
    let ext = r.extension;
    let out = ext.artifact_dir();
    let fail =
        |message: String| template_error(ext, &Template { file: "builder.downloads", source: "" }, message);

    // Per architecture: the shell assignments of its case arm.
    let mut arms: Vec<(Arch, Vec<String>)> = Vec::new();
    for ArchUrl { arch, url } in d.urls {
        let url = render_url(r, d, url)?;
        let mut vars = vec![format!("url={}", quote(&url))];
        match d.verify {
            Verify::ChecksumFile { urls, .. } => {
                let sums = urls.iter().find(|u| u.arch == *arch).ok_or_else(|| {
                    fail(format!("download `{}` has no checksum URL for {}", d.name, arch.key()))
                })?;
                let sums = render_url(r, d, sums.url)?;
                vars.push(format!("sums={}", quote(&sums)));
            }
            Verify::Pinned { version_option, sha256, override_option } => {
                let version = r.options[version_option].as_str();
                let given = override_option.map(|o| r.options[o].as_str()).filter(|v| *v != "pinned");
                let sha = match given {
                    Some(v) if rules::is_sha256(v) => v.to_owned(),
                    Some(v) => {
                        return Err(Error::InvalidOption {
                            extension: ext.name.to_owned(),
                            option: override_option.unwrap_or_default().to_owned(),
                            value: v.to_owned(),
                            expectation: "a sha256 (64 lowercase hex digits), or `pinned`".to_owned(),
                        });
                    }
                    None => match sha256.iter().find(|p| p.version == version && p.arch == *arch) {
                        Some(p) => p.sha256.to_owned(),
                        None if sha256.iter().any(|p| p.version == version) => String::new(),
                        None => {
                            let hint = match override_option {
                                Some(o) => format!(
                                    "give its sha256 with `{}-{}`, or use a version the metadata pins",
                                    ext.flag(),
                                    o.replace('_', "-")
                                ),
                                None => "use a version the metadata pins".to_owned(),
                            };
                            return Err(Error::UnpinnedDownload {
                                extension: ext.name.to_owned(),
                                template: format!("{}/builder.downloads", ext.name),
                                message: format!(
                                    "download `{}` has no pinned sha256 for `{version_option}` {version}",
                                    d.name
                                ),
                                hint,
                            });
                        }
                    },
                };
                if sha.is_empty() {
                    // This version is pinned for other architectures only.
                    continue;
                }
                vars.push(format!("sha={sha}"));
            }
            Verify::None { .. } => {}
        }
        arms.push((*arch, vars));
    }

    let dir = if d.dest.is_empty() || d.extract == Extract::File {
        out.clone()
    } else {
        format!("{out}/{}", d.dest)
    };
    let file = (d.extract == Extract::File).then(|| format!("{out}/{}", d.dest));
    let names: Vec<&str> = arms.iter().map(|(a, _)| a.key()).collect();

    let mut lines: Vec<String> = vec!["set -eux".to_owned()];
    lines.push("case \"$(dpkg --print-architecture)\" in".to_owned());
    for (arch, vars) in &arms {
        lines.push(format!("  {}) {} ;;", arch.key(), vars.join("; ")));
    }
    lines.push(format!(
        "  *) echo \"{}: the download {} has no file for $(dpkg --print-architecture), only for {}\" >&2; exit 1 ;;",
        ext.name,
        d.name,
        names.join(", ")
    ));
    lines.push("esac".to_owned());
    lines.push("tmp=\"$(mktemp -d)\"".to_owned());
    lines.push("curl -fsSL \"${url}\" -o \"${tmp}/download\"".to_owned());
    match d.verify {
        Verify::ChecksumFile { format, .. } => {
            lines.push("curl -fsSL \"${sums}\" -o \"${tmp}/sums\"".to_owned());
            lines.push(match format {
                ChecksumFormat::Hash => "sha=\"$(awk '{ print $1; exit }' \"${tmp}/sums\")\"".to_owned(),
                ChecksumFormat::Sha256sum => "sha=\"$(awk -v f=\"${url##*/}\" '$2 == f || $2 == \"*\" f { print $1; exit }' \"${tmp}/sums\")\"".to_owned(),
            });
            lines.push(format!(
                "if [ -z \"${{sha}}\" ]; then echo \"{}: no sha256 for ${{url##*/}} in ${{sums}}\" >&2; exit 1; fi",
                ext.name
            ));
            lines.push("echo \"${sha}  ${tmp}/download\" | sha256sum -c -".to_owned());
        }
        Verify::Pinned { .. } => {
            lines.push("echo \"${sha}  ${tmp}/download\" | sha256sum -c -".to_owned());
        }
        Verify::None { .. } => {}
    }
    let strip = if d.strip_components > 0 {
        format!(" --strip-components={}", d.strip_components)
    } else {
        String::new()
    };
    let members: String = d.members.iter().map(|m| format!(" {}", quote(m))).collect();
    let wildcards = if d.members.is_empty() { "" } else { " --wildcards" };
    match d.extract {
        Extract::TarGz | Extract::TarXz => {
            let z = if d.extract == Extract::TarGz { "z" } else { "J" };
            lines.push(format!("mkdir -p {dir}"));
            lines.push(format!(
                "tar -x{z}f \"${{tmp}}/download\" -C {dir}{strip} --no-same-owner{wildcards}{members}"
            ));
        }
        Extract::Zip => {
            lines.push(format!("mkdir -p {dir}"));
            lines.push(format!("unzip -q -o \"${{tmp}}/download\"{members} -d {dir}"));
        }
        Extract::File => {
            let target = file.as_deref().unwrap_or_default();
            let parent = target.rsplit_once('/').map_or(out.as_str(), |(p, _)| p);
            lines.push(format!("mkdir -p {parent}"));
            lines.push(format!("mv \"${{tmp}}/download\" {target}"));
        }
    }
    lines.push("rm -rf \"${tmp}\"".to_owned());
    if let Some(target) = &file {
        lines.push(format!("chmod {} {target}", d.mode));
    } else if d.members.is_empty() {
        lines.push(format!("chmod -R a+rX,go-w {dir}"));
    } else {
        let files: Vec<String> = d
            .members
            .iter()
            .map(|m| {
                let kept: Vec<&str> = m.split('/').skip(usize::from(d.strip_components)).collect();
                format!("{dir}/{}", kept.join("/"))
            })
            .collect();
        lines.push(format!("chmod {} {}", d.mode, files.join(" ")));
    }
    if let Some(check) = d.check {
        let template = Template { file: "builder.downloads.check", source: check };
        let check = render_template(r, &template, Slot::Value)?.trim().to_owned();
        if check.is_empty() || check.contains(['\n', '\r', '\\']) {
            return Err(fail(format!(
                "the check of download `{}` rendered to {check:?}, which is not one command line",
                d.name
            )));
        }
        lines.push(check);
    }

    let mut s = crate::stage::comment(&format!(
        "{}: download `{}`, written by quarry from `[[builder.downloads]]` (core/src/download.rs); {}.",
        ext.name,
        d.name,
        verification(d)
    ));
    s.push_str("RUN ");
    let last = lines.len() - 1;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            s.push_str("    ");
        }
        s.push_str(line);
        // The case arms and `esac` close with `;;`/`in`; every other command ends with `;`.
        let sep = if line.ends_with(" in") || line.ends_with(";;") || i == last { "" } else { ";" };
        s.push_str(sep);
        if i != last {
            s.push_str(" \\\n");
        }
    }
    s.push('\n');
    Ok(s)
}

/// `url` rendered with the options, checked to be an https URL (or http, for tests).
fn render_url(r: &ResolvedExtension, d: &Download, url: &'static str) -> Result<String, Error> {
    let template = Template { file: "builder.downloads.url", source: url };
    let rendered = render_template(r, &template, Slot::Value)?.trim().to_owned();
    let ok = rules::is_https_url(&rendered) || (d.insecure_http_for_tests && rules::is_http_url(&rendered));
    if ok {
        Ok(rendered)
    } else {
        Err(template_error(
            r.extension,
            &template,
            format!(
                "the URL of download `{}` rendered to {rendered:?}, which is not an https:// URL of plain characters",
                d.name
            ),
        ))
    }
}

/// Single-quoted for the shell. Values here are checked to hold no `'`, so this is plain wrapping.
fn quote(s: &str) -> String {
    debug_assert!(!s.contains('\''));
    format!("'{s}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Builder, BuilderFrom, Extension, OptionSpec, PinnedSha256};
    use crate::registry::Registry;
    use crate::render::render;
    use crate::request::{Request, Selection};
    use crate::rules::Rule;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn option(name: &'static str, default: &'static str, rule: Rule) -> OptionSpec {
        OptionSpec::new(name, "d", default, rule)
    }

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    fn registry(download: Download) -> Registry {
        let reg = unchecked_registry(download);
        reg.iter().for_each(|e| e.check());
        reg
    }

    fn unchecked_registry(download: Download) -> Registry {
        let ext = Extension {
            name: "tool",
            crate_name: "test",
            description: "d",
            builder: Some(Builder {
                from: BuilderFrom::BaseImage,
                apt_packages: &["curl"],
                downloads: leak([download]),
                template: Template { file: "builder", source: "" },
                artifacts: &[],
            }),
            options: leak([
                option("version", "1.0.0", Rule::Version),
                option("sha256", "pinned", Rule::Identifier),
            ]),
            ..Extension::EMPTY
        };
        Registry::from_extensions([leak(ext)]).unwrap()
    }

    const URLS: &[ArchUrl] = &[
        ArchUrl { arch: Arch::Amd64, url: "https://example.org/{{ options.version }}/tool-x86_64" },
        ArchUrl { arch: Arch::Arm64, url: "https://example.org/{{ options.version }}/tool-aarch64" },
    ];

    fn pinned() -> Download {
        Download {
            name: "tool",
            urls: URLS,
            verify: Verify::Pinned {
                version_option: "version",
                sha256: &[
                    PinnedSha256 { version: "1.0.0", arch: Arch::Amd64, sha256: A },
                    PinnedSha256 { version: "1.0.0", arch: Arch::Arm64, sha256: B },
                    PinnedSha256 { version: "0.9.0", arch: Arch::Amd64, sha256: B },
                ],
                override_option: Some("sha256"),
            },
            extract: Extract::File,
            members: &[],
            strip_components: 0,
            dest: "bin/tool",
            mode: "0755",
            check: Some("{{ out }}/bin/tool --version"),
            insecure_http_for_tests: false,
        }
    }

    fn render_with(reg: &Registry, options: &[(&str, &str)]) -> Result<String, Error> {
        let mut selection = Selection::new("tool");
        for (k, v) in options {
            selection = selection.with_option(*k, *v);
        }
        let request =
            Request { image: "debian:bookworm".into(), extensions: vec![selection], ..Request::default() };
        render(reg, &request).map(|r| r.dockerfile)
    }

    #[test]
    fn pinned_values_follow_the_version_and_an_override_replaces_them() {
        let reg = registry(pinned());
        let out = render_with(&reg, &[]).unwrap();
        assert!(
            out.contains(&format!(
                "      amd64) url='https://example.org/1.0.0/tool-x86_64'; sha={A} ;; \\\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "      arm64) url='https://example.org/1.0.0/tool-aarch64'; sha={B} ;; \\\n"
            )),
            "{out}"
        );
        assert!(out.contains("    echo \"${sha}  ${tmp}/download\" | sha256sum -c -; \\\n"), "{out}");
        assert!(out.contains("    mv \"${tmp}/download\" /opt/quarry/tool/bin/tool; \\\n"), "{out}");
        assert!(
            out.contains(
                "    chmod 0755 /opt/quarry/tool/bin/tool; \\\n    /opt/quarry/tool/bin/tool --version\n"
            ),
            "{out}"
        );
        // 0.9.0 is pinned for amd64 only: arm64 falls to the failing arm.
        let out = render_with(&reg, &[("version", "0.9.0")]).unwrap();
        assert!(
            out.contains(&format!("amd64) url='https://example.org/0.9.0/tool-x86_64'; sha={B} ;;")),
            "{out}"
        );
        assert!(!out.contains("arm64) url="), "{out}");
        assert!(out.contains("has no file for $(dpkg --print-architecture), only for amd64\""), "{out}");
        // A version without pins needs the override; the error says how to give it.
        let err = render_with(&reg, &[("version", "2.0.0")]).unwrap_err();
        assert!(
            err.to_string().contains("download `tool` has no pinned sha256 for `version` 2.0.0"),
            "{err}"
        );
        assert!(err.hint().unwrap().starts_with("give its sha256 with `--tool-sha256`"), "{err}");
        let out = render_with(&reg, &[("version", "2.0.0"), ("sha256", B)]).unwrap();
        assert_eq!(out.matches(&format!("sha={B} ;;")).count(), 2, "{out}");
        // The override must be a sha256.
        let err = render_with(&reg, &[("sha256", "abc")]).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
    }

    #[test]
    fn checksum_files_and_archives() {
        let reg = registry(Download {
            verify: Verify::ChecksumFile {
                urls: &[
                    ArchUrl { arch: Arch::Amd64, url: "https://example.org/{{ options.version }}/SUMS" },
                    ArchUrl { arch: Arch::Arm64, url: "https://example.org/{{ options.version }}/SUMS" },
                ],
                format: ChecksumFormat::Sha256sum,
            },
            extract: Extract::TarXz,
            members: &["*/bin/tool", "*/bin/helper"],
            strip_components: 2,
            dest: "bin",
            check: None,
            ..pinned()
        });
        let out = render_with(&reg, &[]).unwrap();
        assert!(out.contains("sums='https://example.org/1.0.0/SUMS' ;;"), "{out}");
        assert!(out.contains("'$2 == f || $2 == \"*\" f { print $1; exit }'"), "{out}");
        assert!(out.contains("tar -xJf \"${tmp}/download\" -C /opt/quarry/tool/bin --strip-components=2 --no-same-owner --wildcards '*/bin/tool' '*/bin/helper'; \\\n"), "{out}");
        assert!(out.contains("chmod 0755 /opt/quarry/tool/bin/tool /opt/quarry/tool/bin/helper\n"), "{out}");
        // The step comes before the template's body, after the builder's apt packages.
        let stage = out.split("AS tool_builder\n").nth(1).unwrap();
        assert!(stage.find("apt-get install").unwrap() < stage.find("# tool: download `tool`").unwrap());
    }

    #[test]
    fn urls_are_https_after_rendering_and_http_only_for_tests() {
        // A value the version rule accepts cannot make the URL anything but plain characters.
        let reg = registry(Download {
            urls: &[ArchUrl { arch: Arch::Amd64, url: "http://localhost:8000/{{ options.version }}/tool" }],
            verify: Verify::None { reason: "a test" },
            insecure_http_for_tests: true,
            ..pinned()
        });
        assert!(render_with(&reg, &[]).unwrap().contains("url='http://localhost:8000/1.0.0/tool'"));
        let err = render_with(&reg, &[("version", "1.0;id")]).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
        assert!(!rules::is_url_template("http://example.org/tool", false));
        assert!(rules::is_url_template("http://example.org/tool", true));
        assert!(!rules::is_url_template("https://example.org/'$(id)'", false));
        assert!(rules::is_url_template("https://example.org/{{ options.version }}/x", false));
        assert!(!rules::is_url_template("https://example.org/a b", false));
        assert!(!rules::is_https_url("http://example.org/tool"));
    }

    #[test]
    fn unverified_downloads_say_why() {
        let d = Download { verify: Verify::None { reason: "upstream publishes no checksums" }, ..pinned() };
        assert_eq!(d.verification(), "not verified: upstream publishes no checksums");
        assert_eq!(d.verify_key(), "none");
        let out = render_with(&registry(d), &[]).unwrap();
        assert!(out.contains("; not verified: upstream publishes no checksums.\nRUN set -eux;"), "{out}");
        assert!(!out.contains("sha256sum"), "{out}");
    }

    #[test]
    fn a_reason_is_one_comment_line_whatever_it_holds() {
        // Codegen and the const check refuse it (`one-line-text`); written all the same, it stays
        // in its comment.
        let d = Download { verify: Verify::None { reason: "none\nLABEL evil=1 \u{1b}[2J" }, ..pinned() };
        assert!(!rules::is_one_line_text("none\nLABEL evil=1"));
        let out = render_with(&unchecked_registry(d), &[]).unwrap();
        assert!(out.contains("; not verified: none\\nLABEL evil=1 \\u{1b}[2J.\nRUN set -eux;"), "{out}");
        let read = quarry_buildkit::dockerfile::parse(&out).unwrap();
        assert!(read.stages.iter().flat_map(|s| &s.instructions).all(|i| i.keyword.to_string() != "LABEL"));
    }
}
