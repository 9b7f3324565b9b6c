//! What the Root's unit tests build their data from.

use std::path::PathBuf;

use crate::protocol::AppSpec;
use crate::root::registry::GroupDecl;

/// A spec named `name` running `/srv/run.sh` with `n` instances, every other field at
/// its default: the one place the tests build a wire app.
pub(crate) fn spec(name: &str, n: u32) -> AppSpec {
    let mut app = pmx_config::App::new(
        name.to_string(),
        "run.sh".to_string(),
        PathBuf::from("/srv"),
    );
    app.instances = pmx_config::Instances::Count(n);
    AppSpec {
        app: app.into(),
        program: PathBuf::from("/srv/run.sh"),
        args: vec!["/srv/run.sh".to_string()],
        cwd: PathBuf::from("/srv"),
        env: Default::default(),
        source: None,
        env_name: None,
    }
}

/// A group declaration over `apps`, default strategy and intensity.
pub(crate) fn group(name: &str, apps: &[&str]) -> GroupDecl {
    GroupDecl {
        name: name.to_string(),
        strategy: Default::default(),
        intensity: Default::default(),
        apps: apps.iter().map(|m| m.to_string()).collect(),
    }
}
