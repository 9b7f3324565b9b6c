//! Pure supervision policy: PM2's restart rules and OTP's strategies and intensity, with
//! no actix, no clocks and no I/O. Every function takes the time (`now_ms`, `uptime_ms`)
//! as a parameter, as OTP's `add_restart(Restarts, Now, Period)` does, so the rules are
//! tested as tables. The actors (`app.rs`, later `group.rs`) are the thin shell that
//! feeds them exits and turns their verdicts into messages.

pub mod backoff;
pub mod decide;
pub mod health;
pub mod instance;
pub mod intensity;
pub mod policy;
pub mod strategy;
