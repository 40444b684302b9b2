//! Project extensions: a folder's `extension.toml`, validated by the same walker as a crate's
//! and turned into the same [`Extension`] value at run time instead of into Rust code.
//!
//! The model is `'static` (registrations are statics), so the value is leaked: a process loads
//! each project extension once, and it lives as long as the process does.

use std::path::Path;

use quarry_core::{
    Alias, AptRepository, Arch, ArchSource, ArchUrl, Artifact, Builder, BuilderFrom, ChecksumFormat,
    ContextFile, Download, Extension, Extract, ImagesOfValue, OptionSpec, OptionValue, PinnedSha256,
    ProjectFiles, RunSpec, Shell, Template, Verify,
};

use crate::metadata::{self, DownloadMeta, FromMeta, Metadata, TemplateFile, VerifyMeta};
use crate::{Diagnostic, Input, METADATA_FILE, files};

/// Reads, validates and builds the extension in `dir`. `shown` is the folder as diagnostics name
/// it (relative to the project). `root` is the project's folder: a file the metadata names must
/// resolve inside it, so a symbolic link cannot ship a file from elsewhere on the host.
/// `origin` is what [`Extension::crate_name`] holds for it (`quarry.toml`'s folder entry).
pub fn load(
    dir: &Path,
    shown: &str,
    root: &Path,
    origin: &str,
) -> Result<&'static Extension, Vec<Diagnostic>> {
    let metadata_shown = format!("{shown}/{METADATA_FILE}");
    let text = files::read_text(&dir.join(METADATA_FILE), Some(root), files::TEXT_LIMIT, &metadata_shown)
        .map_err(|e| {
            let message = match e {
                files::ReadError::Missing(_) => format!(
                    "`{shown}` has no `{METADATA_FILE}`; `quarry new-extension NAME` makes a folder with one"
                ),
                e => format!("cannot read the metadata file: {e}"),
            };
            vec![Diagnostic::whole_file(&metadata_shown, "missing-file", message)]
        })?;
    let load = |rel: &str, limit: u64| read_inside_root(dir, root, rel, limit);
    let m = metadata::parse(&Input { path: &metadata_shown, text: &text, load: &load })?;
    Ok(leak(extension(m, origin)))
}

/// Validates metadata given as text (with its files read through `input.load`) and builds the
/// extension: what `quarry.toml`'s two-line keys become.
pub fn build(input: &Input<'_>, origin: &str) -> Result<&'static Extension, Vec<Diagnostic>> {
    let m = metadata::parse(input)?;
    Ok(leak(extension(m, origin)))
}

/// Reads `rel` under `dir` when it resolves inside `root`, is a regular file and holds at most
/// `limit` bytes ([`files::read`]); the error says why not.
pub fn read_inside_root(dir: &Path, root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
    files::read(&dir.join(rel), Some(root), limit, rel).map_err(|e| e.to_string())
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn text(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn texts(items: &[String]) -> &'static [&'static str] {
    Box::leak(items.iter().map(|s| text(s)).collect::<Vec<_>>().into_boxed_slice())
}

fn slice<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

fn template(t: &TemplateFile) -> Template {
    Template { file: text(&t.file), source: text(&t.source) }
}

fn arch_urls(urls: &[(String, String)]) -> &'static [ArchUrl] {
    slice(urls.iter().map(|(a, u)| ArchUrl { arch: arch(a), url: text(u) }).collect())
}

fn arch(a: &str) -> Arch {
    if a == "arm64" { Arch::Arm64 } else { Arch::Amd64 }
}

/// The value `emit` writes as Rust, built directly: the two must stay field for field the same
/// (`catalog/tests/catalog.rs` loads every catalog folder this way and compares the value with
/// the crate's registration). The files' contents are moved, not copied: a large copied file is
/// held once.
fn extension(mut m: Metadata, origin: &str) -> Extension {
    let contents: Vec<Vec<u8>> = m.files.iter_mut().map(|f| std::mem::take(&mut f.contents)).collect();
    let m = &m;
    let builder = m.builder.as_ref().map(|b| Builder {
        from: match &b.from {
            FromMeta::BaseImage => BuilderFrom::BaseImage,
            FromMeta::FinalImage => BuilderFrom::FinalImage,
            FromMeta::Extension(e) => BuilderFrom::Extension(text(e)),
        },
        apt_packages: texts(&b.apt_packages),
        downloads: slice(b.downloads.iter().map(download).collect()),
        template: template(&b.template),
        artifacts: slice(
            b.artifacts.iter().map(|(s, d)| Artifact { source: text(s), dest: text(d) }).collect(),
        ),
    });
    let inline =
        |file: &'static str, t: &Option<String>| t.as_ref().map(|t| Template { file, source: text(t) });
    Extension {
        name: text(&m.name),
        crate_name: text(origin),
        description: text(&m.description),
        depends_on: texts(&m.depends_on),
        cache_priority: m.cache_priority,
        builder_base_image: m.builder_base_image.as_deref().map(text),
        apt_packages: texts(&m.apt_packages),
        apt_repositories: slice(
            m.apt_repositories
                .iter()
                .map(|r| AptRepository {
                    name: text(&r.name),
                    key_url: text(&r.key_url),
                    source: text(&r.source),
                    arch_sources: slice(
                        r.arch_sources
                            .iter()
                            .map(|(a, l)| ArchSource { arch: arch(a), line: text(l) })
                            .collect(),
                    ),
                    key_fingerprints: texts(&r.key_fingerprints),
                })
                .collect(),
        ),
        builder,
        setup: m.setup.as_ref().map(template),
        setup_after_copies: m.setup_after_copies,
        setup_as_user: m.setup_as_user,
        env: texts(&m.env),
        shell: Shell {
            init: inline("shell.init", &m.shell_init),
            interactive: inline("shell.interactive", &m.shell_interactive),
        },
        final_user: m.final_user.as_deref().map(text),
        workdir: m.workdir.as_deref().map(text),
        home: m.home.as_deref().map(text),
        supported_images: texts(&m.supported_images),
        supported_images_by: slice(
            m.supported_images_by
                .iter()
                .map(|e| ImagesOfValue {
                    option: text(&e.option),
                    value: text(&e.value),
                    images: texts(&e.images),
                })
                .collect(),
        ),
        project_files: m.project_files.as_ref().map(|(folder, names, skip)| ProjectFiles {
            folder_option: text(folder),
            names: texts(names),
            skip_folders_with: texts(skip),
        }),
        aliases: slice(
            m.aliases
                .iter()
                .map(|a| Alias {
                    name: text(&a.name),
                    options: slice(
                        a.options
                            .iter()
                            .map(|(o, v)| OptionValue { option: text(o), value: text(v) })
                            .collect(),
                    ),
                })
                .collect(),
        ),
        options: slice(
            m.options
                .iter()
                .map(|o| OptionSpec {
                    name: text(&o.name),
                    description: text(&o.description),
                    default: text(&o.default),
                    rule: o.rule,
                    required: o.required,
                    from_host: o.from_host,
                    multiple: o.multiple,
                    aliases: texts(&o.aliases),
                })
                .collect(),
        ),
        files: slice(
            m.files
                .iter()
                .zip(contents)
                .map(|(f, contents)| ContextFile {
                    path: text(&f.path),
                    contents: Box::leak(contents.into_boxed_slice()),
                    executable: f.executable,
                    dest: f.dest.as_deref().map(text),
                })
                .collect(),
        ),
        run: RunSpec {
            env: texts(&m.run.env),
            volumes: texts(&m.run.volumes),
            optional_volumes: texts(&m.run.optional_volumes),
            devices: texts(&m.run.devices),
            args: texts(&m.run.args),
            group_add: texts(&m.run.group_add),
            xauthority: m.run.xauthority,
            keep_container: m.run.keep_container,
        },
    }
}

fn download(d: &DownloadMeta) -> Download {
    let verify = match &d.verify {
        VerifyMeta::ChecksumFile { urls, format } => Verify::ChecksumFile {
            urls: arch_urls(urls),
            format: if format == "sha256sum" { ChecksumFormat::Sha256sum } else { ChecksumFormat::Hash },
        },
        VerifyMeta::Pinned { version_option, sha256, override_option } => Verify::Pinned {
            version_option: text(version_option),
            sha256: slice(
                sha256
                    .iter()
                    .map(|(v, a, h)| PinnedSha256 { version: text(v), arch: arch(a), sha256: text(h) })
                    .collect(),
            ),
            override_option: override_option.as_deref().map(text),
        },
        VerifyMeta::None { reason } => Verify::None { reason: text(reason) },
    };
    Download {
        name: text(&d.name),
        urls: arch_urls(&d.urls),
        verify,
        extract: match d.extract.as_str() {
            "tar.xz" => Extract::TarXz,
            "zip" => Extract::Zip,
            "file" => Extract::File,
            _ => Extract::TarGz,
        },
        members: texts(&d.members),
        strip_components: d.strip_components,
        dest: text(&d.dest),
        mode: text(&d.mode),
        check: d.check.as_deref().map(text),
        insecure_http_for_tests: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copied file's bytes are moved into the extension, not copied: a 200 MB file took 400 MB.
    #[test]
    fn a_copied_file_is_held_once() {
        let seen = std::cell::Cell::new(std::ptr::null::<u8>());
        let load = |rel: &str, _limit: u64| {
            if rel == "files/big.bin" {
                let bytes = vec![7u8; 1 << 20];
                seen.set(bytes.as_ptr());
                Ok(bytes)
            } else {
                Err(format!("`{rel}` does not exist"))
            }
        };
        let text = "name = \"big\"\ndescription = \"d\"\n[[files]]\npath = \"files/big.bin\"\ndest = \"/opt/big.bin\"\n";
        let ext = build(&Input { path: "big/extension.toml", text, load: &load }, "test").unwrap();
        assert_eq!(ext.files[0].contents.len(), 1 << 20);
        assert_eq!(ext.files[0].contents.as_ptr(), seen.get(), "the bytes were copied");
    }
}
