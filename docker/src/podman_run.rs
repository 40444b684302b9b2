//! `podman run`'s conventions, applied to the `docker run` options quarry composes: the host
//! user mapped with `--userns=keep-id` (rootless), SELinux labels on bind mounts (`:z`, or
//! label separation off where a mount must keep its host label), NVIDIA GPUs through CDI
//! (`--device nvidia.com/gpu=all`) instead of Docker's `--gpus` and `nvidia` runtime.

use crate::{Message, Say};

/// What the host and the engine are, for [`adapt`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunHost {
    /// Podman runs rootless.
    pub rootless: bool,
    /// The host enforces SELinux (`/sys/fs/selinux/enforce` is `1`).
    pub selinux: bool,
    /// The image has the host user (an extension sets the image's user to one made from the
    /// host's uid): rootless, `--userns=keep-id` maps the host user to the same uid inside, so
    /// files written to mounted folders are the user's on the host.
    pub host_user: bool,
}

/// Whether the host enforces SELinux.
pub fn selinux_enforcing() -> bool {
    std::fs::read_to_string("/sys/fs/selinux/enforce").is_ok_and(|s| s.trim() == "1")
}

/// Whether a CDI specification of NVIDIA's GPUs is installed (`nvidia-ctk cdi generate` writes
/// `/etc/cdi/nvidia.yaml`; `/var/run/cdi` holds generated ones): what `--device
/// nvidia.com/gpu=...` needs.
pub fn has_cdi_gpus() -> bool {
    ["/etc/cdi", "/var/run/cdi"].iter().any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let path = e.path();
                let spec = path.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json");
                spec && std::fs::read_to_string(&path).is_ok_and(|t| t.contains("nvidia.com/gpu"))
            })
        })
    })
}

/// Host paths a relabel must never touch (their label is the host's: devices, sockets of the
/// X server, system files): mounting one under SELinux turns label separation off instead.
const KEEP_LABEL: &[&str] = &["/dev", "/proc", "/sys", "/run", "/var/run", "/tmp/.X11-unix", "/etc", "/usr"];

fn keeps_label(host: &str) -> bool {
    KEEP_LABEL.iter().any(|p| host == *p || host.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// `docker run` options (between `run` and the image) as Podman takes them (see the module
/// documentation); what changed is said through `say`.
pub fn adapt(options: &[String], host: &RunHost, say: Say) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut gpus: Vec<String> = Vec::new();
    let mut volumes: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < options.len() {
        let a = &options[i];
        // A flag with its value as the next word, or after `=`.
        let value = |flag: &str| -> Option<(String, usize)> {
            if a == flag {
                options.get(i + 1).map(|v| (v.clone(), 2))
            } else {
                a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')).map(|v| (v.to_owned(), 1))
            }
        };
        if let Some((spec, n)) = value("--gpus") {
            gpus.extend(cdi_devices(&spec));
            i += n;
            continue;
        }
        if let Some((runtime, n)) = value("--runtime")
            && runtime == "nvidia"
        {
            gpus.push("nvidia.com/gpu=all".into());
            i += n;
            continue;
        }
        if let Some((spec, n)) = value("--volume").or_else(|| value("-v")) {
            volumes.push(out.len() + 1);
            out.extend(["--volume".into(), spec]);
            i += n;
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    if !gpus.is_empty() {
        gpus.dedup();
        say(Message::Detail(format!(
            "Podman: GPUs through CDI ({}) instead of Docker's `--gpus`/`--runtime=nvidia`",
            gpus.join(", ")
        )));
        for g in gpus {
            out.extend(["--device".into(), g]);
        }
    }
    if host.selinux && !volumes.is_empty() {
        let binds: Vec<usize> = volumes.into_iter().filter(|&v| out[v].starts_with('/')).collect();
        let system = binds.iter().find(|&&v| keeps_label(out[v].split(':').next().unwrap_or_default()));
        match system {
            Some(&v) => {
                say(Message::Note(format!(
                    "SELinux enforces: `{}` keeps its host label, so the container runs with label separation off \
                     (`--security-opt label=disable`) instead of relabelling its mounts",
                    out[v].split(':').next().unwrap_or_default()
                )));
                out.push("--security-opt=label=disable".into());
            }
            None => {
                for v in binds {
                    out[v] = with_relabel(&out[v]);
                }
            }
        }
    }
    if host.rootless && host.host_user && !out.iter().any(|a| a.starts_with("--userns")) {
        out.push("--userns=keep-id".into());
    }
    out
}

/// `src:dst` -> `src:dst:z`; `src:dst:ro` -> `src:dst:ro,z`; a spec with a label option is left.
fn with_relabel(spec: &str) -> String {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [_, _] => format!("{spec}:z"),
        [_, _, opts] if opts.split(',').any(|o| o == "z" || o == "Z") => spec.to_owned(),
        [_, _, _] => format!("{spec},z"),
        _ => spec.to_owned(),
    }
}

/// Docker's `--gpus` value as CDI device names: `all` (or a count, which CDI cannot say: all)
/// -> `nvidia.com/gpu=all`; `device=0,1` or `"device=0,1"` -> one per device.
fn cdi_devices(spec: &str) -> Vec<String> {
    let spec = spec.trim_matches('"');
    let devices = spec.split(',').find_map(|kv| kv.strip_prefix("device="));
    match devices {
        Some(first) => {
            let rest = spec.split_once("device=").map(|(_, r)| r).unwrap_or(first);
            rest.split(',')
                .take_while(|d| !d.contains('='))
                .filter(|d| !d.is_empty())
                .map(|d| format!("nvidia.com/gpu={d}"))
                .collect()
        }
        None => vec!["nvidia.com/gpu=all".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| (*w).to_owned()).collect()
    }

    fn quiet(_: Message) {}

    #[test]
    fn gpus_go_through_cdi() {
        let host = RunHost::default();
        assert_eq!(adapt(&words(&["--gpus=all"]), &host, &quiet), words(&["--device", "nvidia.com/gpu=all"]));
        assert_eq!(
            adapt(&words(&["--gpus", "2"]), &host, &quiet),
            words(&["--device", "nvidia.com/gpu=all"])
        );
        assert_eq!(
            adapt(&words(&["--gpus", "\"device=0,1\""]), &host, &quiet),
            words(&["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1"])
        );
        assert_eq!(
            adapt(&words(&["--runtime=nvidia", "--env", "A=1"]), &host, &quiet),
            words(&["--env", "A=1", "--device", "nvidia.com/gpu=all"])
        );
        assert_eq!(adapt(&words(&["--runtime=runc"]), &host, &quiet), words(&["--runtime=runc"]));
    }

    #[test]
    fn selinux_relabels_the_users_mounts_and_keeps_system_labels() {
        let host = RunHost { selinux: true, ..RunHost::default() };
        assert_eq!(
            adapt(
                &words(&["--volume", "/home/u/ws:/ws", "-v=/data:/data:ro", "--volume", "named:/x"]),
                &host,
                &quiet
            ),
            words(&["--volume", "/home/u/ws:/ws:z", "--volume", "/data:/data:ro,z", "--volume", "named:/x"])
        );
        assert_eq!(
            adapt(
                &words(&["--volume", "/tmp/.X11-unix:/tmp/.X11-unix:rw", "--volume", "/home/u:/home/u"]),
                &host,
                &quiet
            ),
            words(&[
                "--volume",
                "/tmp/.X11-unix:/tmp/.X11-unix:rw",
                "--volume",
                "/home/u:/home/u",
                "--security-opt=label=disable"
            ])
        );
        // Without SELinux nothing changes.
        let plain = RunHost::default();
        assert_eq!(adapt(&words(&["--volume", "/a:/a"]), &plain, &quiet), words(&["--volume", "/a:/a"]));
        assert_eq!(with_relabel("/a:/a:Z"), "/a:/a:Z");
    }

    #[test]
    fn the_host_user_is_kept_rootless_only() {
        let rootless = RunHost { rootless: true, host_user: true, ..RunHost::default() };
        assert_eq!(adapt(&[], &rootless, &quiet), words(&["--userns=keep-id"]));
        assert_eq!(adapt(&words(&["--userns=host"]), &rootless, &quiet), words(&["--userns=host"]));
        let rootful = RunHost { host_user: true, ..RunHost::default() };
        assert!(adapt(&[], &rootful, &quiet).is_empty());
        assert!(keeps_label("/dev/dri") && !keeps_label("/devices") && keeps_label("/etc/localtime"));
    }
}
