//! `describe <target>`: everything about the target's instances, with their group's
//! strategy, intensity and recent restarts for members of a group.

use actix::prelude::*;

use crate::app::Describe;
use crate::group::{GroupInfo, GroupSup};
use crate::root::{answered, fail, gone, to_json, Answer, Root};

/// How long `describe` waits for a group's recent restarts: a group answers at once
/// unless it is running a sequence (a start in readiness order can last `listen_timeout`).
const GROUP_INFO_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

impl Root {
    /// The target's descriptions, one per instance.
    /// With `env`, each description carries the instance's whole environment.
    pub(in crate::root) fn describe(&mut self, target: &str, env: bool) -> Answer {
        let sel = match self.reg.resolve(target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let requests: Vec<_> = sel
            .into_iter()
            .map(|(i, instances)| self.reg.apps()[i].handle.send(Describe { instances, env }))
            .collect();
        // (name, supervisor, strategy, intensity): the declared figures from the registry,
        // so a group busy with a sequence (a start waiting for a member's readiness, which
        // runs atomically) never holds `describe` up; only its recent restarts are asked.
        let groups: Vec<(String, Addr<GroupSup>, String, String)> = self
            .reg
            .groups()
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    g.handle.clone(),
                    format!("{:?}", g.spec.strategy),
                    format!(
                        "max {} within {} ms",
                        g.spec.intensity.max, g.spec.intensity.within_ms
                    ),
                )
            })
            .collect();
        let look = self
            .parts
            .metrics
            .send(crate::metrics::Look { history: true });
        let asked = requests.len();
        let target = target.to_string();
        Box::pin(
            async move {
                // An app deleted meanwhile is left out; all of them: `not_found`.
                let mut out = Vec::new();
                let mut reached = 0;
                for r in requests {
                    if let Some(mut v) = answered(r.await) {
                        reached += 1;
                        out.append(&mut v);
                    }
                }
                if reached == 0 && asked > 0 {
                    return Err(gone(&target));
                }
                // The figures and the last minute of each running instance's tree.
                if let Ok(snap) = look.await {
                    for d in &mut out {
                        if let Some(f) = d.info.pid.and_then(|p| snap.trees.get(&p)) {
                            d.info.cpu = f.cpu.map(|c| (c * 10.0).round() / 10.0);
                            d.info.memory = f.memory;
                            d.history = f.history.clone();
                        }
                    }
                }
                // A member's group: its strategy, intensity and recent restarts.
                for d in &mut out {
                    let Some(name) = d.info.group.clone() else {
                        continue;
                    };
                    let Some((_, addr, strategy, intensity)) =
                        groups.iter().find(|(g, ..)| *g == name)
                    else {
                        continue;
                    };
                    d.group_strategy = Some(strategy.clone());
                    d.group_intensity = Some(intensity.clone());
                    // Unknown (absent) while the group runs a sequence.
                    if let Ok(state) = addr.send(GroupInfo).timeout(GROUP_INFO_WAIT).await {
                        d.group_restarts = Some(state.recent_restarts as u64);
                    }
                }
                to_json(&out)
            }
            .into_actor(self),
        )
    }
}
