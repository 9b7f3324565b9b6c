//! The Root taking back what an earlier daemon of this home ran ([`Readopt`]): its
//! registry from the stored state (every app with its spec and the same ids, the next id,
//! the groups), then each app's processes through its App supervisor (`app::TakeBack`
//! and a `Start` of the adopted instance numbers only: nothing is spawned for an instance
//! that runs, and one that was down stays down). What it found goes to pmx.log.

use actix::prelude::*;

use crate::adopt::Found;
use crate::app::{AppParts, AppSup, Command, Op, TakeBack};
use crate::root::Root;

/// Re-adopt what the fd holder held; answered once every adopted instance is back.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Readopt(pub Found);

impl Handler<Readopt> for Root {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, Readopt(found): Readopt, ctx: &mut Context<Self>) -> Self::Result {
        let Found {
            state,
            mut procs,
            mut listen,
            mut node,
            web,
            unknown,
        } = found;
        for label in unknown {
            crate::fdstore::forget(&label);
        }
        // The service first: its socket has kept its waiting clients in its backlog.
        if let Some((setting, fd)) = web {
            let listener = std::net::TcpListener::from(fd);
            // The flag is the socket's own (shared with the holder's copy); set anyway.
            let _ = listener.set_nonblocking(true);
            self.readopt_web(setting, listener, ctx);
        }
        let Some(mut state) = state else {
            if !procs.is_empty() {
                tracing::warn!(
                    "the fd holder held {} processes' pipes but no state: not adopted",
                    procs.len()
                );
            }
            forget_procs(procs);
            return Box::pin(fut::ready(()));
        };
        let started = std::time::Instant::now();
        let (mut apps, mut adopted, mut gone) = (0, 0, 0);
        let mut waits = Vec::new();
        let shared = self.shared(ctx);
        let (next_id, groups) = (state.next_id, std::mem::take(&mut state.groups));
        for (spec, saved_ids) in state.into_apps() {
            let ids = saved_ids.clone();
            let name = spec.app.name.clone();
            if self.reg.app(&name).is_some() {
                continue;
            }
            let shared = shared.clone();
            let addr = self.reg.restore_app(spec, saved_ids, next_id, |spec, ids| {
                AppSup::new(AppParts { spec, ids, shared }).start()
            });
            apps += 1;
            let mut back = TakeBack {
                listen: listen.remove(&name).unwrap_or_default(),
                node_sockets: node.remove(&name).unwrap_or_default(),
                ..TakeBack::default()
            };
            for (n, id) in ids.iter().enumerate() {
                let Some(mut gens) = procs.remove(id) else {
                    continue;
                };
                if let Some((_, top)) = gens.pop_last() {
                    let alive = crate::os::stat_of(top.pid).is_some_and(|(_, t)| t == top.ticks);
                    if alive {
                        adopted += 1;
                    } else {
                        gone += 1;
                    }
                    back.current.push((n as u32, top));
                }
                back.drains
                    .extend(gens.into_values().map(|s| (n as u32, s)));
            }
            let numbers: Vec<u32> = back.current.iter().map(|(n, _)| *n).collect();
            addr.do_send(back);
            if !numbers.is_empty() {
                waits.push(addr.send(Command {
                    op: Op::Start,
                    instances: Some(numbers),
                    replace: None,
                    ids: None,
                }));
            }
        }
        for (g, source) in &groups {
            if self.reg.group(&g.name).is_none() {
                // Its members are adopted already: the group only directs them from now on.
                if let Some(r) = self.attach_group(g, source.as_deref(), Op::Reset, ctx) {
                    actix::spawn(async move {
                        let _ = r.await;
                    });
                }
            }
        }
        if !procs.is_empty() {
            tracing::warn!(
                "{} stored processes belong to no saved app: their pipes are closed",
                procs.len()
            );
        }
        forget_procs(procs);
        for name in listen.into_keys() {
            crate::fdstore::forget(&format!("l:{name}"));
        }
        for (label, _) in node.into_values().flatten() {
            crate::fdstore::forget(&label);
        }
        self.persist();
        Box::pin(
            async move {
                for w in waits {
                    let _ = w.await;
                }
            }
            .into_actor(self)
            .map(move |(), _, _| {
                tracing::info!(
                    "adopted {apps} apps, {adopted} processes; {gone} gone since ({} ms)",
                    started.elapsed().as_millis()
                );
            }),
        )
    }
}

/// Close what the holder held of processes nobody adopts.
fn forget_procs(
    procs: std::collections::BTreeMap<u64, std::collections::BTreeMap<u64, crate::adopt::Stored>>,
) {
    for (id, gens) in procs {
        for (generation, s) in gens {
            for stream in ["out", "err", "chan"] {
                let label = crate::adopt::label(id, generation, s.pid, s.ticks, s.restarts);
                crate::fdstore::forget(&format!("{label}:{stream}"));
            }
        }
    }
}
