//! `[[builder.downloads]]`: declared release downloads, each rendered by core as one verified
//! step. A download with no way to verify it is an error unless it says `verify = "none"` with a
//! `reason`.

use quarry_core::{
    Arch, ArchUrl, ChecksumFormat, Download, Extract, OptionSpec, PinnedSha256, Verify, rules, schema,
};
use toml::de::DeValue;

use super::walker::{Table, Walker, join, slice, text, texts};

impl Walker<'_> {
    pub(super) fn downloads(
        &mut self,
        builder: &Table<'_>,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
    ) -> Vec<Download> {
        let mut out: Vec<Download> = Vec::new();
        let key = "builder.downloads";
        for (t, span) in self.tables(builder, "builder", "downloads") {
            let at = |k: &str| t.get(k).map(|v| v.span().start).unwrap_or(span.start);
            let Some(dl) = self.string(t, key, "name", false) else { continue };
            if rules::is_snake_case(&dl) && out.iter().any(|d| d.name == dl) {
                self.error(
                    at("name"),
                    "builder.downloads.name",
                    "duplicate",
                    format!("two downloads are named `{dl}`"),
                );
            }
            let urls = self.arch_urls(t, "url", &dl, name, options, option_names, None);

            let verify_none = match self.string(t, key, "verify", false) {
                None => false,
                Some(v) if v == "none" => true,
                Some(v) => {
                    self.error(at("verify"), "builder.downloads.verify", "download-verify", format!("{v:?} is not a choice: `verify = \"none\"` (with a `reason`) is the only value; a checksum is declared with `checksum_url` or `sha256`"));
                    false
                }
            };
            let ways = [t.contains_key("checksum_url"), t.contains_key("sha256"), verify_none];
            let verify = match ways {
                [true, false, false] => {
                    let sums =
                        self.arch_urls(t, "checksum_url", &dl, name, options, option_names, Some(&urls));
                    let written = self.string(t, key, "checksum_format", false).unwrap_or_default();
                    let format = ChecksumFormat::from_key(&written);
                    if format.is_none() {
                        self.error(at("checksum_format"), "builder.downloads.checksum_format", "download-verify", format!("download `{dl}` needs `checksum_format`: `hash` (the file's first word is the hash) or `sha256sum` (lines `HASH  NAME`, the line naming the download's file)"));
                    }
                    Verify::ChecksumFile { urls: slice(sums), format: format.unwrap_or(ChecksumFormat::Hash) }
                }
                [false, true, false] => self.pinned(t, &dl, options, &urls),
                [false, false, true] => {
                    let reason = self.string(t, key, "reason", false).unwrap_or_default();
                    if reason.trim().is_empty() {
                        self.error(at("verify"), "builder.downloads.reason", "download-verify", format!("download `{dl}` is not verified: say why in `reason` (`quarry show` shows it)"));
                    }
                    Verify::None { reason: text(&reason) }
                }
                [false, false, false] => {
                    self.error(span.start, key, "unverified-download", format!("download `{dl}` has no way to be verified: give `checksum_url` (upstream's checksum file) and `checksum_format`, or `sha256` pinned per version with `version_option`, or say `verify = \"none\"` with a `reason`"));
                    Verify::None { reason: "" }
                }
                _ => {
                    self.error(span.start, key, "download-verify", format!("download `{dl}` declares more than one of `checksum_url`, `sha256` and `verify = \"none\"`: give one"));
                    Verify::None { reason: "" }
                }
            };
            for (k, needs) in [
                ("checksum_format", ways[0]),
                ("version_option", ways[1]),
                ("sha256_option", ways[1]),
                ("reason", ways[2]),
            ] {
                if t.contains_key(k) && !needs {
                    self.error(
                        at(k),
                        &join(key, k),
                        "download-verify",
                        format!("`{k}` does not go with how download `{dl}` is verified"),
                    );
                }
            }

            let written = self.string(t, key, "extract", false).unwrap_or_default();
            let extract = Extract::from_key(&written);
            if extract.is_none() {
                self.error(
                    at("extract"),
                    "builder.downloads.extract",
                    "download-extract",
                    format!(
                        "download `{dl}` needs `extract`: one of {}",
                        Extract::KEYS.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            let members = self.string_array(t, key, "members");
            for m in &members {
                self.check(rules::is_member_pattern(m), at("members"), "builder.downloads.members", "download-extract", || {
                    format!("{m:?} is not an archive path of letters, digits, `.`, `_`, `-`, `+`, `/` and `*` whose last part is a plain name")
                });
            }
            let strip_components = match t.get("strip_components").map(|v| (v, v.get_ref())) {
                None => 0,
                Some((v, DeValue::Integer(i))) => match i.as_str().parse::<u8>() {
                    Ok(n) if n <= 8 => n,
                    _ => {
                        self.error(
                            v.span().start,
                            "builder.downloads.strip_components",
                            "download-extract",
                            "use a whole number from 0 to 8".to_owned(),
                        );
                        0
                    }
                },
                Some((v, other)) => {
                    self.type_error(v, "builder.downloads.strip_components", "an integer", other);
                    0
                }
            };
            let dest = self.string(t, key, "dest", false).unwrap_or_default();
            self.check(dest.is_empty() || rules::is_rel_path(&dest), at("dest"), "builder.downloads.dest", "rel-path", || {
                format!("{dest:?} must be relative to the builder's output folder `/opt/quarry/{name}`, without `..`")
            });
            let extract = extract.unwrap_or(Extract::TarGz);
            if extract == Extract::File {
                self.check(
                    members.is_empty() && strip_components == 0,
                    at("extract"),
                    "builder.downloads.extract",
                    "download-extract",
                    || "a plain file has no `members` or `strip_components`".to_owned(),
                );
                self.check(
                    !dest.is_empty(),
                    at("extract"),
                    "builder.downloads.dest",
                    "download-extract",
                    || "a plain file needs `dest`, its path under the output folder".to_owned(),
                );
            }
            if extract == Extract::Zip {
                self.check(
                    strip_components == 0,
                    at("strip_components"),
                    "builder.downloads.strip_components",
                    "download-extract",
                    || "zip archives have no `strip_components`".to_owned(),
                );
            }
            let mode = self.string(t, key, "mode", false).unwrap_or_else(|| "0755".to_owned());
            self.check(
                rules::is_file_mode(&mode),
                at("mode"),
                "builder.downloads.mode",
                "download-extract",
                || format!("{mode:?} is not an octal mode such as `0755`"),
            );
            let check = self.string(t, key, "check", false);
            if let Some(c) = &check
                && self.template_value(c, at("check"), "builder.downloads.check", option_names)
            {
                self.check(
                    !c.contains(['\n', '\r', '\\']),
                    at("check"),
                    "builder.downloads.check",
                    "download-check",
                    || "the check is one command line, without `\\`".to_owned(),
                );
            }
            let mut download = Download {
                name: text(&dl),
                urls: slice(urls),
                verify,
                extract,
                members: texts(members),
                strip_components,
                dest: text(&dest),
                mode: text(&mode),
                check: check.as_deref().map(text),
                insecure_http_for_tests: false,
            };
            self.plain(t, &schema::DOWNLOAD, key, &mut download);
            out.push(download);
        }
        out
    }

    /// A table of URL templates by architecture; with `download` given, also a single string
    /// for every architecture of the download, in which `{{ url }}` is that architecture's URL.
    #[allow(clippy::too_many_arguments)]
    fn arch_urls(
        &mut self,
        t: &Table<'_>,
        k: &str,
        dl: &str,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
        download: Option<&[ArchUrl]>,
    ) -> Vec<ArchUrl> {
        let key = format!("builder.downloads.{k}");
        let Some(v) = t.get(k) else { return Vec::new() };
        let at = v.span().start;
        let mut urls: Vec<ArchUrl> = Vec::new();
        match (v.get_ref(), download) {
            (DeValue::String(s), Some(download)) => {
                for d in download {
                    urls.push(ArchUrl { arch: d.arch, url: text(&s.replace("{{ url }}", d.url)) });
                }
            }
            (DeValue::Table(by_arch), _) => {
                for &arch in Arch::ALL {
                    if let Some(u) = self.string(by_arch, &key, arch.key(), false) {
                        urls.push(ArchUrl { arch, url: text(&u) });
                    }
                }
                for a in by_arch.keys() {
                    let a: &str = a.get_ref();
                    if Arch::from_key(a).is_none() {
                        let known =
                            Arch::KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ");
                        self.error(at, &key, "download-arch", format!("`{a}` is not an architecture: use {known}, as `dpkg --print-architecture` names them"));
                    }
                }
                if let Some(download) = download {
                    let same = download.iter().map(|d| d.arch).eq(urls.iter().map(|u| u.arch));
                    self.check(same, at, &key, "download-arch", || {
                        format!("download `{dl}` needs a checksum URL for each architecture it has a URL for")
                    });
                }
            }
            (other, _) => {
                let expected = if download.is_some() {
                    "a string or a table of URLs by architecture"
                } else {
                    "a table of URLs by architecture"
                };
                self.type_error(v, &key, expected, other);
            }
        }
        for url in urls.iter().map(|u| u.url) {
            if !self.template_value(url, at, &key, option_names) {
                continue;
            }
            if !rules::is_url_template(url, false) {
                self.error(
                    at,
                    &key,
                    "https-url",
                    format!("{url:?} is not an https:// URL without white space, quotes, `\\` or `$`"),
                );
                continue;
            }
            if let Some(rendered) = self.render_with_defaults(name, url, options) {
                self.check(rules::is_https_url(&rendered), at, &key, "https-url", || {
                    format!("{url:?} renders to {rendered:?} with the default options, which is not an https:// URL of plain characters")
                });
            }
        }
        urls
    }

    fn pinned(&mut self, t: &Table<'_>, dl: &str, options: &[OptionSpec], urls: &[ArchUrl]) -> Verify {
        let key = "builder.downloads";
        let at = |k: &str| t.get(k).map(|v| v.span().start).unwrap_or(0);
        let version_option = self.string(t, key, "version_option", false).unwrap_or_default();
        self.check(options.iter().any(|o| o.name == version_option), at("sha256"), "builder.downloads.version_option", "download-verify", || {
            format!("download `{dl}` pins sha256 values by version: `version_option` must name the option that holds the version")
        });
        let override_option = self.string(t, key, "sha256_option", false);
        if let Some(o) = &override_option {
            let ok = options
                .iter()
                .any(|m| m.name == o && m.default == "pinned" && m.rule == rules::Rule::Identifier);
            self.check(ok, at("sha256_option"), "builder.downloads.sha256_option", "download-verify", || {
                format!("`{o}` must be an option with `default = \"pinned\"` and `rule = \"identifier\"`: its value, a sha256, replaces the pinned one")
            });
        }
        let mut sha256 = Vec::new();
        if let Some(DeValue::Table(versions)) = t.get("sha256").map(|v| v.get_ref()) {
            for (version, by_arch) in versions.iter() {
                let version: &str = version.get_ref();
                let DeValue::Table(by_arch) = by_arch.get_ref() else {
                    self.type_error(
                        by_arch,
                        "builder.downloads.sha256",
                        "a table of sha256 values by architecture",
                        by_arch.get_ref(),
                    );
                    continue;
                };
                for (arch, sha) in by_arch.iter() {
                    let arch: &str = arch.get_ref();
                    let s = match sha.get_ref() {
                        DeValue::String(s) => s.to_string(),
                        other => {
                            self.type_error(sha, "builder.downloads.sha256", "a string", other);
                            continue;
                        }
                    };
                    let known = urls.iter().any(|u| u.arch.key() == arch);
                    self.check(known, sha.span().start, "builder.downloads.sha256", "download-arch", || {
                        format!("`{arch}` is not an architecture download `{dl}` has a URL for")
                    });
                    self.check(
                        rules::is_sha256(&s),
                        sha.span().start,
                        "builder.downloads.sha256",
                        "sha256",
                        || format!("{s:?} is not a sha256: 64 lowercase hex digits"),
                    );
                    if let Some(arch) = Arch::from_key(arch).filter(|_| known) {
                        sha256.push(PinnedSha256 { version: text(version), arch, sha256: text(&s) });
                    }
                }
            }
        } else {
            self.error(
                at("sha256"),
                "builder.downloads.sha256",
                "type",
                "expected a table: `sha256.\"VERSION\".ARCH = \"HASH\"`".to_owned(),
            );
        }
        Verify::Pinned {
            version_option: text(&version_option),
            sha256: slice(sha256),
            override_option: override_option.as_deref().map(text),
        }
    }
}
