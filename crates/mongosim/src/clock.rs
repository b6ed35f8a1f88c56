//! Cluster time: `Timestamp(seconds, increment)`, strictly increasing.

use bson::{DateTime, Timestamp};

/// Hands out operation times the way a primary does: wall-clock seconds,
/// with an increment that counts operations within the same second.
#[derive(Debug)]
pub struct Clock {
    last: Timestamp,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            last: Timestamp {
                time: 0,
                increment: 0,
            },
        }
    }
}

impl Clock {
    /// The next operation time and its wall time.
    pub fn tick(&mut self) -> (Timestamp, DateTime) {
        let now = DateTime::now();
        let seconds = u32::try_from(now.timestamp_millis() / 1000).unwrap_or(u32::MAX);
        self.last = if seconds > self.last.time {
            Timestamp {
                time: seconds,
                increment: 1,
            }
        } else {
            Timestamp {
                time: self.last.time,
                increment: self.last.increment + 1,
            }
        };
        (self.last, now)
    }

    /// The latest time handed out (the cluster time).
    pub fn now(&self) -> Timestamp {
        if self.last.time == 0 {
            let seconds =
                u32::try_from(DateTime::now().timestamp_millis() / 1000).unwrap_or(u32::MAX);
            return Timestamp {
                time: seconds,
                increment: 0,
            };
        }
        self.last
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_strictly_increase() {
        let mut clock = super::Clock::default();
        let mut last = clock.tick().0;
        for _ in 0..1000 {
            let next = clock.tick().0;
            assert!((next.time, next.increment) > (last.time, last.increment));
            last = next;
        }
    }
}
