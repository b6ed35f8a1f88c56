//! The engine on live change streams from mongosim, through the real driver.

mod harness;

mod large;

mod clock;
mod delivery;
mod effects;
mod faults;
mod instances;
mod policies;
mod snapshots;
mod stops;
mod streams;
mod takeover;
mod timers;
mod views;
