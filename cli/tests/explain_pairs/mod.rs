//! The old/new pairs `explain_engine.rs` builds on the engines: Dockerfiles (with `@T@`, the
//! run's token, and `@BB@`, the busybox image) and what explain must predict for each.

/// Two Dockerfiles, OLD built first, then NEW, and what explain predicts for NEW.
pub struct Pair {
    pub name: &'static str,
    pub old: &'static str,
    pub new: &'static str,
    pub old_args: &'static [&'static str],
    pub new_args: &'static [&'static str],
    /// Extra `quarry explain` arguments.
    pub explain: &'static [&'static str],
    /// Files of the build context.
    pub files: &'static [(&'static str, &'static str)],
    /// (reused, total) the prediction must give, as a check on the pair itself.
    pub expect: (usize, usize),
    /// Reused counting linked copies whose merges run, where that differs from `expect.0`.
    pub linked: Option<usize>,
    /// Images made on the engine first: (tag, `tag:SOURCE` for `docker tag`, or a Dockerfile).
    pub images: &'static [(&'static str, &'static str)],
}

impl Pair {
    /// No build arguments, explain arguments, files or images; `linked` as `expect`: the fields
    /// most pairs leave as they are (`Pair { name, old, new, expect, ..Pair::NONE }`).
    pub const NONE: Pair = Pair {
        name: "",
        old: "",
        new: "",
        old_args: &[],
        new_args: &[],
        explain: &[],
        files: &[],
        expect: (0, 0),
        linked: None,
        images: &[],
    };
}

/// The image `@BB@` stands for, made on each engine by `xtask/engine/images.sh`.
pub const BB: &str = "quarry-test/busybox:latest";

/// A build argument given with an empty value (`--build-arg X=`) against one not given, in every
/// shape of its declaration: the value is what the RUN environment holds, so an empty one is a
/// value, not nothing.
pub fn empty_arg_pairs() -> Vec<Pair> {
    let pair = |name, df: &'static str, old_args, new_args, explain, expect| Pair {
        name,
        old: df,
        new: df,
        old_args,
        new_args,
        explain,
        files: &[],
        expect,
        linked: None,
        images: &[],
    };
    vec![
        // Declared without a default: not given leaves it out of the environment; `X=` puts
        // `X=` in it.
        pair(
            "empty-arg-no-default",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\nRUN echo two\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 3),
        ),
        // Declared with a default: `X=` replaces it with the empty value.
        pair(
            "empty-arg-over-default",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X=1\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 2),
        ),
        // Declared with an empty default: given empty or not, the environment holds `X=`.
        pair(
            "empty-arg-empty-default",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X=\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (2, 2),
        ),
        // Given empty, then not given.
        pair(
            "empty-arg-then-none",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &["X="],
            &[],
            &["--old-build-arg", "X="],
            (1, 2),
        ),
        // Empty both times: the same.
        pair(
            "empty-arg-both",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &["X="],
            &["X="],
            &["--build-arg", "X="],
            (2, 2),
        ),
        // Global, declared again in the stage without a default: the stage takes the global's
        // value, empty or not given.
        pair(
            "empty-arg-global-redeclared",
            "ARG X\nFROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 2),
        ),
        // Global with a default, declared again: `X=` replaces the default there too.
        pair(
            "empty-arg-global-default-redeclared",
            "ARG X=1\nFROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 2),
        ),
        // Global only: never in a RUN's environment, empty or not.
        pair(
            "empty-arg-global-only",
            "ARG X\nFROM @BB@\nRUN echo @T@ > /t\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (2, 2),
        ),
    ]
}

/// The pairs both engines build.
pub fn pairs() -> Vec<Pair> {
    vec![
        Pair {
            name: "a-declared-arg",
            old: "FROM @BB@\nRUN echo @T@ > /t\nARG UNUSED=1\nCOPY f /f\nRUN cat /f\nRUN echo more\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nARG UNUSED=1\nCOPY f /f\nRUN cat /f\nRUN echo more\n",
            new_args: &["UNUSED=2"],
            explain: &["--build-arg", "UNUSED=2", "--old-build-arg", "UNUSED=1"],
            files: &[("f", "file\n")],
            expect: (2, 4),
            ..Pair::NONE
        },
        Pair {
            name: "a-global-arg",
            old: "ARG G=1\nFROM @BB@\nRUN echo @T@ > /t\nRUN echo two\n",
            new: "ARG G=1\nFROM @BB@\nRUN echo @T@ > /t\nRUN echo two\n",
            new_args: &["G=2"],
            explain: &["--build-arg", "G=2", "--old-build-arg", "G=1"],
            expect: (2, 2),
            ..Pair::NONE
        },
        Pair {
            name: "a-arg-inherited",
            old: "FROM @BB@ AS base\nRUN echo @T@ base > /t\nARG LATE=1\nFROM base\nRUN echo child\n",
            new: "FROM @BB@ AS base\nRUN echo @T@ base > /t\nARG LATE=1\nFROM base\nRUN echo child\n",
            new_args: &["LATE=2"],
            explain: &["--build-arg", "LATE=2", "--old-build-arg", "LATE=1"],
            expect: (1, 2),
            ..Pair::NONE
        },
        Pair {
            name: "b-literal-mount-id",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=one-@T@,target=/c,sharing=locked ls /c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=two-@T@,target=/c,sharing=private ls /c\n",
            expect: (2, 2),
            ..Pair::NONE
        },
        Pair {
            name: "b-mount-without-id-gets-sharing",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,target=/c ls /c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,target=/c,sharing=locked ls /c\n",
            expect: (1, 2),
            ..Pair::NONE
        },
        Pair {
            name: "c-env-value-and-order",
            old: "FROM @BB@\nRUN echo @T@ > /t\nENV A=1\nENV B=2\nCOPY f /f\nRUN echo $A $B\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nENV B=2\nENV A=1\nCOPY f /f\nRUN echo $A $B\n",
            files: &[("f", "file\n")],
            expect: (2, 3),
            ..Pair::NONE
        },
        Pair {
            name: "c-metadata-only",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo work\n",
            new: "FROM @BB@\nLABEL x=y\nEXPOSE 80\nRUN echo @T@ > /t\nRUN echo work\nENV LATE=1\nCMD [\"sh\"]\n",
            expect: (2, 2),
            ..Pair::NONE
        },
        Pair {
            name: "d-copied-stage-writes-other-bytes",
            old: "FROM @BB@ AS s\nARG V=1\nRUN echo @T@ $V > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            new: "FROM @BB@ AS s\nARG V=1\nRUN echo @T@ $V > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            new_args: &["V=2"],
            explain: &["--build-arg", "V=2", "--old-build-arg", "V=1"],
            expect: (1, 4),
            ..Pair::NONE
        },
        Pair {
            name: "d-reproducible-stage",
            old: "FROM @BB@ AS s\nARG UNUSED=1\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            new: "FROM @BB@ AS s\nARG UNUSED=1\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            new_args: &["UNUSED=2"],
            explain: &["--build-arg", "UNUSED=2", "--old-build-arg", "UNUSED=1", "--same-output", "s"],
            expect: (3, 4),
            ..Pair::NONE
        },
        Pair {
            name: "e-linked-copy-after-a-change",
            old: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ one > /t\nCOPY --link --from=s /out /out\nRUN cat /out\n",
            new: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ two > /t\nCOPY --link --from=s /out /out\nRUN cat /out\n",
            expect: (1, 4),
            linked: Some(2),
            ..Pair::NONE
        },
        Pair {
            name: "e-builder-on-another-base",
            old: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --link --from=s /out /out\n",
            new: "FROM debian:bookworm AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --link --from=s /out /out\n",
            explain: &["--same-output", "s"],
            expect: (2, 3),
            ..Pair::NONE
        },
        Pair {
            name: "f-unused-stage",
            old: "FROM @BB@ AS unused\nRUN echo @T@ old\nFROM @BB@ AS t\nRUN echo @T@ t > /t\nFROM @BB@ AS later\nRUN echo @T@ x\n",
            new: "FROM @BB@ AS unused\nRUN echo @T@ new\nFROM @BB@ AS t\nRUN echo @T@ t > /t\nFROM @BB@ AS later\nRUN echo @T@ y\n",
            explain: &["--target", "t"],
            expect: (1, 1),
            ..Pair::NONE
        },
        Pair {
            name: "h-swapped-runs",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo a\nRUN echo b\nRUN echo c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo b\nRUN echo a\nRUN echo c\n",
            expect: (1, 4),
            ..Pair::NONE
        },
        Pair {
            name: "heredoc-body",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN <<EOF\necho one\nEOF\nCOPY <<EOF /etc/greeting\nhello\nEOF\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN <<EOF\necho two\nEOF\nCOPY <<EOF /etc/greeting\nhello\nEOF\n",
            expect: (1, 3),
            ..Pair::NONE
        },
        Pair {
            name: "context-file-changed",
            old: "FROM @BB@\nRUN echo @T@ > /t\nCOPY a /a\nCOPY b /b\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nCOPY a /a\nCOPY b /b\n",
            explain: &["--changed", "b"],
            files: &[("a", "same\n"), ("b", "@T@\n")],
            expect: (2, 3),
            ..Pair::NONE
        },
        Pair {
            name: "workdir-and-external-image",
            old: "FROM @BB@\nRUN echo @T@ > /t\nWORKDIR /w\nCOPY --from=@BB@ /bin/busybox /bb\nRUN ls\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nWORKDIR /v\nCOPY --from=@BB@ /bin/busybox /bb\nRUN ls\n",
            expect: (1, 3),
            ..Pair::NONE
        },
        Pair {
            name: "shell-and-exec-form",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo x > /x\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN [\"/bin/sh\", \"-c\", \"echo x > /x\"]\n",
            expect: (2, 2),
            ..Pair::NONE
        },
        Pair {
            name: "g-identical-stages-one-vertex",
            old: "FROM @BB@ AS x\nRUN echo @T@ > /a\nFROM @BB@ AS y\nCOPY --from=x /a /a\n",
            new: "FROM @BB@ AS x\nRUN echo @T@ > /a\nFROM @BB@ AS z\nRUN echo @T@ > /a\nFROM @BB@ AS y\nCOPY --from=z /a /a\nCOPY --from=x /a /b\n",
            expect: (2, 3),
            ..Pair::NONE
        },
        Pair {
            name: "from-two-tags-of-one-image",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo two\n",
            new: "FROM quarry-test/bb-alias:@T@\nRUN echo @T@ > /t\nRUN echo two\n",
            expect: (2, 2),
            images: &[("quarry-test/bb-alias:@T@", "tag:@BB@")],
            ..Pair::NONE
        },
        Pair {
            name: "copy-from-an-image-same-bytes",
            old: "FROM @BB@\nRUN echo @T@ > /t\nCOPY --from=@BB@ /bin/busybox /bb\nRUN ls /bb\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nCOPY --from=quarry-test/bb-extra:@T@ /bin/busybox /bb\nRUN ls /bb\n",
            explain: &["--same-output", "quarry-test/bb-extra:@T@"],
            expect: (3, 3),
            images: &[("quarry-test/bb-extra:@T@", "FROM @BB@\nRUN echo @T@ > /extra\n")],
            ..Pair::NONE
        },
        Pair {
            name: "linked-copies-merged-after-a-change",
            old: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ one > /t\nCOPY --link --from=s /out /out\nCOPY --link --from=s /out /out2\n",
            new: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ two > /t\nCOPY --link --from=s /out /out\nCOPY --link --from=s /out /out2\n",
            expect: (1, 4),
            linked: Some(3),
            ..Pair::NONE
        },
    ]
}
