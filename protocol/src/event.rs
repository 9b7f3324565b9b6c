//! What a subscribed connection receives: one [`Event`] per line.

use serde::{Deserialize, Serialize};

/// An event on a subscribed connection (SPEC §8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `online`, `exit`, `restart`, `errored`, `stop`, `health`, `log`, `log_fault`,
    /// `log_recovered`, `metrics` or `lagged`.
    pub event: String,
    /// The app's name (absent for `lagged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The instance's id (absent for `lagged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// RFC 3339 time of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `exit`: the exit code, `null` when a signal ended the process (the key is there
    /// for every `exit` event, absent on other events).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub code: Option<Option<i32>>,
    /// `exit`: the signal's name, `null` when the process exited with a code.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub signal: Option<Option<String>>,
    /// `restart`, `errored`: why; `health`: the probe's detail (`HTTP 503`, `timed out
    /// after 3000 ms`); `log_fault`: the file and the error;
    /// `log_recovered`: the file and how many lines could not be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `log`: `out` or `err`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// `log`: the line, without its newline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `metrics`: the main process's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// `metrics`: percent of one core over the last second (absent before a second
    /// sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// `metrics`: resident bytes of the instance's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// `health`: the probe's new state, `pass` or `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// `health`: failures in a row so far (0 on a pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// `lagged`: how many events were dropped; `log_recovered`: how many lines could not
    /// be written while the file was faulty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// A key that is present deserializes as `Some`, even when its value is `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
