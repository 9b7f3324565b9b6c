//! `describe <target>`: everything about the target's instances, with their group's
//! strategy, intensity and recent restarts for members of a group.

use actix::prelude::*;

use crate::app::Describe;
use crate::group::{GroupInfo, GroupSup};
use crate::root::{fail, internal, to_json, Answer, Root};

impl Root {
    /// The target's descriptions, one per instance.
    pub(in crate::root) fn describe(&mut self, target: &str) -> Answer {
        let sel = match self.reg.resolve(target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let requests: Vec<_> = sel
            .into_iter()
            .map(|(i, instances)| self.reg.apps()[i].handle.send(Describe { instances }))
            .collect();
        let groups: Vec<(String, Addr<GroupSup>)> = self
            .reg
            .groups()
            .iter()
            .map(|g| (g.name.clone(), g.handle.clone()))
            .collect();
        Box::pin(
            async move {
                let mut out = Vec::new();
                for r in requests {
                    out.append(&mut r.await.map_err(internal)?);
                }
                // A member's group: its strategy, intensity and recent restarts.
                for d in &mut out {
                    let Some(name) = d.info.group.clone() else {
                        continue;
                    };
                    let Some((_, addr)) = groups.iter().find(|(g, _)| *g == name) else {
                        continue;
                    };
                    if let Ok(state) = addr.send(GroupInfo).await {
                        d.group_strategy = Some(state.strategy);
                        d.group_intensity = Some(state.intensity);
                        d.group_restarts = Some(state.recent_restarts as u64);
                    }
                }
                to_json(&out)
            }
            .into_actor(self),
        )
    }
}
