//! The dev container of a project (`quarry up`, `enter`, `stop`, `down`, `ps`): one long-lived
//! container per project folder (so per worktree), found again by its name and its labels, which
//! say the folder, the worktree, the image it runs and a hash of its run-time settings, so that
//! all of this survives a restart of the engine and of the host.

use std::path::Path;
use std::process::Command;

use quarry_buildkit::hash::fnv1a;

/// Label: the project folder (canonical).
pub const LABEL_PROJECT: &str = "org.quarry.project";
/// Label: the worktree's root (git's top level), or the project folder outside git.
pub const LABEL_WORKTREE: &str = "org.quarry.worktree";
/// Label: the image's tag.
pub const LABEL_IMAGE: &str = "org.quarry.image";
/// Label: a hash of the `docker run` settings the container was made with.
pub const LABEL_RUN: &str = "org.quarry.run";

/// What keeps the container running between sessions (as rockerc keeps its containers).
pub const KEEP_ALIVE: &[&str] = &["tail", "-f", "/dev/null"];

/// The container of the project in `folder`: `quarry-<folder name>-<hash of its path>`, so two
/// checkouts of one repository (two worktrees) get two containers.
pub fn name_of(folder: &Path) -> String {
    let base: String = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let base = base.trim_matches(['-', '.']);
    let base: String = base.chars().take(40).collect();
    let hash = fnv1a(folder.to_string_lossy().as_bytes());
    if base.is_empty() {
        format!("quarry-{:08x}", hash as u32)
    } else {
        format!("quarry-{base}-{:08x}", hash as u32)
    }
}

/// rockerc's name for the container of `folder`: the folder's name, lowercase, with what a
/// container name cannot hold as `-` (empty when nothing is left).
pub fn rockerc_name(folder: &Path) -> String {
    let name: String = folder
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '-' })
        .collect();
    name.trim_start_matches(['-', '.', '_']).to_owned()
}

/// The hash of a container's run settings: the `docker run` arguments between `run` and the
/// image (mounts, devices, GPUs, env, ports, network, user), so a change to any of them is seen.
pub fn run_hash(args_before_image: &[String]) -> String {
    let mut bytes = Vec::new();
    for a in args_before_image {
        bytes.extend_from_slice(&(a.len() as u64).to_le_bytes());
        bytes.extend_from_slice(a.as_bytes());
    }
    format!("{:016x}", fnv1a(&bytes))
}

/// A project container as the engine has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it runs.
    pub running: bool,
    /// Its status as `docker ps` shows it.
    pub status: String,
    /// The image tag it was made from (its label).
    pub image: String,
    /// The id of the image it runs.
    pub image_id: String,
    /// The render and base-image digests of its image (`crate::current`'s labels, which the
    /// container carries from its image).
    pub render: (String, String),
    /// The hash of its run settings (its label).
    pub run: String,
    /// The project folder (its label).
    pub project: String,
    /// The worktree (its label).
    pub worktree: String,
}

/// The container named `name`, when the engine has one.
pub fn find(docker: &str, name: &str) -> Option<Existing> {
    if let Some(api) = crate::api::Api::for_program(docker)
        && let Some((status, body)) = api.get(&format!("/containers/{}/json", crate::api::escape(name)))
    {
        return (status == 200).then(|| parse_inspect(&String::from_utf8_lossy(&body))).flatten();
    }
    let out = Command::new(docker)
        .args(["container", "inspect", "--format", "{{json .}}", "--", name])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    parse_inspect(&String::from_utf8_lossy(&out.stdout))
}

fn parse_inspect(json: &str) -> Option<Existing> {
    let v = crate::engine::first_of_array(serde_json::from_str(json.trim()).ok()?);
    let label = |k: &str| v["Config"]["Labels"][k].as_str().unwrap_or_default().to_owned();
    Some(Existing {
        id: v["Id"].as_str()?.to_owned(),
        name: v["Name"].as_str().unwrap_or_default().trim_start_matches('/').to_owned(),
        running: v["State"]["Running"].as_bool().unwrap_or(false),
        status: v["State"]["Status"].as_str().unwrap_or_default().to_owned(),
        image: label(LABEL_IMAGE),
        image_id: v["Image"].as_str().unwrap_or_default().to_owned(),
        render: (label(crate::current::RENDER_LABEL), label(crate::current::BASES_LABEL)),
        run: label(LABEL_RUN),
        project: label(LABEL_PROJECT),
        worktree: label(LABEL_WORKTREE),
    })
}

/// The id of the image `tag`, when the engine has it.
pub fn image_id(docker: &str, tag: &str) -> Option<String> {
    let v = crate::engine::inspect_image(docker, tag)?;
    v["Id"].as_str().map(str::to_owned).filter(|id| !id.is_empty())
}

/// Whether `args` (`docker run`'s) mount `folder` or a folder above it.
pub fn mounts(args: &[String], folder: &Path) -> bool {
    let specs = args
        .iter()
        .zip(args.iter().skip(1))
        .filter_map(|(flag, value)| matches!(flag.as_str(), "--volume" | "-v").then_some(value.as_str()));
    let inline = args.iter().filter_map(|a| a.strip_prefix("--volume="));
    specs.chain(inline).any(|spec| {
        let source = spec.split(':').next().unwrap_or_default();
        source.starts_with('/') && folder.starts_with(source)
    })
}

/// Every container quarry made for `project` (a folder), or for every project.
pub fn list(docker: &str, project: Option<&Path>) -> Vec<Existing> {
    let filter = match project {
        Some(p) => format!("{LABEL_PROJECT}={}", p.display()),
        None => LABEL_PROJECT.to_owned(),
    };
    if let Some(api) = crate::api::Api::for_program(docker) {
        let filters = serde_json::json!({ "label": [filter] }).to_string();
        let path = format!("/containers/json?all=1&filters={}", crate::api::escape_query(&filters));
        if let Some(listed) = api.json(&path) {
            let ids: Vec<&str> =
                listed.as_array().into_iter().flatten().filter_map(|c| c["Id"].as_str()).collect();
            let mut found: Vec<Existing> = ids.iter().filter_map(|id| find(docker, id)).collect();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            return found;
        }
    }
    let mut command = Command::new(docker);
    command.args(["ps", "--all", "--quiet", "--no-trunc", "--filter"]);
    match project {
        Some(p) => command.arg(format!("label={LABEL_PROJECT}={}", p.display())),
        None => command.arg(format!("label={LABEL_PROJECT}")),
    };
    let Ok(out) = command.output() else { return Vec::new() };
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    let mut found: Vec<Existing> = ids.iter().filter_map(|id| find(docker, id)).collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The sessions open in a running container: its processes but the keep-alive and the ones
/// started by it (`docker top`).
pub fn sessions(docker: &str, name: &str) -> usize {
    let Ok(out) = Command::new(docker).args(["top", name, "-o", "pid,ppid,args"]).output() else { return 0 };
    if !out.status.success() {
        return 0;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<(String, String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.to_owned(), w.collect::<Vec<_>>().join(" ")))
        })
        .collect();
    // The oldest process is the container's own (the keep-alive); a session is a process whose
    // parent is not in the container (docker exec starts it from outside).
    let pids: Vec<&str> = rows.iter().map(|(p, _, _)| p.as_str()).collect();
    rows.iter().skip(1).filter(|(_, ppid, _)| !pids.contains(&ppid.as_str())).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_folder_and_valid() {
        let a = name_of(Path::new("/home/me/robot_ws"));
        let b = name_of(Path::new("/home/me/wt/robot_ws"));
        assert!(a.starts_with("quarry-robot-ws-") && a != b, "{a} {b}");
        assert_eq!(a, name_of(Path::new("/home/me/robot_ws")));
        assert!(name_of(Path::new("/")).starts_with("quarry-"));
        assert!(name_of(Path::new("/x/repo@main")).starts_with("quarry-repo-main-"));
    }

    #[test]
    fn inspect_is_read() {
        let json = r#"{"Id":"abc","Image":"sha256:1","Name":"/quarry-x-1","State":{"Running":true,"Status":"running"},"Config":{"Labels":{"org.quarry.image":"quarry/x:1","org.quarry.run":"r","org.quarry.project":"/p","org.quarry.worktree":"/w"}}}"#;
        let e = parse_inspect(json).unwrap();
        assert_eq!(
            (e.name.as_str(), e.running, e.image.as_str(), e.run.as_str()),
            ("quarry-x-1", true, "quarry/x:1", "r")
        );
        assert_eq!(e.image_id, "sha256:1");
        assert!(parse_inspect("[]").is_none());
    }

    #[test]
    fn mounts_of_a_folder_or_above_it_are_seen() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let ws = Path::new("/home/me/ws");
        assert!(mounts(&args(&["run", "--volume", "/home/me/ws:/ws"]), ws));
        assert!(mounts(&args(&["run", "-v", "/home/me:/home/me:rw"]), ws));
        assert!(mounts(&args(&["run", "--volume=/home/me/ws:/x"]), ws));
        assert!(!mounts(&args(&["run", "--volume", "/home/me/wsx:/x"]), ws));
        assert!(!mounts(&args(&["run", "--volume", "/home/me/ws/src:/x"]), ws));
        assert!(!mounts(&args(&["run", "--env", "/home/me/ws:/x"]), ws));
    }
}
