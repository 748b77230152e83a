//! The wall clock, as a seam: scheduled reports are due at a time of day, and a test
//! cannot wait until 09:00 tomorrow. Production reads the system clock; tests set the
//! time they need (`Config::clock`).

use std::fmt;
use std::sync::Arc;

/// What time it is. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>);

impl Clock {
    /// A clock that reads `now` (a test's hand-moved time).
    pub fn new(now: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> jiff::Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    /// The system clock.
    fn default() -> Clock {
        Clock::new(jiff::Timestamp::now)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
