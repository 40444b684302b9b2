//! What a value may look like before it reaches a Dockerfile. One job (a long file of short
//! `const fn` checks and their tests): every rule a value is held to, in one place.
//!
//! One job, so one long file: the value rules, each a small `const fn` with its tests.
//!
//! Every check is a `const fn` so that the same code validates registrations at compile time,
//! metadata in `codegen` and user input at run time. None of the accepted shapes can contain
//! white space, a quote, a backslash or a newline, so an accepted value can never start a new
//! Dockerfile instruction or continue a line.

/// The validation rule of an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A version such as `1.83.0`, `22.12.0`, `v0.8`, `nightly-2024-05-01`, `1.2.3+build`.
    Version,
    /// An identifier: letters, digits, `_`, `.`, `-`; starting with a letter, digit or `_`.
    Identifier,
    /// A POSIX user or group name: `[a-z_][a-z0-9_-]*`, at most 32 characters.
    UserName,
    /// A Debian package name.
    AptPackage,
    /// An absolute path without white space or shell metacharacters.
    AbsPath,
    /// A container image reference such as `ubuntu:24.04` or `ghcr.io/org/img:tag@sha256:...`.
    ImageRef,
    /// A whole number from 0 to 4294967295.
    Uint,
    /// The id of a new user account: 1 to 4294967294, but not 65534. 0 (`root`) and 65534
    /// (`nobody`) already have accounts the image needs, and 4294967295 is `(uid_t)-1`.
    UserId,
    /// `true` or `false`.
    Bool,
    /// One `docker run` argument value: printable ASCII without white space, quotes or `\\`,
    /// at most 1024 characters (e.g. a mount `/data:/data:ro`, `NAME=value`, `/dev/snd`).
    Arg,
    /// A size such as `2g`, `512m`, `1024`.
    Size,
    /// A published port: `[ip:][host:]container[/tcp|udp]`, e.g. `8080:80`.
    Port,
    /// A tz database name such as `Etc/UTC` or `America/Argentina/Buenos_Aires`.
    Timezone,
    /// A locale as `language[_TERRITORY].CHARSET[@modifier]`, e.g. `de_DE.UTF-8`.
    Locale,
    /// A rustup toolchain name, `<channel>[-<date>][-<host>]`: `stable`, `1.95.0`,
    /// `nightly-2026-01-01`, `1.95.0-x86_64-unknown-linux-gnu`.
    RustToolchain,
    /// A decimal number: digits, optionally a `.` and more digits (`1.5`, `2`).
    Decimal,
    /// An `http://` or `https://` URL without white space, quotes or shell characters (a
    /// repository mirror: apt checks what it serves against the pinned key).
    Url,
    /// An OpenPGP key fingerprint: 40 (v4) or 64 (v6) hex digits, without spaces.
    KeyFingerprint,
    /// One of a fixed set of values.
    OneOf(&'static [&'static str]),
}

impl crate::bake::Bake for Rule {
    fn bake(&self, out: &mut String) {
        match self {
            Rule::OneOf(values) => {
                out.push_str("::quarry_core::Rule::OneOf(");
                values.bake(out);
                out.push(')');
            }
            // Every other rule is a unit variant, whose `Debug` form is its name.
            named => out.push_str(&format!("::quarry_core::Rule::{named:?}")),
        }
    }
}

impl crate::bake::FromPlain for Rule {}

impl Rule {
    /// Every rule an option names with `rule = "..."`, in documentation order: the one list of
    /// rule names (`one_of` is written as a list of values instead).
    pub const NAMED: &'static [Rule] = &[
        Rule::Version,
        Rule::Identifier,
        Rule::UserName,
        Rule::AptPackage,
        Rule::AbsPath,
        Rule::ImageRef,
        Rule::Uint,
        Rule::UserId,
        Rule::Bool,
        Rule::Arg,
        Rule::Size,
        Rule::Port,
        Rule::Timezone,
        Rule::Locale,
        Rule::RustToolchain,
        Rule::Decimal,
        Rule::Url,
        Rule::KeyFingerprint,
    ];

    /// The rule written `key` in metadata.
    pub fn from_key(key: &str) -> Option<Rule> {
        Rule::NAMED.iter().copied().find(|r| r.key() == key)
    }

    /// Whether `value` satisfies the rule.
    pub const fn accepts(&self, value: &str) -> bool {
        match self {
            Rule::Version => is_version(value),
            Rule::Identifier => is_identifier(value),
            Rule::UserName => is_user_name(value),
            Rule::AptPackage => is_apt_package(value),
            Rule::AbsPath => is_abs_path(value),
            Rule::ImageRef => is_image_ref(value),
            Rule::Uint => is_uint(value),
            Rule::UserId => is_user_id(value),
            Rule::Bool => str_eq(value, "true") || str_eq(value, "false"),
            Rule::Arg => is_arg(value),
            Rule::Size => is_size(value),
            Rule::Port => is_port(value),
            Rule::Timezone => is_timezone(value),
            Rule::Locale => is_locale(value),
            Rule::RustToolchain => is_rust_toolchain(value),
            Rule::Decimal => is_decimal(value),
            Rule::Url => is_https_url(value) || is_http_url(value),
            Rule::KeyFingerprint => is_key_fingerprint(value),
            Rule::OneOf(values) => {
                let mut i = 0;
                while i < values.len() {
                    if str_eq(values[i], value) {
                        return true;
                    }
                    i += 1;
                }
                false
            }
        }
    }

    /// The rule's name as written in metadata files.
    pub fn key(&self) -> &'static str {
        match self {
            Rule::Version => "version",
            Rule::Identifier => "identifier",
            Rule::UserName => "user_name",
            Rule::AptPackage => "apt_package",
            Rule::AbsPath => "abs_path",
            Rule::ImageRef => "image",
            Rule::Uint => "uint",
            Rule::UserId => "user_id",
            Rule::Bool => "bool",
            Rule::Arg => "arg",
            Rule::Size => "size",
            Rule::Port => "port",
            Rule::Timezone => "timezone",
            Rule::Locale => "locale",
            Rule::RustToolchain => "rust_toolchain",
            Rule::Decimal => "decimal",
            Rule::Url => "url",
            Rule::KeyFingerprint => "key_fingerprint",
            Rule::OneOf(_) => "one_of",
        }
    }

    /// What the rule accepts, precisely, for the documentation (`docs/EXTENDING.md`'s table is
    /// written from it).
    pub fn doc(&self) -> &'static str {
        match self {
            Rule::Version => {
                "letters, digits, `.`, `_`, `+`, `-`; starting with a letter or digit; at most 64 characters (`1.95.0`, `v0.8`, `nightly-2026-01-01`)"
            }
            Rule::Identifier => {
                "letters, digits, `_`, `.`, `-`; starting with a letter, digit or `_`; at most 64 characters"
            }
            Rule::UserName => "`[a-z_][a-z0-9_-]*`, at most 32 characters",
            Rule::AptPackage => "`[a-z0-9][a-z0-9+.-]+`, at most 128 characters",
            Rule::AbsPath => {
                "an absolute path: `/` followed by `[A-Za-z0-9/._+@-]`, no `..` component, at most 255 characters"
            }
            Rule::ImageRef => {
                "`[host[:port]/]path[:tag][@sha256:<64 hex>]`: lowercase path components (alphanumerics separated by `.`, `_`, `-`), tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, at most 255 characters"
            }
            Rule::Uint => "a whole number from 0 to 4294967295, no leading zero; a number in templates",
            Rule::UserId => {
                "the id of a new account: a `uint` from 1 to 4294967294, not 65534. 0 and 65534 are root's and nobody's, whose accounts a setup that makes way for a new uid would remove; a number in templates"
            }
            Rule::Bool => "`true` or `false`; a boolean in templates (`{% if options.x %}`)",
            Rule::Arg => {
                "one `docker run` argument: printable ASCII without spaces, `\"`, `'`, `` ` `` or `\\`, at most 1024 characters (`/data:/data:ro`, `NAME=value`, `Europe/Paris`)"
            }
            Rule::Size => {
                "digits, optionally followed by one of `b k m g` (either case), or `kb mb gb` as Docker and rocker take them: `2g`, `512m`, `1gb`, `1024`"
            }
            Rule::Port => "`[ip:][host:]container[/tcp\\|/udp]`: `8080:80`, `127.0.0.1:8080:80`, `53:53/udp`",
            Rule::Timezone => {
                "`/`-separated parts of `[A-Za-z0-9_+-]`, each starting with a letter or digit, at most 64 characters: `Etc/UTC`, `Europe/Paris`"
            }
            Rule::Locale => {
                "`language[_TERRITORY].CHARSET[@modifier]`: `en_US.UTF-8`, `C.UTF-8`, `sr_RS.UTF-8@latin`"
            }
            Rule::RustToolchain => {
                "a rustup toolchain name as rustup documents it, `<channel>[-<date>][-<host>]`: channel `stable`, `beta`, `nightly`, `MAJOR.MINOR` or `MAJOR.MINOR.PATCH` (optionally `-beta` or `-beta.N`), date `YYYY-MM-DD`, host a target triple of 3 or 4 parts: `1.95.0`, `1.95`, `nightly-2026-01-01`, `stable-x86_64-unknown-linux-gnu`; not `latest` or `none`"
            }
            Rule::Decimal => "digits, optionally a `.` and more digits, at most 16 characters: `1.5`, `2`",
            Rule::Url => {
                "`http://` or `https://` followed by `[A-Za-z0-9/._~:%+=@-]`, at most 2048 characters (a mirror: apt verifies what it serves)"
            }
            Rule::KeyFingerprint => {
                "an OpenPGP key fingerprint: 40 or 64 hex digits without spaces (`C1CF6E31E6BADE8868B172B4F42ED6FBAB17C654`)"
            }
            Rule::OneOf(_) => "exactly one of the listed values",
        }
    }

    /// What an accepted value looks like, for error messages.
    pub fn expectation(&self) -> String {
        match self {
            Rule::Version => "a version such as `1.83.0`: letters, digits, `.`, `_`, `+`, `-`, \
                              starting with a letter or digit, at most 64 characters"
                .to_owned(),
            Rule::Identifier => "an identifier: letters, digits, `_`, `.`, `-`, starting with a \
                                 letter, digit or `_`, at most 64 characters"
                .to_owned(),
            Rule::UserName => "a user name: lowercase letters, digits, `_`, `-`, starting with a \
                               letter or `_`, at most 32 characters"
                .to_owned(),
            Rule::AptPackage => "a Debian package name such as `libssl-dev`".to_owned(),
            Rule::AbsPath => "an absolute path without spaces, quotes or `..`".to_owned(),
            Rule::ImageRef => "an image reference such as `ubuntu:24.04`".to_owned(),
            Rule::Uint => "a whole number from 0 to 4294967295".to_owned(),
            Rule::UserId => "the id of a new account, from 1 to 4294967294: not 0 or 65534, which \
                             would take the place of `root`'s or `nobody`'s account"
                .to_owned(),
            Rule::Bool => "`true` or `false`".to_owned(),
            Rule::Arg => "one `docker run` argument: no spaces, quotes or `\\`".to_owned(),
            Rule::Size => "a size such as `2g`, `512m` or `1024`".to_owned(),
            Rule::Port => "a port mapping such as `8080:80`, `127.0.0.1:8080:80` or `53:53/udp`".to_owned(),
            Rule::Timezone => "a time zone name such as `Europe/Paris` or `Etc/UTC`".to_owned(),
            Rule::Locale => "a locale such as `en_US.UTF-8` (language_TERRITORY.CHARSET)".to_owned(),
            Rule::RustToolchain => "a rustup toolchain: `stable`, `beta`, `nightly` or a version such as \
                                    `1.95` or `1.95.0`, optionally with a date and a host triple \
                                    (`nightly-2026-01-01`, `1.95.0-x86_64-unknown-linux-gnu`)"
                .to_owned(),
            Rule::Decimal => "a decimal number such as `1.5` or `2`".to_owned(),
            Rule::Url => "an http:// or https:// URL without spaces, quotes or shell characters".to_owned(),
            Rule::KeyFingerprint => "a key fingerprint: 40 or 64 hex digits without spaces".to_owned(),
            Rule::OneOf(values) => {
                let list: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                format!("one of {}", list.join(", "))
            }
        }
    }
}

/// See [`Rule::Arg`].
pub const fn is_arg(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 1024 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c <= b' ' || c >= 0x7f || c == b'"' || c == b'\'' || c == b'\\' || c == b'`' {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::Size`].
pub const fn is_size(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 {
        return false;
    }
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 {
        return false;
    }
    const fn unit(c: u8) -> bool {
        matches!(c, b'b' | b'k' | b'm' | b'g' | b'B' | b'K' | b'M' | b'G')
    }
    // Docker's and rocker's `kb`, `mb`, `gb`.
    const fn byte(c: u8) -> bool {
        matches!(c, b'b' | b'B')
    }
    i == b.len()
        || (i + 1 == b.len() && unit(b[i]))
        || (i + 2 == b.len() && unit(b[i]) && !byte(b[i]) && byte(b[i + 1]))
}

/// A plain file name: `[A-Za-z0-9._+-]`, 1 to 128 characters, not `.` or `..` (`package.xml`).
pub const fn is_file_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 128 || str_eq(s, ".") || str_eq(s, "..") {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'_' | b'+' | b'-')) {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::Decimal`].
pub const fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 16 {
        return false;
    }
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if digits == 0 {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if b[i] != b'.' {
        return false;
    }
    i += 1;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i == b.len() && i > start
}

/// See [`Rule::KeyFingerprint`].
pub const fn is_key_fingerprint(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 40 && b.len() != 64 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_hexdigit() {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::Port`]: `[ip:][host:]container[/tcp|/udp]`, each port a number from 1 to 65535,
/// the address IPv4 digits and dots.
pub const fn is_port(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    // The protocol, after the last `/`.
    let mut end = b.len();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' {
            let rest = b.len() - i - 1;
            let tcp = rest == 3 && b[i + 1] == b't' && b[i + 2] == b'c' && b[i + 3] == b'p';
            let udp = rest == 3 && b[i + 1] == b'u' && b[i + 2] == b'd' && b[i + 3] == b'p';
            if !(tcp || udp) {
                return false;
            }
            end = i;
            break;
        }
        i += 1;
    }
    // The `:`-separated parts, from the last: ports, then at most one address.
    let mut parts = 0;
    let mut stop = end;
    let mut j = end;
    loop {
        let at_start = j == 0;
        if at_start || b[j - 1] == b':' {
            let start = j;
            parts += 1;
            if parts > 3 {
                return false;
            }
            let ok = if parts == 3 { is_ipv4_digits(b, start, stop) } else { is_port_number(b, start, stop) };
            if !ok {
                return false;
            }
            if at_start {
                return true;
            }
            stop = j - 1;
        }
        j -= 1;
    }
}

/// `b[start..end]` is a port: 1 to 65535, digits only.
const fn is_port_number(b: &[u8], start: usize, end: usize) -> bool {
    if start >= end || end - start > 5 {
        return false;
    }
    let mut value: u32 = 0;
    let mut i = start;
    while i < end {
        if !b[i].is_ascii_digit() {
            return false;
        }
        value = value * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    value >= 1 && value <= 65535
}

/// `b[start..end]` is digits and dots, not empty.
const fn is_ipv4_digits(b: &[u8], start: usize, end: usize) -> bool {
    if start >= end {
        return false;
    }
    let mut i = start;
    while i < end {
        if !(b[i].is_ascii_digit() || b[i] == b'.') {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::Timezone`]: `/`-separated parts of `[A-Za-z0-9_+-]`, each starting with a letter or
/// digit (so no `..`, no leading `/`), at most 64 characters.
pub const fn is_timezone(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    let mut i = 0;
    let mut part_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b'/' {
            if part_start {
                return false;
            }
            part_start = true;
        } else if part_start {
            if !c.is_ascii_alphanumeric() {
                return false;
            }
            part_start = false;
        } else if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'+' || c == b'-') {
            return false;
        }
        i += 1;
    }
    !part_start
}

/// See [`Rule::Locale`]: letters, then optional `_` and letters, then `.` and a charset of
/// `[A-Za-z0-9-]`, then an optional `@` and lowercase modifier; at most 64 characters.
pub const fn is_locale(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > 64 {
        return false;
    }
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_alphabetic() {
        i += 1;
    }
    if i == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'_' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i >= b.len() || b[i] != b'.' {
        return false;
    }
    let start = i + 1;
    i = start;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
        i += 1;
    }
    if i == start {
        return false;
    }
    if i < b.len() {
        if b[i] != b'@' || i + 1 == b.len() {
            return false;
        }
        i += 1;
        while i < b.len() {
            if !b[i].is_ascii_lowercase() {
                return false;
            }
            i += 1;
        }
    }
    true
}

/// See [`Rule::RustToolchain`]: rustup's `<channel>[-<date>][-<host>]`
/// (<https://rust-lang.github.io/rustup/concepts/toolchains.html>), where channel is `stable`,
/// `beta`, `nightly` or `<major.minor>[.<patch>][-beta[.<n>]]`, date `YYYY-MM-DD` and host a
/// target triple (`arch-vendor-os[-env]`, parts of `[a-z0-9_.]` starting with a letter); at
/// most 64 characters. `latest` and `none` (which installs no toolchain) are not toolchains.
pub const fn is_rust_toolchain(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    // The channel.
    let mut i = if starts_with(b, b"stable") {
        6
    } else if starts_with(b, b"nightly") {
        7
    } else if starts_with(b, b"beta") {
        4
    } else {
        let mut i = 0;
        let mut numbers = 0;
        while numbers < 3 {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            // A number, without a leading zero.
            if i == start || (b[start] == b'0' && i - start > 1) {
                return false;
            }
            numbers += 1;
            if numbers < 3 && i < b.len() && b[i] == b'.' {
                i += 1;
            } else {
                break;
            }
        }
        if numbers < 2 {
            return false;
        }
        if starts_with(split_at(b, i), b"-beta") && (i + 5 == b.len() || b[i + 5] == b'-' || b[i + 5] == b'.')
        {
            i += 5;
            if i < b.len() && b[i] == b'.' {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
        }
        i
    };
    if i == b.len() {
        return true;
    }
    if b[i] != b'-' {
        return false;
    }
    // The date, `-YYYY-MM-DD`.
    if i + 1 < b.len() && b[i + 1].is_ascii_digit() {
        let d = split_at(b, i + 1);
        if d.len() < 10 || (d.len() > 10 && d[10] != b'-') {
            return false;
        }
        let mut k = 0;
        while k < 10 {
            let ok = if k == 4 || k == 7 { d[k] == b'-' } else { d[k].is_ascii_digit() };
            if !ok {
                return false;
            }
            k += 1;
        }
        let month = (d[5] - b'0') * 10 + (d[6] - b'0');
        let day = (d[8] - b'0') * 10 + (d[9] - b'0');
        if month < 1 || month > 12 || day < 1 || day > 31 {
            return false;
        }
        i += 11;
        if i == b.len() {
            return true;
        }
    }
    // The host, `-arch-vendor-os[-env]`.
    let mut parts = 0;
    while i < b.len() {
        // `b[i]` is the `-` before a part.
        let start = i + 1;
        if start >= b.len() || !b[start].is_ascii_lowercase() {
            return false;
        }
        i = start;
        while i < b.len() && (is_lower_alnum(b[i]) || b[i] == b'_' || b[i] == b'.') {
            i += 1;
        }
        parts += 1;
        if i < b.len() && b[i] != b'-' {
            return false;
        }
    }
    parts == 3 || parts == 4
}

/// `b[at..]`, usable in `const fn`.
const fn split_at(b: &[u8], at: usize) -> &[u8] {
    b.split_at(at).1
}

/// Byte-wise string equality usable in `const fn`.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn starts_with(s: &[u8], prefix: &[u8]) -> bool {
    if s.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if s[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z][a-z0-9_]*`, at most 64 characters, no `__`, not ending in `_`.
pub const fn is_snake_case(s: &str) -> bool {
    is_word_joined_by(s, b'_')
}

/// A long flag without `--`: `[a-z][a-z0-9-]*`, at most 64 characters, no `--`, not ending in `-`.
pub const fn is_flag_name(s: &str) -> bool {
    is_word_joined_by(s, b'-')
}

/// Lowercase letters and digits joined by single `sep`s: a letter first, at most 64 characters,
/// not ending in `sep`.
const fn is_word_joined_by(s: &str, sep: u8) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 || !b[0].is_ascii_lowercase() || b[b.len() - 1] == sep {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(is_lower_alnum(c) || c == sep) || (c == sep && b[i - 1] == sep) {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::Version`].
pub const fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 || !b[0].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'+' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::Identifier`].
pub const fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 || !(b[0].is_ascii_alphanumeric() || b[0] == b'_') {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// See [`Rule::UserName`].
pub const fn is_user_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 32 || !(b[0].is_ascii_lowercase() || b[0] == b'_') {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(is_lower_alnum(c) || c == b'_' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// The user an image runs as, as `USER` takes it: `user` or `user:group`, each a name or a
/// numeric id of 1 to 64 characters `[A-Za-z0-9_.-]`, not starting with `-`. No white space,
/// `$`, quote or `\\`, so it is one word that nothing expands.
pub const fn is_user_spec(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut start = 0;
    let mut colons = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b':' {
            let len = i - start;
            if len == 0 || len > 64 || b[start] == b'-' {
                return false;
            }
            if i < b.len() {
                colons += 1;
                if colons > 1 {
                    return false;
                }
            }
            start = i + 1;
        } else if !(b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-')) {
            return false;
        }
        i += 1;
    }
    true
}

/// A Debian package name: `[a-z0-9][a-z0-9+.-]+`.
pub const fn is_apt_package(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b.len() > 128 || !is_lower_alnum(b[0]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(is_lower_alnum(c) || c == b'+' || c == b'.' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// A package name with `{{ options.<name> }}` placeholders, checked for its shape only (the
/// rendered name is checked when rendering): package characters, spaces, `{`, `}`, `_`, and
/// inside the braces a filter's `|`, `(`, `)`, `'` and `,` (`{{ options.version | replace('.', '-') }}`).
pub const fn is_templated_apt_package(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 128 {
        return false;
    }
    let mut i = 0;
    let mut braces = 0;
    let mut depth: i32 = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'{' {
            braces += 1;
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
        }
        let filter = depth > 0 && matches!(c, b'|' | b'(' | b')' | b'\'' | b',');
        if !(filter || is_lower_alnum(c) || matches!(c, b'+' | b'.' | b'-' | b'{' | b'}' | b' ' | b'_')) {
            return false;
        }
        i += 1;
    }
    braces > 0
}

/// An environment entry `NAME=value`: `NAME` is `[A-Za-z_][A-Za-z0-9_]*`; the value is printable
/// ASCII without white space, quotes, `\\` or a backtick (`$NAME` expansions are allowed), at
/// most 1024 characters, so `ENV NAME=value` is one instruction that cannot continue a line.
pub const fn is_env_entry(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 1024 || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return false;
    }
    let mut i = 1;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    if i == b.len() || b[i] != b'=' {
        return false;
    }
    i += 1;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_graphic()) || matches!(c, b'"' | b'\'' | b'\\' | b'`') {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `s` holds a `{{ ... }}` template expression (checked after rendering instead).
pub const fn is_templated(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'{' && b[i + 1] == b'{' {
            return true;
        }
        i += 1;
    }
    false
}

const fn is_path_byte(c: u8) -> bool {
    // `@`: rockerc names worktree folders `repo@branch`; it is plain in a shell word and in
    // Dockerfile instructions alike.
    c.is_ascii_alphanumeric() || c == b'/' || c == b'.' || c == b'_' || c == b'-' || c == b'+' || c == b'@'
}

/// Text of one line, for a comment of the Dockerfile and a line of `quarry show` (a description,
/// a download's `reason`): not empty, at most 400 bytes, and no control character (C0, DEL, C1),
/// line or paragraph separator, bidirectional override or isolate, or byte order mark, so it can
/// neither start a line nor reorder or hide what a terminal shows.
pub const fn is_one_line_text(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 400 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // C0 controls and DEL.
        if c < 0x20 || c == 0x7f {
            return false;
        }
        // C1 controls, U+0080..=U+009F: C2 80..=9F.
        if c == 0xc2 && i + 1 < b.len() && b[i + 1] >= 0x80 && b[i + 1] <= 0x9f {
            return false;
        }
        // U+2028, U+2029, U+202A..=U+202E: E2 80 A8..=AE; U+2066..=U+2069: E2 81 A6..=A9.
        if c == 0xe2 && i + 2 < b.len() {
            let (c1, c2) = (b[i + 1], b[i + 2]);
            if (c1 == 0x80 && c2 >= 0xa8 && c2 <= 0xae) || (c1 == 0x81 && c2 >= 0xa6 && c2 <= 0xa9) {
                return false;
            }
        }
        // U+FEFF: EF BB BF.
        if c == 0xef && i + 2 < b.len() && b[i + 1] == 0xbb && b[i + 2] == 0xbf {
            return false;
        }
        i += 1;
    }
    true
}

/// `/` followed by `[A-Za-z0-9/._+@-]`, no `..` component, at most 255 characters.
pub const fn is_abs_path(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b[0] == b'/' && b.len() <= 255 && path_bytes_ok(b)
}

/// A pip requirement such as `numpy==2.1`, `rich>=13,<14` or `uvicorn[standard]`: a letter or
/// digit, then letters, digits and `._-[],=<>!~+*`, at most 200 characters. No white space,
/// quote, `\\`, `$` or `;`, so it is one word inside single quotes.
pub const fn is_pip_requirement(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 200 || !b[0].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'.' | b'_' | b'-' | b'[' | b']' | b',' | b'=' | b'<' | b'>' | b'!' | b'~' | b'+' | b'*'
            ))
        {
            return false;
        }
        i += 1;
    }
    true
}

/// A relative path: `[A-Za-z0-9/._+@-]`, not starting with `/`, no `..` component.
pub const fn is_rel_path(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b[0] != b'/' && b.len() <= 255 && path_bytes_ok(b)
}

const fn path_bytes_ok(b: &[u8]) -> bool {
    let mut i = 0;
    let mut component_start = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b'/' {
            if i - component_start == 2 && b[component_start] == b'.' && b[component_start + 1] == b'.' {
                return false;
            }
            component_start = i + 1;
        } else if !is_path_byte(b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `path` is `/opt/quarry/<name>` or below it.
pub const fn is_artifact_of(path: &str, name: &str) -> bool {
    let (p, n) = (path.as_bytes(), name.as_bytes());
    let root = b"/opt/quarry/";
    if !starts_with(p, root) || p.len() < root.len() + n.len() {
        return false;
    }
    let mut i = 0;
    while i < n.len() {
        if p[root.len() + i] != n[i] {
            return false;
        }
        i += 1;
    }
    p.len() == root.len() + n.len() || p[root.len() + n.len()] == b'/'
}

/// `https://` followed by URL characters without white space, quotes or shell metacharacters.
pub const fn is_https_url(s: &str) -> bool {
    is_url_with(s, b"https://")
}

/// A URL template of a download: `https://` (or `http://` where tests allow it), then no white
/// space, quotes, `\\`, `$` or backquote (`{{ options.* }}` is filled in, and the result checked
/// by [`is_https_url`], at render time).
pub const fn is_url_template(s: &str, allow_http: bool) -> bool {
    let b = s.as_bytes();
    let rest = if starts_with(b, b"https://") {
        8
    } else if allow_http && starts_with(b, b"http://") {
        7
    } else {
        return false;
    };
    if b.len() == rest || b.len() > 2048 {
        return false;
    }
    let mut i = rest;
    let mut depth = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
        }
        let bad = matches!(c, b'\'' | b'"' | b'\\' | b'$' | b'`' | b'\n' | b'\r' | b'\t')
            || (c == b' ' && depth == 0);
        if bad {
            return false;
        }
        i += 1;
    }
    true
}

/// `http://` followed by the characters [`is_https_url`] allows: only for downloads of tests.
pub const fn is_http_url(s: &str) -> bool {
    is_url_with(s, b"http://")
}

/// `prefix` followed by 1 to 2048 bytes of `[A-Za-z0-9/._~:%+=@-]`: no white space, quotes, `$`
/// or `\\`, so the URL is one shell word and one Dockerfile token.
const fn is_url_with(s: &str, prefix: &[u8]) -> bool {
    let b = s.as_bytes();
    if !starts_with(b, prefix) || b.len() == prefix.len() || b.len() > 2048 {
        return false;
    }
    let mut i = prefix.len();
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphanumeric()
            || matches!(c, b'/' | b'.' | b'_' | b'-' | b'~' | b':' | b'%' | b'+' | b'=' | b'@');
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// 64 lowercase hex digits.
pub const fn is_sha256(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 64 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'0'..=b'9' | b'a'..=b'f') {
            return false;
        }
        i += 1;
    }
    true
}

/// An archive member pattern: letters, digits, `.`, `_`, `-`, `+`, `/` and `*`, not empty, not
/// absolute, without `..`, and its last part a plain name (it names the extracted file).
pub const fn is_member_pattern(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b[0] == b'/' || b[b.len() - 1] == b'/' || b.len() > 255 {
        return false;
    }
    let mut i = 0;
    let mut last_slash = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b'/' | b'*')) {
            return false;
        }
        if c == b'.' && i + 1 < b.len() && b[i + 1] == b'.' {
            return false;
        }
        if c == b'/' {
            last_slash = i + 1;
        }
        i += 1;
    }
    let mut j = last_slash;
    while j < b.len() {
        if b[j] == b'*' {
            return false;
        }
        j += 1;
    }
    true
}

/// An octal file mode: three or four digits 0-7 (`755`, `0755`).
pub const fn is_file_mode(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 3 && b.len() != 4 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'0'..=b'7') {
            return false;
        }
        i += 1;
    }
    true
}

/// A whole number that fits in `u32`.
pub const fn is_uint(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 10 || (b.len() > 1 && b[0] == b'0') {
        return false;
    }
    let mut value: u64 = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return false;
        }
        value = value * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    value <= u32::MAX as u64
}

/// See [`Rule::UserId`].
pub const fn is_user_id(s: &str) -> bool {
    is_uint(s) && !str_eq(s, "0") && !str_eq(s, "65534") && !str_eq(s, "4294967295")
}

/// A container image reference: `[host[:port]/]path[:tag][@sha256:<64 hex>]`.
///
/// Path components are lowercase alphanumerics separated by `.`, `_` or `-`; the tag is
/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. At most 255 characters.
pub const fn is_image_ref(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 255 {
        return false;
    }
    // Split off the digest.
    let mut end = b.len();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'@' {
            if !is_sha256_digest(b, i + 1) {
                return false;
            }
            end = i;
            break;
        }
        i += 1;
    }
    // The tag starts at the last `:` after the last `/`.
    let mut last_slash = None;
    let mut i = 0;
    while i < end {
        if b[i] == b'/' {
            last_slash = Some(i);
        }
        i += 1;
    }
    let name_start_of_last = match last_slash {
        Some(p) => p + 1,
        None => 0,
    };
    let mut name_end = end;
    let mut i = name_start_of_last;
    while i < end {
        if b[i] == b':' {
            if !is_tag(b, i + 1, end) {
                return false;
            }
            name_end = i;
            break;
        }
        i += 1;
    }
    if name_end == 0 {
        return false;
    }
    // Components of the name.
    let mut start = 0;
    let mut first = true;
    let mut i = 0;
    while i <= name_end {
        if i == name_end || b[i] == b'/' {
            let is_domain = first && i != name_end && looks_like_domain(b, start, i);
            let ok =
                if is_domain { is_domain_component(b, start, i) } else { is_path_component(b, start, i) };
            if !ok {
                return false;
            }
            first = false;
            start = i + 1;
        }
        i += 1;
    }
    true
}

const fn is_sha256_digest(b: &[u8], start: usize) -> bool {
    let prefix = b"sha256:";
    if b.len() != start + prefix.len() + 64 {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if b[start + i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    let mut i = start + prefix.len();
    while i < b.len() {
        if !(b[i].is_ascii_digit() || (b[i] >= b'a' && b[i] <= b'f')) {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_tag(b: &[u8], start: usize, end: usize) -> bool {
    if start >= end || end - start > 128 || !(b[start].is_ascii_alphanumeric() || b[start] == b'_') {
        return false;
    }
    let mut i = start;
    while i < end {
        if !(b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' || b[i] == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

const fn looks_like_domain(b: &[u8], start: usize, end: usize) -> bool {
    if end - start == 9 && starts_with_at(b, start, b"localhost") {
        return true;
    }
    let mut i = start;
    while i < end {
        if b[i] == b'.' || b[i] == b':' || b[i].is_ascii_uppercase() {
            return true;
        }
        i += 1;
    }
    false
}

const fn starts_with_at(b: &[u8], start: usize, prefix: &[u8]) -> bool {
    let mut i = 0;
    while i < prefix.len() {
        if start + i >= b.len() || b[start + i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Docker's `domain`: a host, then an optional `:port` (1 to 65535). The host is dot-separated
/// labels of letters, digits and inner `-` (no empty label: `ghcr..io` is not one), or an IPv6
/// address in brackets (`[::1]`).
const fn is_domain_component(b: &[u8], start: usize, end: usize) -> bool {
    if start >= end {
        return false;
    }
    // Where the host ends: after `]` for IPv6, else at the first `:`.
    let mut host_end = start;
    if b[start] == b'[' {
        let mut i = start + 1;
        while i < end && b[i] != b']' {
            if !(b[i].is_ascii_hexdigit() || b[i] == b':') {
                return false;
            }
            i += 1;
        }
        if i == end || i == start + 1 {
            return false;
        }
        host_end = i + 1;
    } else {
        let mut label_start = start;
        while host_end < end && b[host_end] != b':' {
            let c = b[host_end];
            if c == b'.' {
                if !is_host_label(b, label_start, host_end) {
                    return false;
                }
                label_start = host_end + 1;
            } else if !(c.is_ascii_alphanumeric() || c == b'-') {
                return false;
            }
            host_end += 1;
        }
        if !is_host_label(b, label_start, host_end) {
            return false;
        }
    }
    if host_end == end {
        return true;
    }
    b[host_end] == b':' && is_port_number(b, host_end + 1, end)
}

/// One label of a host name: letters and digits, `-` only inside.
const fn is_host_label(b: &[u8], start: usize, end: usize) -> bool {
    start < end && b[start].is_ascii_alphanumeric() && b[end - 1].is_ascii_alphanumeric()
}

const fn is_path_component(b: &[u8], start: usize, end: usize) -> bool {
    if start >= end || !is_lower_alnum(b[start]) || !is_lower_alnum(b[end - 1]) {
        return false;
    }
    let mut i = start;
    while i < end {
        let c = b[i];
        if c == b'.' && b[i - 1] == b'.' {
            return false;
        }
        if !(is_lower_alnum(c) || c == b'.' || c == b'_' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// A check on each string of a value, with the diagnostic rule it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A snake_case name (`snake-case-name`).
    SnakeCase,
    /// An image reference (`image-reference`).
    Image,
    /// An absolute path (`abs-path`).
    AbsPath,
    /// A path relative to the extension's folder, without `..` (`rel-path`).
    RelPath,
    /// An `https://` URL (`https-url`).
    HttpsUrl,
    /// A long flag name without `--` (`flag-name`).
    FlagName,
    /// Text of one line, shown in `quarry show` and Dockerfile comments (`one-line-text`).
    OneLine,
}

impl Check {
    /// Whether `value` passes.
    pub const fn accepts(self, value: &str) -> bool {
        match self {
            Check::SnakeCase => is_snake_case(value),
            Check::Image => is_image_ref(value),
            Check::AbsPath => is_abs_path(value),
            Check::RelPath => is_rel_path(value),
            Check::HttpsUrl => is_https_url(value),
            Check::FlagName => is_flag_name(value),
            Check::OneLine => is_one_line_text(value),
        }
    }

    /// The rule a diagnostic names.
    pub const fn rule(self) -> &'static str {
        match self {
            Check::SnakeCase => "snake-case-name",
            Check::Image => "image-reference",
            Check::AbsPath => "abs-path",
            Check::RelPath => "rel-path",
            Check::HttpsUrl => "https-url",
            Check::FlagName => "flag-name",
            Check::OneLine => "one-line-text",
        }
    }

    /// What a passing value looks like, completing "`value` is not ...".
    pub const fn expectation(self) -> &'static str {
        match self {
            Check::SnakeCase => {
                "a snake_case name: lowercase letters, digits and single `_`, starting with a letter"
            }
            Check::Image => "an image reference: write it like `ubuntu:22.04`",
            Check::AbsPath => "an absolute path without white space, quotes or `..`",
            Check::RelPath => "a path relative to the extension's folder, without `..`",
            Check::HttpsUrl => "an https:// URL without spaces or shell characters",
            Check::FlagName => {
                "a flag name: lowercase letters, digits and single `-`, without the leading `--`"
            }
            Check::OneLine => {
                "one line of text: at most 400 bytes, no newline, tab, escape sequence or other control character"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "ubuntu",
            "ubuntu:24.04",
            "library/ubuntu:22.04",
            "ghcr.io/prefix-dev/pixi:0.40.0",
            "localhost:5000/my_team/img-x",
            "localhost/img",
            "registry.example.com:443/a/b/c:v1.2_3",
            "debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "quarry-test/busybox:latest",
            "[::1]:5000/c",
            "[fe80::1]/a:b",
            "127.0.0.1:5000/c",
        ] {
            assert!(is_image_ref(ok), "{ok} should be accepted");
        }
        for bad in [
            "",
            "Ubuntu",
            "ubuntu:",
            ":latest",
            "ubuntu:24.04\nRUN rm -rf /",
            "ubuntu 24.04",
            "ubuntu:-x",
            "a//b",
            "a/../b",
            "ubuntu@sha256:abc",
            "-leading",
            "trailing-",
            "ubuntu:24.04 AS evil",
            "ubuntu:24.04\\",
            // Docker's host grammar: no empty label, no `-` at a label's edge, ports 1 to 65535.
            "ghcr..io/x",
            ".ghcr.io/x",
            "ghcr-.io/x",
            "ghcr.io:99999/x",
            "ghcr.io:/x",
            "[::1/x",
            "[]:5000/x",
            "[g::1]/x",
        ] {
            assert!(!is_image_ref(bad), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn versions_reject_injection() {
        assert!(is_version("1.83.0"));
        assert!(is_version("nightly-2024-05-01"));
        assert!(is_version("v0.8"));
        for bad in ["", "1.0 && rm", "1.0\nRUN x", "1.0\\", "-1", "1;2", "$(id)", "a'b"] {
            assert!(!is_version(bad), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn names_and_paths() {
        assert!(is_snake_case("ros_jazzy"));
        assert!(!is_snake_case("Ros"));
        assert!(!is_snake_case("ros__jazzy"));
        assert!(!is_snake_case("ros_"));
        assert!(!is_snake_case("1ros"));
        assert!(is_apt_package("libstdc++-dev"));
        assert!(!is_apt_package("a"));
        assert!(!is_apt_package("Foo"));
        assert!(is_abs_path("/opt/quarry/cargo"));
        assert!(!is_abs_path("/opt/../etc"));
        assert!(!is_abs_path("opt"));
        assert!(!is_abs_path("/opt/x y"));
        assert!(is_abs_path("/home/me/repo@main"), "rockerc's worktree folders");
        assert!(is_rel_path("files/entry.sh"));
        assert!(is_pip_requirement("numpy==2.1") && is_pip_requirement("rich>=13,<14"));
        assert!(is_pip_requirement("uvicorn[standard]"));
        assert!(
            !is_pip_requirement("x; rm -rf /") && !is_pip_requirement("a'b") && !is_pip_requirement("-e")
        );
        assert!(!is_rel_path("../x"));
        assert!(is_artifact_of("/opt/quarry/cargo", "cargo"));
        assert!(is_artifact_of("/opt/quarry/cargo/bin", "cargo"));
        assert!(!is_artifact_of("/opt/quarry/cargox", "cargo"));
        assert!(!is_artifact_of("/opt/quarry", "cargo"));
        assert!(is_uint("0") && is_uint("4294967295"));
        assert!(!is_uint("4294967296") && !is_uint("01") && !is_uint("-1"));
        assert!(is_user_name("dev-user") && !is_user_name("Dev"));
        assert!(is_https_url("https://example.org/key.asc"));
        assert!(!is_https_url("http://example.org/key.asc"));
        assert!(is_decimal("1.5") && is_decimal("2") && !is_decimal("1.") && !is_decimal(".5"));
        assert!(is_file_name("package.xml") && is_file_name("COLCON_IGNORE"));
        assert!(!is_file_name("a/b") && !is_file_name("..") && !is_file_name("a b"));
        assert!(!is_decimal("1.5.2") && !is_decimal("x"));
        assert!(is_size("1gb") && is_size("512MB") && is_size("2g") && !is_size("1bb") && !is_size("1gg"));
        assert!(is_key_fingerprint("C1CF6E31E6BADE8868B172B4F42ED6FBAB17C654"));
        assert!(!is_key_fingerprint("C1CF 6E31") && !is_key_fingerprint("F42ED6FBAB17C654"));
        assert!(Rule::Url.accepts("http://mirror.example.org/ros2/ubuntu"));
        assert!(!Rule::Url.accepts("ftp://x") && !Rule::Url.accepts("http://a b"));
        assert!(is_templated_apt_package("cuda-toolkit-{{ options.version | replace('.', '-') }}"));
        assert!(!is_templated_apt_package("cuda-toolkit-(x)"));
        assert!(!is_https_url("https://example.org/key.asc; rm -rf /"));
    }

    #[test]
    fn user_ids_spare_root_and_nobody() {
        assert!(is_user_id("1") && is_user_id("1000") && is_user_id("4294967294"));
        assert!(!is_user_id("0") && !is_user_id("65534") && !is_user_id("4294967295"));
        assert!(!is_user_id("-1") && !is_user_id("01000") && !is_user_id(""));
        assert!(Rule::UserId.expectation().contains("not 0 or 65534"));
    }

    #[test]
    fn run_values() {
        assert!(is_arg("/data:/data:ro") && is_arg("NAME=value") && is_arg("$HOME/x:/x"));
        assert!(!is_arg("a b") && !is_arg("") && !is_arg("a\nb") && !is_arg("a'b"));
        assert!(is_size("2g") && is_size("512m") && is_size("1024"));
        assert!(!is_size("g") && !is_size("2gg") && !is_size("2bb") && !is_size("-1"));
        assert!(is_size("2gb") && is_size("300MB"), "rocker's and Docker's spellings");
        assert!(is_port("8080:80") && is_port("80") && is_port("127.0.0.1:8080:80") && is_port("53:53/udp"));
        assert!(!is_port("80/sctp") && !is_port("a:80") && !is_port("") && !is_port("1:2:3:4"));
        // Ports are 1 to 65535.
        assert!(is_port("65535:65535/tcp") && is_port("10.0.0.1:1:1"));
        assert!(!is_port("65536:80") && !is_port("80:99999") && !is_port("0") && !is_port("8080:80.5"));
        assert!(!is_port("1.2.3.4:80") && !is_port(":80") && !is_port("80:") && !is_port("1.2.3.4::80"));
    }

    #[test]
    fn time_zones_and_locales() {
        for ok in ["Etc/UTC", "UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+3"] {
            assert!(is_timezone(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "Europe/../etc", "Europe/Paris;id", "Europe//Paris", "Europe/", "a b"]
        {
            assert!(!is_timezone(bad), "{bad:?}");
        }
        for ok in ["en_US.UTF-8", "de_DE.UTF-8", "C.UTF-8", "sr_RS.UTF-8@latin"] {
            assert!(is_locale(ok), "{ok}");
        }
        for bad in ["en_US", "", "en_US.", "en_US.UTF-8;id", "en US.UTF-8", "en_US.UTF-8@"] {
            assert!(!is_locale(bad), "{bad:?}");
        }
    }

    #[test]
    fn rust_toolchains_as_rustup_names_them() {
        for ok in [
            "stable",
            "beta",
            "nightly",
            "1.95",
            "1.95.0",
            "1.0.0",
            "1.83.0-beta",
            "1.83.0-beta.5",
            "nightly-2026-01-01",
            "beta-2025-12-31",
            "stable-x86_64-unknown-linux-gnu",
            "nightly-2026-01-01-aarch64-unknown-linux-gnu",
            "1.95.0-x86_64-unknown-linux-gnu",
            "1.95-beta.2-2026-01-01",
            "stable-armv7-unknown-linux-gnueabihf",
        ] {
            assert!(is_rust_toolchain(ok), "{ok}");
            assert!(Rule::RustToolchain.accepts(ok), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "none",
            "1",
            "v1.95.0",
            "01.95",
            "1.95.0.1",
            "1.95.",
            "stable-",
            "stablex",
            "nightly-2026-1-1",
            "nightly-2026-13-01",
            "nightly-2026-01-00",
            "nightly-2026-01-01x",
            "stable-latest",
            "stable-x86_64",
            "stable-x86_64-unknown-linux-gnu-extra-part",
            "stable-X86_64-unknown-linux-gnu",
            "1.95.0-beta.",
            "1.95.0-rc1",
            "stable;id",
            "nightly-2026-01-01 ",
        ] {
            assert!(!is_rust_toolchain(bad), "{bad:?}");
        }
        assert_eq!(Rule::from_key("rust_toolchain"), Some(Rule::RustToolchain));
    }

    #[test]
    fn one_of() {
        let rule = Rule::OneOf(&["ros-base", "desktop"]);
        assert!(rule.accepts("desktop"));
        assert!(!rule.accepts("desk"));
        assert_eq!(rule.expectation(), "one of `ros-base`, `desktop`");
    }
}
