//! The benchmark's own extensions: `static` data in the shape of real ones, put in a registry of
//! their own (never registered with `inventory`, so the `quarry` binary never sees them).
//!
//! Every step does real work with Debian packages (apt in builders and in the final stage) or
//! local computation (C compiled with gcc and run, data generated and compressed, Python
//! byte-compiled); nothing is downloaded from anywhere but the Debian mirror. Builders write
//! byte-reproducible artifacts (no timestamps: `gzip -n`, `xz`, checked-hash `.pyc`), so a builder
//! that runs again on unchanged input gives a cache hit to the copy downstream. They follow the
//! catalog's rules: setup steps need only apt packages, files arrive as files, environment as
//! `env` and shell start-up lines, and what checks an artifact runs in its builder.

use std::sync::OnceLock;

use quarry_core::{
    Artifact, Builder, BuilderFrom, CachePriority, ContextFile, Extension, OptionSpec, Registry, Rule, Shell,
    Template,
};

/// The ten extensions of the benchmark's configuration and the one scenario A adds.
pub static ALL: [Extension; 11] =
    [SHELL, TLS, PYTHON, LOCALE, PRIMES, JSONTOOLS, KVSTORE, MANDEL, EDITOR, PYLIB, USER];

/// The extension scenario A adds.
pub const ADDED: &str = "jsontools";
/// The extension scenario E removes.
pub const REMOVED: &str = "locale";
/// The extension whose `version` option scenario C bumps, and the two versions.
pub const BUMPED: (&str, &str, &str) = ("kvstore", "2.3.0", "2.4.0");

/// The registry quarry renders with.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::from_extensions(ALL.iter()).expect("bench extension names are unique"))
}

const fn ext(name: &'static str, description: &'static str, cache_priority: u8) -> Extension {
    let cache_priority = CachePriority::of(cache_priority);
    Extension { name, crate_name: "xtask (benchmark)", description, cache_priority, ..Extension::EMPTY }
}

const fn setup(source: &'static str) -> Option<Template> {
    Some(Template { file: "setup.Dockerfile.j2", source })
}

const fn builder(
    apt_packages: &'static [&'static str],
    source: &'static str,
    artifacts: &'static [Artifact],
) -> Option<Builder> {
    Some(Builder {
        from: BuilderFrom::BaseImage,
        apt_packages,
        downloads: &[],
        template: Template { file: "builder.Dockerfile.j2", source },
        artifacts,
    })
}

const fn file(path: &'static str, contents: &'static [u8]) -> ContextFile {
    ContextFile { path, contents, executable: false, dest: None }
}

macro_rules! checked {
    ($value:expr) => {{
        const CHECKED: Extension = $value;
        const _: () = CHECKED.check();
        CHECKED
    }};
}

/// Shell comforts: final-stage packages only, changes rarely.
const SHELL: Extension = checked!(Extension {
    apt_packages: &["bash-completion", "file", "less"],
    ..ext("shell", "Interactive shell comforts", 95)
});

/// TLS: packages, and a setup step that rebuilds the certificate store.
const TLS: Extension = checked!(Extension {
    apt_packages: &["ca-certificates", "openssl"],
    setup: setup("RUN update-ca-certificates --fresh >/dev/null && openssl rehash /etc/ssl/certs\n"),
    ..ext("tls", "CA certificates and openssl", 90)
});

/// A Python interpreter in the final image.
const PYTHON: Extension =
    checked!(Extension { apt_packages: &["python3-minimal"], ..ext("python", "Python 3 interpreter", 80) });

/// A locale compiled from source by `localedef` in a setup step.
const LOCALE: Extension = checked!(Extension {
    apt_packages: &["locales"],
    setup: setup("RUN localedef -i en_US -f UTF-8 en_US.UTF-8\n"),
    env: &["LANG=en_US.UTF-8"],
    ..ext("locale", "The en_US.UTF-8 locale", 70)
});

/// A builder only: compiles a sieve, runs it to 5*10^7 and compresses its output with xz.
const PRIMES: Extension = checked!(Extension {
    builder: builder(
        &["gcc", "libc6-dev", "xz-utils"],
        r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/share; \
    gcc -O2 -o {{ out }}/bin/primes /src/{{ name }}/primes.c; \
    {{ out }}/bin/primes 50000000 > /tmp/gaps.bin; \
    xz -T1 -6 -c /tmp/gaps.bin > {{ out }}/share/prime-gaps.xz; \
    rm /tmp/gaps.bin
"#,
        &[Artifact { source: "/opt/quarry/primes", dest: "/opt/quarry/primes" }],
    ),
    files: &[file("primes.c", include_bytes!("files/primes.c"))],
    ..ext("primes", "Prime gaps up to 5*10^7, computed at build time", 60)
});

/// Scenario A's addition: a builder (a generator compiled and run, its output counted there) and
/// a final-stage package. Its builder uses the same tools as the other C builders (gcc,
/// libc6-dev), so their identical apt step is one vertex and the addition does not install a
/// compiler again; a builder with a tool set of its own pays for that install once.
const JSONTOOLS: Extension = checked!(Extension {
    apt_packages: &["jq"],
    builder: builder(
        &["gcc", "libc6-dev"],
        r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/share; \
    gcc -O2 -o {{ out }}/bin/jsongen /src/{{ name }}/jsongen.c; \
    {{ out }}/bin/jsongen 300000 | gzip -6 -n > {{ out }}/share/records.json.gz; \
    test "$(zcat {{ out }}/share/records.json.gz | grep -o '"id":' | wc -l)" = 300000
"#,
        &[Artifact { source: "/opt/quarry/jsontools", dest: "/opt/quarry/jsontools" }],
    ),
    files: &[file("jsongen.c", include_bytes!("files/jsongen.c"))],
    ..ext("jsontools", "jq and a generated JSON data set", 55)
});

const KVSTORE_OPTIONS: &[OptionSpec] = &[OptionSpec::new(
    "version",
    "Version compiled into the library, the tool and the data file",
    BUMPED.1,
    Rule::Version,
)];

/// A versioned shared library and tool (the version is compiled in, so a bump changes the
/// bytes); the tool finds the library through its run path, so no setup step registers it.
const KVSTORE: Extension = checked!(Extension {
    builder: builder(
        &["gcc", "libc6-dev"],
        r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/lib {{ out }}/share; \
    gcc -O2 -fPIC -shared -Wl,-soname,libkv.so.2 -DKV_VERSION='"{{ options.version }}"' \
      -o {{ out }}/lib/libkv.so.2 /src/{{ name }}/libkv.c; \
    ln -s libkv.so.2 {{ out }}/lib/libkv.so; \
    gcc -O2 -o {{ out }}/bin/kvtool /src/{{ name }}/kvtool.c -L{{ out }}/lib -Wl,-rpath,{{ out }}/lib -lkv; \
    {{ out }}/bin/kvtool --version; \
    {{ out }}/bin/kvtool build 400000 /tmp/sample.kv; \
    gzip -6 -n -c /tmp/sample.kv > {{ out }}/share/sample.kv.gz; \
    rm /tmp/sample.kv
"#,
        &[Artifact { source: "/opt/quarry/kvstore", dest: "/opt/quarry/kvstore" }],
    ),
    env: &["PATH=/opt/quarry/kvstore/bin:$PATH"],
    options: KVSTORE_OPTIONS,
    files: &[
        file("kv.h", include_bytes!("files/kv.h")),
        file("kvtool.c", include_bytes!("files/kvtool.c")),
        file("libkv.c", include_bytes!("files/libkv.c")),
    ],
    ..ext("kvstore", "A versioned key-value library and tool", 50)
});

/// A builder that renders an image; its tool is copied onto PATH.
const MANDEL: Extension = checked!(Extension {
    builder: builder(
        &["gcc", "libc6-dev"],
        r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/share; \
    gcc -O2 -o {{ out }}/bin/mandel /src/{{ name }}/mandel.c; \
    {{ out }}/bin/mandel 1600 1200 1000 | gzip -9 -n > {{ out }}/share/mandel.pgm.gz
"#,
        &[
            Artifact { source: "/opt/quarry/mandel", dest: "/opt/quarry/mandel" },
            Artifact { source: "/opt/quarry/mandel/bin/mandel", dest: "/usr/local/bin/mandel" },
        ],
    ),
    files: &[file("mandel.c", include_bytes!("files/mandel.c"))],
    ..ext("mandel", "A Mandelbrot renderer and one rendering", 45)
});

/// An editor, made the system's default in a setup step.
const EDITOR: Extension = checked!(Extension {
    apt_packages: &["vim-tiny"],
    setup: setup("RUN update-alternatives --set editor /usr/bin/vim.tiny\n"),
    ..ext("editor", "vim-tiny as the default editor", 40)
});

/// A generated Python package byte-compiled and imported in its builder (checked-hash `.pyc`s are
/// reproducible); a `.pth` file puts it on the final image's path.
const PYLIB: Extension = checked!(Extension {
    depends_on: &["python"],
    builder: builder(
        &["python3-minimal"],
        r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    python3 /src/{{ name }}/gen.py {{ out }}/benchlib 150; \
    python3 -m compileall -q --invalidation-mode checked-hash {{ out }}; \
    python3 -c 'import sys; sys.path.insert(0, "{{ out }}"); import benchlib; benchlib.selftest()'
"#,
        &[Artifact { source: "/opt/quarry/pylib", dest: "/opt/quarry/pylib" }],
    ),
    files: &[
        file("gen.py", include_bytes!("files/gen.py")),
        ContextFile {
            path: "benchlib.pth",
            contents: b"/opt/quarry/pylib\n",
            executable: false,
            dest: Some("/usr/lib/python3/dist-packages/benchlib.pth"),
        },
    ],
    ..ext("pylib", "A generated, byte-compiled Python package", 30)
});

/// The image's user: created in setup, set as the final user, with bash completion in
/// interactive shells.
const USER: Extension = checked!(Extension {
    depends_on: &["shell"],
    setup: setup("RUN useradd --uid 1000 --create-home --shell /bin/bash bench\n"),
    final_user: Some("bench"),
    workdir: Some("/home/bench"),
    shell: Shell {
        init: None,
        interactive: Some(Template {
            file: "shell.interactive",
            source: "if [ -r /usr/share/bash-completion/bash_completion ]; then . /usr/share/bash-completion/bash_completion; fi",
        }),
    },
    ..ext("user", "A non-root user, bench", 10)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_priorities_are_distinct_and_every_builder_ships_its_sources() {
        let mut names: Vec<&str> = ALL.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        let mut priorities: Vec<u8> = ALL.iter().map(|e| e.cache_priority.get()).collect();
        priorities.sort_unstable();
        priorities.dedup();
        assert_eq!(priorities.len(), ALL.len(), "distinct priorities keep the order obvious");
        for e in &ALL {
            let sources = e.files.iter().filter(|f| f.dest.is_none()).count();
            assert_eq!(e.builder.is_some(), sources > 0, "{}", e.name);
            assert!(!e.setup_after_copies, "{}: the bench uses no exception", e.name);
        }
        for name in [ADDED, REMOVED, BUMPED.0] {
            assert!(ALL.iter().any(|e| e.name == name), "{name}");
        }
    }
}
