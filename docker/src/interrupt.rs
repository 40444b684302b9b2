//! Ctrl-C during a build: quarry stays alive to say what happened, and makes sure the `docker`
//! child stops too (in a terminal it gets the signal itself; sent to quarry alone, it is
//! forwarded).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static HAPPENED: AtomicBool = AtomicBool::new(false);
static CHILD: AtomicU32 = AtomicU32::new(0);

/// The build was interrupted.
#[derive(Debug, thiserror::Error)]
#[error("the build was interrupted")]
pub struct Interrupted {
    /// The kept build context.
    pub context: PathBuf,
}

impl quarry_core::Hint for Interrupted {
    fn hint(&self) -> Option<String> {
        Some(format!("the build context is kept at `{}`", self.context.display()))
    }
}

/// Installs the handler (once per process).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            HAPPENED.store(true, Ordering::SeqCst);
            let pid = CHILD.load(Ordering::SeqCst);
            if pid != 0 {
                let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
            }
        });
    });
}

/// Records the child to forward an interrupt to (0: none).
pub fn watch(pid: u32) {
    CHILD.store(pid, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed.
pub fn happened() -> bool {
    HAPPENED.load(Ordering::SeqCst)
}
