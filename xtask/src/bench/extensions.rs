//! The benchmark's own extensions: `static` data in the shape of real ones, put in a registry of
//! their own (never registered with `inventory`, so the `quarry` binary never sees them).
//!
//! Every step does real work with Debian packages (apt in builders and in the final stage) or
//! local computation (C compiled with gcc and run, data generated and compressed, Python
//! byte-compiled); nothing is downloaded from anywhere but the Debian mirror. Builders write
//! byte-reproducible artifacts (no timestamps: `gzip -n`, `xz`, checked-hash `.pyc`), so a builder
//! that runs again on unchanged input gives a cache hit to the copy downstream.

use std::sync::OnceLock;

use quarry_core::{Artifact, Builder, ContextFile, Extension, OptionSpec, Registry, Rule, RunSpec, Template};

/// A benchmark extension and what its builder uses of the shared builder base
/// (`quarry_core::BUILDER_BASE_TOOLS` and what they pull in, such as gcc from build-essential):
/// the layouts without the shared base install these in the builder itself.
#[derive(Debug, Clone, Copy)]
pub struct BenchExtension {
    /// The extension as quarry renders it.
    pub extension: Extension,
    /// Packages of the shared base the builder uses.
    pub builder_tools: &'static [&'static str],
}

/// The ten extensions of the benchmark's configuration and the one scenario A adds.
pub static ALL: [BenchExtension; 11] =
    [SHELL, TLS, PYTHON, LOCALE, PRIMES, JSONTOOLS, KVSTORE, MANDEL, EDITOR, PYLIB, USER];

/// The extension scenario A adds.
pub const ADDED: &str = "jsontools";
/// The extension scenario E removes.
pub const REMOVED: &str = "locale";
/// The extension whose `version` option scenario C bumps, and the two versions.
pub const BUMPED: (&str, &str, &str) = ("kvstore", "2.3.0", "2.4.0");

/// The registry quarry renders with: the extensions as they are.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Registry::from_extensions(ALL.iter().map(|b| &b.extension)).expect("bench extension names are unique")
    })
}

/// The same extensions without the shared builder base: each builder starts from its bare base
/// image and installs the tools it uses itself, before its own packages.
pub fn registry_without_shared_base() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(without_shared_base)
}

/// Built once (the changed extensions are leaked to be `'static`, as registrations are).
fn without_shared_base() -> Registry {
    let list = ALL.iter().map(|b| {
        let mut e = b.extension;
        if let Some(builder) = &mut e.builder {
            builder.shared_base = false;
            let mut packages: Vec<&'static str> = b.builder_tools.to_vec();
            packages.extend(builder.apt_packages);
            builder.apt_packages = Vec::leak(packages);
        }
        &*Box::leak(Box::new(e))
    });
    Registry::from_extensions(list).expect("bench extension names are unique")
}

const fn ext(name: &'static str, description: &'static str, cache_priority: u8) -> Extension {
    Extension {
        name,
        crate_name: "xtask (benchmark)",
        description,
        depends_on: &[],
        cache_priority,
        builder_base_image: None,
        apt_packages: &[],
        apt_repositories: &[],
        builder: None,
        setup: None,
        user_setup: None,
        final_user: None,
        supported_images: &[],
        options: &[],
        files: &[],
        run: RunSpec::EMPTY,
    }
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
        shared_base: true,
        apt_packages,
        template: Template { file: "builder.Dockerfile.j2", source },
        artifacts,
    })
}

const fn file(path: &'static str, contents: &'static [u8]) -> ContextFile {
    ContextFile { path, contents, executable: false }
}

macro_rules! checked {
    ($value:expr) => {{
        const CHECKED: Extension = $value;
        const _: () = CHECKED.check();
        CHECKED
    }};
}

/// Shell comforts: final-stage packages only, changes rarely.
const SHELL: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        apt_packages: &["bash-completion", "file", "less"],
        ..ext("shell", "Interactive shell comforts", 95)
    }),
    builder_tools: &[],
};

/// TLS: packages, and a setup step that rebuilds the certificate store.
const TLS: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        apt_packages: &["ca-certificates", "openssl"],
        setup: setup("RUN update-ca-certificates --fresh >/dev/null && openssl rehash /etc/ssl/certs\n"),
        ..ext("tls", "CA certificates and openssl", 90)
    }),
    builder_tools: &[],
};

/// A Python interpreter in the final image.
const PYTHON: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        apt_packages: &["python3-minimal"],
        ..ext("python", "Python 3 interpreter", 80)
    }),
    builder_tools: &[],
};

/// A locale compiled from source by `localedef` in a setup step.
const LOCALE: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        apt_packages: &["locales"],
        setup: setup("RUN localedef -i en_US -f UTF-8 en_US.UTF-8\nENV LANG=en_US.UTF-8\n"),
        ..ext("locale", "The en_US.UTF-8 locale", 70)
    }),
    builder_tools: &[],
};

/// A builder only: compiles a sieve, runs it to 5*10^7 and compresses its output with xz.
const PRIMES: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        builder: builder(
            &[],
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
    }),
    builder_tools: &["gcc", "libc6-dev", "xz-utils"],
};

/// Scenario A's addition: a builder (a generator compiled and run), a final-stage package and
/// a setup step that reads the artifact with it.
const JSONTOOLS: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        apt_packages: &["jq"],
        builder: builder(
            &[],
            r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/share; \
    gcc -O2 -o {{ out }}/bin/jsongen /src/{{ name }}/jsongen.c; \
    {{ out }}/bin/jsongen 300000 | gzip -6 -n > {{ out }}/share/records.json.gz
"#,
            &[Artifact { source: "/opt/quarry/jsontools", dest: "/opt/quarry/jsontools" }],
        ),
        setup: setup("RUN zcat {{ out }}/share/records.json.gz | jq -e 'length == 300000' >/dev/null\n",),
        files: &[file("jsongen.c", include_bytes!("files/jsongen.c"))],
        ..ext("jsontools", "jq and a generated JSON data set", 55)
    }),
    builder_tools: &["gcc", "libc6-dev"],
};

const KVSTORE_OPTIONS: &[OptionSpec] = &[OptionSpec {
    name: "version",
    description: "Version compiled into the library, the tool and the data file",
    default: BUMPED.1,
    rule: Rule::Version,
    required: false,
    from_host: None,
}];

/// A versioned shared library and tool (the version is compiled in, so a bump changes the
/// bytes), and a setup step that registers the library with the dynamic linker.
const KVSTORE: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        builder: builder(
            &[],
            r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/lib {{ out }}/share; \
    gcc -O2 -fPIC -shared -Wl,-soname,libkv.so.2 -DKV_VERSION='"{{ options.version }}"' \
      -o {{ out }}/lib/libkv.so.2 /src/{{ name }}/libkv.c; \
    ln -s libkv.so.2 {{ out }}/lib/libkv.so; \
    gcc -O2 -o {{ out }}/bin/kvtool /src/{{ name }}/kvtool.c -L{{ out }}/lib -lkv; \
    LD_LIBRARY_PATH={{ out }}/lib {{ out }}/bin/kvtool build 400000 /tmp/sample.kv; \
    gzip -6 -n -c /tmp/sample.kv > {{ out }}/share/sample.kv.gz; \
    rm /tmp/sample.kv
"#,
            &[Artifact { source: "/opt/quarry/kvstore", dest: "/opt/quarry/kvstore" }],
        ),
        setup: setup(
            "ENV PATH=/opt/quarry/kvstore/bin:$PATH\nRUN echo {{ out }}/lib > /etc/ld.so.conf.d/kvstore.conf && ldconfig && kvtool --version\n",
        ),
        options: KVSTORE_OPTIONS,
        files: &[
            file("kv.h", include_bytes!("files/kv.h")),
            file("kvtool.c", include_bytes!("files/kvtool.c")),
            file("libkv.c", include_bytes!("files/libkv.c")),
        ],
        ..ext("kvstore", "A versioned key-value library and tool", 50)
    }),
    builder_tools: &["gcc", "libc6-dev"],
};

/// A builder that renders an image, and a setup step that links the tool onto PATH.
const MANDEL: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        builder: builder(
            &[],
            r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    mkdir -p {{ out }}/bin {{ out }}/share; \
    gcc -O2 -o {{ out }}/bin/mandel /src/{{ name }}/mandel.c; \
    {{ out }}/bin/mandel 1600 1200 1000 | gzip -9 -n > {{ out }}/share/mandel.pgm.gz
"#,
            &[Artifact { source: "/opt/quarry/mandel", dest: "/opt/quarry/mandel" }],
        ),
        setup: setup("RUN ln -s {{ out }}/bin/mandel /usr/local/bin/mandel\n"),
        files: &[file("mandel.c", include_bytes!("files/mandel.c"))],
        ..ext("mandel", "A Mandelbrot renderer and one rendering", 45)
    }),
    builder_tools: &["gcc", "libc6-dev"],
};

/// An editor, made the system's default in a setup step.
const EDITOR: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        apt_packages: &["vim-tiny"],
        setup: setup("RUN update-alternatives --set editor /usr/bin/vim.tiny\n"),
        ..ext("editor", "vim-tiny as the default editor", 40)
    }),
    builder_tools: &[],
};

/// A generated Python package byte-compiled in its builder (checked-hash `.pyc`s are
/// reproducible); its setup step puts it on the path and imports every module.
const PYLIB: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        depends_on: &["python"],
        builder: builder(
            &["python3-minimal"],
            r#"COPY {{ context }}/ /src/{{ name }}/
RUN set -eux; \
    python3 /src/{{ name }}/gen.py {{ out }}/benchlib 150; \
    python3 -m compileall -q --invalidation-mode checked-hash {{ out }}
"#,
            &[Artifact { source: "/opt/quarry/pylib", dest: "/opt/quarry/pylib" }],
        ),
        setup: setup(
            "RUN mkdir -p /usr/lib/python3/dist-packages \\\n && echo {{ out }} > /usr/lib/python3/dist-packages/benchlib.pth \\\n && python3 -c 'import benchlib; benchlib.selftest()'\n",
        ),
        files: &[file("gen.py", include_bytes!("files/gen.py"))],
        ..ext("pylib", "A generated, byte-compiled Python package", 30)
    }),
    builder_tools: &[],
};

/// The image's user: created in setup, set as the final user, with a user setup step.
const USER: BenchExtension = BenchExtension {
    extension: checked!(Extension {
        depends_on: &["shell"],
        setup: setup("RUN useradd --uid 1000 --create-home --shell /bin/bash bench\n"),
        final_user: Some("bench"),
        user_setup: Some(Template {
            file: "user_setup.Dockerfile.j2",
            source: "RUN echo '. /usr/share/bash-completion/bash_completion' >> \"$HOME/.bashrc\"\nWORKDIR /home/bench\n",
        }),
        ..ext("user", "A non-root user, bench", 10)
    }),
    builder_tools: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_priorities_are_distinct_and_every_builder_says_what_it_needs() {
        let mut names: Vec<&str> = ALL.iter().map(|b| b.extension.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        let mut priorities: Vec<u8> = ALL.iter().map(|b| b.extension.cache_priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        assert_eq!(priorities.len(), ALL.len(), "distinct priorities keep the order obvious");
        // build-essential brings these.
        let essential = ["gcc", "g++", "libc6-dev", "make", "dpkg-dev"];
        for b in &ALL {
            for tool in b.builder_tools {
                assert!(
                    quarry_core::BUILDER_BASE_TOOLS.contains(tool) || essential.contains(tool),
                    "{}: {tool}",
                    b.extension.name
                );
            }
            assert_eq!(b.extension.builder.is_some(), !b.extension.files.is_empty(), "{}", b.extension.name);
        }
        for name in [ADDED, REMOVED, BUMPED.0] {
            assert!(ALL.iter().any(|b| b.extension.name == name), "{name}");
        }
    }

    #[test]
    fn without_the_shared_base_builders_install_their_tools() {
        let reg = registry_without_shared_base();
        let primes = reg.get("primes").unwrap().builder.unwrap();
        assert!(!primes.shared_base);
        assert_eq!(primes.apt_packages, ["gcc", "libc6-dev", "xz-utils"]);
        let pylib = reg.get("pylib").unwrap().builder.unwrap();
        assert_eq!(pylib.apt_packages, ["python3-minimal"]);
    }
}
